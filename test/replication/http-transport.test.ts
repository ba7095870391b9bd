// HttpTransport against a scripted HTTP server on 127.0.0.1: every failure
// becomes a CloudError of the right kind and code; answers are validated.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encode } from '@msgpack/msgpack';
import t, { type Test } from 'tap';
import { WebSocketServer } from 'ws';
import type { CloudError } from '../../src/replication/cloud-error.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import { within, WAIT_MS } from '../helpers/wait.ts';
import { until } from './helpers/fake-time.ts';

type Script = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

async function server(t: Test, script: { current: Script }): Promise<{ url: string; srv: http.Server }> {
  const srv = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => script.current(req, res, Buffer.concat(parts)));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, srv };
}

const msgpack = (res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/msgpack', ...headers });
  res.end(Buffer.from(encode(value)));
};
const json = (res: http.ServerResponse, status: number, value: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};
const fail = (p: Promise<unknown>): Promise<CloudError> => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as CloudError);

t.test('requests carry the bearer token and msgpack; answers are validated', async (t) => {
  const script = { current: (() => {}) as Script };
  const { url } = await server(t, script);
  const tr = new HttpTransport({ baseUrl: url, token: 'tok-A', timeoutMs: 2_000 });
  let seen: Record<string, string | undefined> = {};
  script.current = (req, res) => {
    seen = { auth: req.headers.authorization, type: req.headers['content-type'], path: req.url };
    msgpack(res, 200, { ackSeq: 2, accepted: 2, duplicates: 0, quarantined: 0, conflicts: [] });
  };
  t.same(await tr.upload([new Uint8Array([1]), new Uint8Array([2])]), { ackSeq: 2, accepted: 2, duplicates: 0, quarantined: 0, conflicts: [] });
  t.same(seen, { auth: 'Bearer tok-A', type: 'application/msgpack', path: '/v1/events' });
  tr.setCredential('tok-B');
  script.current = (req, res) => {
    seen = { auth: req.headers.authorization, path: req.url };
    json(res, 200, { changes: [], cursor: 7, head: 7 });
  };
  t.same(await tr.feed(7, 100), { changes: [], cursor: 7, head: 7 }, 'a JSON answer is read too');
  t.same(seen, { auth: 'Bearer tok-B', path: '/v1/feed?since=7&limit=100' });

  script.current = (_req, res) => msgpack(res, 200, { ackSeq: -1, accepted: 0, duplicates: 0, quarantined: 0, conflicts: [], extra: 1 });
  const bad = await fail(tr.upload([new Uint8Array([1])]));
  t.match(bad, { code: 'CLOUD_BAD_RESPONSE', kind: 'retry' });
  script.current = (_req, res) => { res.writeHead(200, { 'content-type': 'application/msgpack' }); res.end(Buffer.from([0xc1])); };
  t.match(await fail(tr.syncState()), { code: 'CLOUD_BAD_RESPONSE', kind: 'retry' }, 'malformed msgpack');
});

t.test('failures are classified: retry, refusal, gap', async (t) => {
  const script = { current: (() => {}) as Script };
  const { url } = await server(t, script);
  const tr = new HttpTransport({ baseUrl: url, token: 'x', timeoutMs: 2_000 });
  const cases: Array<[string, Script, Partial<CloudError>]> = [
    ['500', (_q, r) => json(r, 500, { error: { code: 'INTERNAL_ERROR', message: 'x' } }), { kind: 'retry', code: 'INTERNAL_ERROR', httpStatus: 500 }],
    ['502 without a body', (_q, r) => { r.writeHead(502); r.end(); }, { kind: 'retry', code: 'CLOUD_UNREACHABLE', httpStatus: 502 }],
    ['429 with Retry-After', (_q, r) => msgpack(r, 429, { error: { code: 'RATE', message: 'slow down' } }, { 'retry-after': '3' }), { kind: 'retry', retryAfterMs: 3000 }],
    ['401 revoked', (_q, r) => json(r, 401, { error: { code: 'CREDENTIAL_REVOKED', message: 'revoked' } }), { kind: 'refusal', code: 'CREDENTIAL_REVOKED' }],
    ['401 unknown', (_q, r) => json(r, 401, { error: { code: 'UNAUTHORIZED', message: 'who' } }), { kind: 'refusal', code: 'UNAUTHORIZED' }],
    ['403', (_q, r) => json(r, 403, { error: { code: 'WRONG_TERMINAL', message: 'no' } }), { kind: 'refusal', code: 'WRONG_TERMINAL' }],
    ['400 unknown code', (_q, r) => json(r, 400, { error: { code: 'SOMETHING_NEW', message: 'eh' } }), { kind: 'refusal', code: 'CLOUD_REFUSED', remoteCode: 'SOMETHING_NEW' }],
    ['409 SEQ_GAP', (_q, r) => json(r, 409, { error: { code: 'SEQ_GAP', message: 'gap', details: { expectedSeq: 41 } } }), { kind: 'gap', code: 'SEQ_GAP', expectedSeq: 41 }],
    ['409 CHAIN_BROKEN', (_q, r) => json(r, 409, { error: { code: 'CHAIN_BROKEN', message: 'chain' } }), { kind: 'refusal', code: 'CHAIN_BROKEN' }],
    ['connection reset', (q) => q.socket.destroy(), { kind: 'retry', code: 'CLOUD_UNREACHABLE' }],
  ];
  for (const [name, s, want] of cases) {
    script.current = s;
    t.match(await fail(tr.upload([new Uint8Array([1])])), want, name);
  }
});

t.test('a request without an answer times out (retry); an abort is kind aborted', async (t) => {
  const script = { current: (() => {}) as Script };
  const { url } = await server(t, script);
  script.current = () => {}; // never answers
  const tr = new HttpTransport({ baseUrl: url, token: 'x', timeoutMs: 100 });
  t.match(await fail(tr.syncState()), { kind: 'retry', code: 'CLOUD_UNREACHABLE', details: { reason: 'timeout' } });
  const slow = new HttpTransport({ baseUrl: url, token: 'x', timeoutMs: 10_000 });
  const ctl = new AbortController();
  const p = fail(slow.feed(0, 10, { signal: ctl.signal }));
  setTimeout(() => ctl.abort(), 20);
  t.match(await p, { kind: 'aborted', code: 'SYNC_ABORTED' });
});

t.test('nothing listening: retryable CLOUD_UNREACHABLE', async (t) => {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const tr = new HttpTransport({ baseUrl: `http://127.0.0.1:${port}`, token: 'x', timeoutMs: 2_000 });
  t.match(await fail(tr.syncState()), { kind: 'retry', code: 'CLOUD_UNREACHABLE' });
});

t.test('stream: messages validated; 4401 close is a refusal; bad frames close the socket', async (t) => {
  const { url, srv } = await server(t, { current: () => {} });
  const wss = new WebSocketServer({ server: srv });
  t.teardown(() => wss.close());
  let mode: 'ok' | 'revoked' | 'bad' = 'ok';
  let auth: string | undefined;
  wss.on('connection', (ws, req) => {
    auth = req.headers.authorization;
    if (mode === 'revoked') ws.close(4401, 'CREDENTIAL_REVOKED');
    else if (mode === 'bad') ws.send(JSON.stringify({ type: 'feed', head: -1 }));
    else {
      ws.send(JSON.stringify({ type: 'hello', v: 1, feedHead: 3 }));
      ws.send(JSON.stringify({ type: 'exceptions', open: 1 }));
    }
  });
  const tr = new HttpTransport({ baseUrl: url, token: 'tok-S', timeoutMs: 2_000 });
  const got: unknown[] = [];
  const sub = tr.subscribe({ onMessage: (m) => got.push(m) });
  await until(() => got.length >= 2, 'two messages');
  t.same(got, [{ type: 'hello', v: 1, feedHead: 3 }, { type: 'exceptions', open: 1 }]);
  t.equal(auth, 'Bearer tok-S');
  sub.close();

  mode = 'revoked';
  const closed = await within(new Promise<{ code: number; error?: CloudError }>((resolve) => {
    tr.subscribe({ onMessage: () => {}, onClose: resolve });
  }), WAIT_MS, 'the refused stream to close');
  t.match(closed, { code: 4401, error: { kind: 'refusal', code: 'CREDENTIAL_REVOKED' } });

  mode = 'bad';
  const badClose = await within(new Promise<{ code: number; error?: CloudError }>((resolve) => {
    tr.subscribe({ onMessage: () => t.fail('an invalid frame must not be delivered'), onClose: resolve });
  }), WAIT_MS, 'the stream with a bad frame to close');
  t.match(badClose, { error: { kind: 'retry', code: 'CLOUD_BAD_RESPONSE' } });
});
