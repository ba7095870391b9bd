// Feed notifications are coalesced per store (stream.ts, feedNotifyMs): a burst
// of commits sends fewer notifications, in ascending order, and the last one
// always carries the final head.
import t from 'tap';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { onceWithin, waitFor, WAIT_MS } from '../helpers/wait.ts';
import { delta, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';

t.test('a burst of commits: ascending heads, no more notifications than commits, the final head arrives', async (t) => {
  const { app, storage } = await startCloud(t, { build: { feedNotifyMs: 200 } });
  const { tokens } = await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/stream`;
  const heads: number[] = [];
  let hello = false;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${tokens.t2}` } });
  t.teardown(() => ws.terminate());
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { type: string; head?: number };
    if (m.type === 'feed') heads.push(m.head!);
    if (m.type === 'hello') hello = true;
  });
  await onceWithin(ws, 'open', WAIT_MS, 'the socket to open');
  await waitFor(() => hello, { what: 'the hello' });

  const log = await terminalLog(t, 's1', 't1');
  const commits = 6;
  for (let i = 0; i < commits; i++) {
    const r = await upload(app, tokens.t1!, await log.append([sale(100, 'EUR', 'c1'), delta('c1', -100)]));
    t.equal(r.status, 200);
  }
  const final = (await storage.getCounters('s1')).feedHead;
  t.ok(final >= commits, 'every commit changed the feed');
  await waitFor(() => heads.at(-1) === final, { what: `the final head ${final} to be notified` });
  t.pass('the final head was notified');
  t.ok(heads.length <= commits, `${heads.length} notifications for ${commits} commits`);
  t.same([...heads].sort((a, b) => a - b), heads, 'ascending');
  t.equal(new Set(heads).size, heads.length, 'no head twice');
});

t.test("a stream's greeting never follows a newer exception count with its older read", async (t) => {
  const { app, storage } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app, 's1', ['t1', 't2', 't3']);
  await app.listen({ host: '127.0.0.1', port: 0 });
  // The greeting's counters read is held back (its value read before the overspend below),
  // as a slow read on a busy database would be.
  const read = storage.getCounters.bind(storage);
  let gate: (() => void) | undefined;
  let held: Promise<void> | undefined;
  storage.getCounters = async (store: string) => {
    if (held || gate !== undefined) return read(store);
    const stale = await read(store);
    held = new Promise<void>((r) => { gate = r; });
    await held;
    return stale;
  };
  const counts: number[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/stream`, { headers: { authorization: `Bearer ${tokens.t3}` } });
  t.teardown(() => ws.terminate());
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { type: string; open?: number };
    if (m.type === 'exceptions') counts.push(m.open!);
  });
  await onceWithin(ws, 'open', WAIT_MS, 'the socket to open');
  await waitFor(() => gate, { what: "the greeting's counters read" });
  // Two terminals overspend c1 (10000) while the greeting waits: one exception, pushed at once.
  const [l1, l2] = [await terminalLog(t, 's1', 't1'), await terminalLog(t, 's1', 't2')];
  t.equal((await upload(app, tokens.t1!, await l1.append([delta('c1', -8000)]))).status, 200);
  t.equal((await upload(app, tokens.t2!, await l2.append([delta('c1', -7000)]))).status, 200);
  await waitFor(() => counts.includes(1), { what: 'the exception push' });
  gate!();
  await waitFor(() => counts.length >= 2, { what: "the greeting's count" });
  t.same(counts, [1, 1], 'the greeting says 1 (what was told since its read), not the 0 it read');
  t.equal((await read('s1')).openExceptions, 1);
});
