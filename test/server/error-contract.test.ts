// Every answer of every route keeps the error contract (issue 15, 1.5): the
// cloud's route table and the agent's recorded routes are walked with path
// parameters fastify refuses before routing (malformed percent-encoding,
// overlong, raw non-ASCII bytes), unknown routes with odd bytes, bad HTTP and
// unknown WebSocket paths, over real sockets. Each failure must be
// `{error:{code,message}}` with a code from src/errors.ts and its status, never 5xx.
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { routeTable } from '../../src/server/app.ts';
import { recordedRoutes } from '../../src/http/error-contract.ts';
import { smallEnvironment } from '../helpers/env.ts';
import { answerBody, contractViolation, rawRequest, requestBytes } from '../helpers/raw-http.ts';
import { ADMIN, setupStore, startCloud } from './harness.ts';

/** Path parameter values the router or the route must refuse cleanly (latin1 strings: each char is one byte). */
const HOSTILE_PARAMS = ['%ff%fe', '%c0%ae', '%', '%zz', '%00', 'a%2fb', 'x'.repeat(101), 'x'.repeat(5000), '\u00ff\u00fe', '..', '%e2%80%ae', 'hasOwnProperty', '__proto__'];
const ODD_PATHS = ['/v1/%ff', '/%c0%ae', '/v1/admin/%', '/api/%80', '/\u0080\u00ff', '/v1/feed/%ff%fe/x', `/${'a'.repeat(9000)}`, '/api/items/%c0%ae', '/v1//admin', '/?%ff=%fe'];

async function walk(t: Test, port: number, routes: Array<{ method: string; url: string }>, headers: Record<string, string>) {
  let checked = 0;
  for (const r of routes) {
    const params = r.url.match(/:\w+/g) ?? [];
    if (params.length === 0 && r.url.includes('*') === false) continue;
    for (const v of HOSTILE_PARAMS) {
      const path = r.url.replace(/:\w+/g, v).replace('*', v);
      const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : '{}';
      const res = await rawRequest(port, requestBytes(r.method, path, { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body));
      const label = `${r.method} ${JSON.stringify(path.slice(0, 60))}`;
      if (!res) {
        t.fail(`${label}: connection closed without an answer`);
        continue;
      }
      t.ok(res.status < 500, `${label}: no 5xx (${res.status})`);
      const why = contractViolation(res.status, answerBody(res));
      if (why) t.fail(`${label}: ${why}`);
      checked++;
    }
  }
  for (const p of ODD_PATHS) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await rawRequest(port, requestBytes(method, p, headers, method === 'POST' ? '{}' : undefined));
      t.ok(res, `${method} ${JSON.stringify(p.slice(0, 40))}: answered`);
      if (!res) continue;
      t.ok(res.status < 500, `${method} ${JSON.stringify(p.slice(0, 40))}: no 5xx`);
      const why = contractViolation(res.status, answerBody(res));
      if (why) t.fail(`${method} ${JSON.stringify(p.slice(0, 40))}: ${why}`);
      checked++;
    }
  }
  // The HTTP parser's refusals and unknown WebSocket paths keep the contract too.
  const raws: Array<[string, Buffer | string]> = [
    ['garbage request line', 'GARBAGE\r\n\r\n'],
    ['bad version', 'GET / HTTP/9.9\r\nhost: x\r\n\r\n'],
    ['header overflow', `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(40_000)}\r\n\r\n`],
    ['bad content-length', 'POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n'],
    ['unknown upgrade', 'GET /nowhere HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'],
  ];
  for (const [what, bytes] of raws) {
    const res = await rawRequest(port, bytes);
    t.ok(res, `${what}: answered`);
    if (!res) continue;
    t.ok(res.status >= 400 && res.status < 500, `${what}: 4xx (${res.status})`);
    const why = contractViolation(res.status, answerBody(res));
    if (why) t.fail(`${what}: ${why}`);
    checked++;
  }
  return checked;
}

t.test('cloud: every route with hostile path parameters, odd paths and bad HTTP keeps the error contract', async (t) => {
  const { app } = await startCloud(t);
  const { tokens } = await setupStore(t, app, 's1', ['t1']);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const routes = routeTable(app);
  const admin = routes.filter((r) => r.auth === 'admin');
  const terminal = routes.filter((r) => r.auth !== 'admin');
  const n = await walk(t, port, admin, { authorization: `Bearer ${ADMIN}` }) + await walk(t, port, terminal, { authorization: `Bearer ${tokens.t1}` });
  t.ok(n > 250, `${n} answers checked`);
});

t.test('agent: every route with hostile path parameters, odd paths and bad HTTP keeps the error contract', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const routes = recordedRoutes(agent.app);
  t.ok(routes.length >= 20, `${routes.length} agent routes recorded`);
  const port = (agent.app.server.address() as AddressInfo).port;
  const n = await walk(t, port, routes, {});
  t.ok(n > 100, `${n} answers checked`);
});
