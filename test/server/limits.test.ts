// Per-credential limits on the cloud: open /v1/stream connections are capped (1013 CLOUD_BUSY past
// the cap) and requests are rate limited (429 RATE_LIMITED with Retry-After), per credential only.
import t from 'tap';
import WebSocket from 'ws';
import { setupStore, startCloud } from './harness.ts';

function address(app: { server: { address(): unknown } }): string {
  const a = app.server.address() as { port: number };
  return `127.0.0.1:${a.port}`;
}

/** Opens a stream; resolves with 'hello' once the first message arrives, or the close code and reason. */
function openStream(host: string, token: string): Promise<{ ws: WebSocket; outcome: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('the stream neither said hello nor closed within 10 s')); }, 10_000);
    ws.once('message', () => { clearTimeout(timer); resolve({ ws, outcome: 'hello' }); });
    ws.once('close', (code, reason) => { clearTimeout(timer); resolve({ ws, outcome: `${code} ${reason.toString()}` }); });
    ws.once('error', () => {});
  });
}

t.test('streams per credential are capped; other credentials are not affected', async (t) => {
  const { app } = await startCloud(t, { build: { maxStreamsPerCredential: 2 } });
  const { tokens } = await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const host = address(app);
  const a = await openStream(host, tokens.t1!);
  const b = await openStream(host, tokens.t1!);
  t.teardown(() => { a.ws.terminate(); b.ws.terminate(); });
  t.same([a.outcome, b.outcome], ['hello', 'hello'], 'up to the cap: accepted');
  const c = await openStream(host, tokens.t1!);
  t.equal(c.outcome, '1013 CLOUD_BUSY', 'one more on the same credential: closed, try again later');
  const other = await openStream(host, tokens.t2!);
  t.teardown(() => other.ws.terminate());
  t.equal(other.outcome, 'hello', 'another terminal still connects');
  const closed = new Promise((resolve) => a.ws.once('close', resolve));
  a.ws.close();
  await closed;
  // The server sees the close a moment later; a new stream is then accepted again (bounded retries).
  let again = '';
  for (let i = 0; i < 50 && again !== 'hello'; i++) {
    const d = await openStream(host, tokens.t1!);
    again = d.outcome;
    if (again === 'hello') t.teardown(() => d.ws.terminate());
  }
  t.equal(again, 'hello', 'below the cap again: accepted');
});

t.test('requests per credential are rate limited with 429 RATE_LIMITED and Retry-After', async (t) => {
  const { app } = await startCloud(t, { build: { terminalRateLimit: { perSecond: 0.5, burst: 5 } } });
  const { tokens } = await setupStore(t, app);
  const get = (token: string) => app.inject({ method: 'GET', url: '/v1/sync-state', headers: { authorization: `Bearer ${token}` } });
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await get(tokens.t1!)).statusCode);
  t.same(statuses, [200, 200, 200, 200, 200], 'the burst passes');
  const over = await get(tokens.t1!);
  t.equal(over.statusCode, 429);
  t.equal(JSON.parse(over.payload).error.code, 'RATE_LIMITED');
  t.ok(Number(over.headers['retry-after']) >= 1, 'Retry-After is given in seconds');
  t.equal((await get(tokens.t2!)).statusCode, 200, 'another credential has its own budget');
});
