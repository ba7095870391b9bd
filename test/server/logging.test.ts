// Logging (http/logging.ts): a 5xx answer names its request id, the log lines of that request carry it,
// every answer has x-request-id, and no credential or card number reaches the log.
import t from 'tap';
import { Writable } from 'node:stream';
import { logLevelFromEnv, serverLogging } from '../../src/http/logging.ts';
import { ADMIN, body, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';

function logSink(): { lines: Array<Record<string, unknown>>; stream: Writable; text: () => string } {
  const raw: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { raw.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  return {
    stream,
    get lines() { return raw.map((l) => JSON.parse(l) as Record<string, unknown>); },
    text: () => raw.join('\n'),
  };
}

t.test('a server error (5xx) names its request id; the log lines of that request carry it', async (t) => {
  const sink = logSink();
  let armed = false;
  const cloud = await startCloud(t, {
    faults: { beforeOp: () => { if (armed) throw new Error('injected storage failure'); } },
    build: { logging: { level: 'info', stream: sink.stream } },
  });
  const { tokens } = await setupStore(t, cloud.app);
  const log = await terminalLog(t, 's1', 't1');
  armed = true;
  const events = await log.append([sale()]);
  const r = await upload(cloud.app, tokens.t1!, events);
  armed = false;
  t.equal(r.status, 503);
  t.equal(r.body.error.code, 'STORAGE_FAILED');
  const id = r.body.error.requestId as string;
  t.match(id, /^[0-9a-f]{8}-[0-9a-z]+$/, 'a request id in the body');
  t.equal(r.res.headers['x-request-id'], id, 'and in the header');
  const mine = sink.lines.filter((l) => l.reqId === id);
  t.ok(mine.some((l) => l.level === 50 && l.msg === 'request failed'), 'the failure is logged at error level with that id');
  t.ok(mine.some((l) => (l.res as { statusCode?: number } | undefined)?.statusCode === 503), 'and the answer it got');
  t.ok(sink.lines.every((l) => l.name === 'cloud'), 'every line names its side');

  const ok = await upload(cloud.app, tokens.t1!, [...events, ...(await log.append([sale()]))]);
  t.equal(ok.status, 200, 'the next upload goes through');
  t.not(ok.res.headers['x-request-id'], id, 'each request has its own id');
  t.equal(ok.body.error, undefined);

  // A 4xx needs no log lookup: it says what to fix, with no request id in the body (the header still has it).
  const bad = await cloud.app.inject({ method: 'GET', url: '/v1/feed?since=x', headers: { authorization: `Bearer ${tokens.t1}` } });
  t.equal(body(bad).error.code, 'VALIDATION_FAILED');
  t.equal(body(bad).error.requestId, undefined);
  t.match(String(bad.headers['x-request-id']), /^[0-9a-f]{8}-/);

  t.notMatch(sink.text(), new RegExp(ADMIN), 'no admin token logged');
  t.notMatch(sink.text(), new RegExp(tokens.t1!), 'no terminal token logged');
  t.notMatch(sink.text(), /authorization/i, 'no header logged');
});

t.test('a path holding a card number is logged as withheld', async (t) => {
  const sink = logSink();
  const { app } = await startCloud(t, { backend: 'memory', build: { logging: { level: 'info', stream: sink.stream } } });
  const r = await app.inject({ method: 'GET', url: '/v1/feed/4111-1111-1111-1111' });
  t.equal(body(r).error.code, 'FULL_CARD_NUMBER');
  t.ok(sink.lines.some((l) => String((l.req as { url?: string } | undefined)?.url ?? '').includes('withheld')), 'the request is logged, its path withheld');
  t.notMatch(sink.text(), /4111/, 'no digit of it in the log');
});

t.test('ids are unique across servers; LOG_LEVEL is checked', async (t) => {
  const a = serverLogging('cloud', false).genReqId!;
  const b = serverLogging('cloud', false).genReqId!;
  const ids = new Set([a({} as never), a({} as never), b({} as never), b({} as never)]);
  t.equal(ids.size, 4, 'two servers never hand out the same id');
  t.equal(logLevelFromEnv('info', {}), 'info');
  t.equal(logLevelFromEnv('info', { LOG_LEVEL: 'debug' }), 'debug');
  t.throws(() => logLevelFromEnv('info', { LOG_LEVEL: 'loud' }), /LOG_LEVEL must be one of/);
});
