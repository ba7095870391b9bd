import t from 'tap';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventLog } from '../../src/events/event-log.ts';
import { GENESIS_HASH, sha256Hex } from '../../src/events/codec.ts';
import type { EventDraft } from '../../src/events/event-types.ts';
import { exitWithin, onceWithin, WAIT_MS } from '../helpers/wait.ts';

const delta = (n: number): EventDraft => ({ type: 'balance.delta', body: { customer: 'c1', delta: n, reason: 'adjustment' } });

t.test('appends get gapless seqs and a verifiable hash chain', async (t) => {
  const dir = t.testdir();
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  const first = await log.append([delta(1), delta(2)]);
  t.same(first.map((e) => e.seq), [1, 2]);
  t.equal(first[0]!.event.prev, GENESIS_HASH);
  t.equal(first[1]!.event.prev, first[0]!.hash);
  t.equal(first[0]!.hash, sha256Hex(first[0]!.bytes));
  // Many concurrent callers: group commit keeps order of arrival and contiguity.
  const results = await Promise.all(Array.from({ length: 500 }, (_, i) => log.append([delta(i + 10)])));
  t.same(results.map((r) => r[0]!.seq), Array.from({ length: 500 }, (_, i) => i + 3));
  t.equal(log.head.seq, 502);
  const report = await log.verify({ full: true });
  t.equal(report.ok, true);
  t.equal(report.checked, 502);
  await log.close();
  const again = await EventLog.open(dir, { store: 's1', terminal: 't1', verifyOnOpen: Infinity });
  t.equal(again.head.seq, 502);
  t.same(again.health, { state: 'ok' });
  let seen = 0;
  for await (const page of again.read(100, { pageSize: 64 })) {
    t.ok(page.length <= 64);
    seen += page.length;
  }
  t.equal(seen, 403);
  t.equal(((await again.get(502))?.event.body as { delta?: number }).delta, 509);
  t.equal(await again.get(503), undefined, 'missing key is undefined, not an error');
  await again.close();
});

t.test('group commit batches concurrent appends into fewer writes', async (t) => {
  const log = await EventLog.open(t.testdir(), { store: 's1', terminal: 't1' });
  t.teardown(() => log.close());
  let writes = 0;
  const origBatch = log.db.batch.bind(log.db);
  (log.db as unknown as { batch: () => unknown }).batch = () => { writes++; return origBatch(); };
  await Promise.all(Array.from({ length: 200 }, () => log.append([delta(5)])));
  t.ok(writes < 200, `200 appends took ${writes} batch writes`);
  t.ok(writes >= 1);
});

t.test('a refused group changes nothing and does not block its neighbours', async (t) => {
  const log = await EventLog.open(t.testdir(), { store: 's1', terminal: 't1' });
  t.teardown(() => log.close());
  const bad = { type: 'balance.delta', body: { customer: 'c1', delta: 0.5, reason: 'adjustment' } } as unknown as EventDraft;
  const results = await Promise.allSettled([
    log.append([delta(1)]),
    log.append([delta(2), bad]),
    log.append([delta(3)], { check: () => { throw Object.assign(new Error('no'), { code: 'X' }); } }),
    log.append([delta(4)]),
  ]);
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
  t.equal((results[1] as PromiseRejectedResult).reason.code, 'MONEY_NOT_INTEGER');
  t.equal(log.head.seq, 2);
  t.equal(((await log.get(2))?.event.body as { delta?: number }).delta, 4);
  t.equal((await log.verify({ full: true })).ok, true);
  await t.rejects(log.append([]), { code: 'VALIDATION_FAILED' });
});

t.test('closed log refuses with LOG_CLOSED; queued appends finish first', async (t) => {
  const log = await EventLog.open(t.testdir(), { store: 's1', terminal: 't1' });
  const pending = log.append([delta(1)]);
  const closing = log.close();
  await t.resolves(pending);
  await closing;
  await t.rejects(log.append([delta(2)]), { code: 'LOG_CLOSED' });
  await t.rejects(log.setMeta({ x: 1 }), { code: 'LOG_CLOSED' });
});

t.test('a data folder is bound to its store and terminal', async (t) => {
  const dir = t.testdir();
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  await log.close();
  await t.rejects(EventLog.open(dir, { store: 's2', terminal: 't1' }), { code: 'WRONG_STORE' });
});

t.test('a folder locked by another process is refused with LOG_LOCKED', async (t) => {
  const dir = t.testdir();
  const child = fork(fileURLToPath(new URL('./fixtures/hold-lock.ts', import.meta.url)), [dir], { execArgv: ['--import=tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await onceWithin(child, 'message', 2 * WAIT_MS, 'the child to say it holds the lock');
  await t.rejects(EventLog.open(dir, { store: 's1', terminal: 't1' }), { code: 'LOG_LOCKED' });
  child.kill('SIGKILL');
  await exitWithin(child, WAIT_MS, 'the killed lock holder to exit');
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  t.equal(log.head.seq, 1, 'the other process appended one event before it was killed');
  await log.close();
});

t.test('meta entries are written through the writer and read back', async (t) => {
  const dir = t.testdir();
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  await log.setMeta({ ackSeq: 7, localMode: { until: 123 } });
  t.equal(await log.readMeta('ackSeq'), 7);
  await log.close();
  const again = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  t.same(await again.readMeta('localMode'), { until: 123 });
  t.equal(await again.readMeta('nothing'), undefined);
  await again.close();
});
