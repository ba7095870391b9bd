/**
 * LevelStorage keeps the small records uploads read (store, counters,
 * high-water marks, customers, balances, vouchers) in memory as their stored
 * bytes: reads after a commit come from memory and equal what is on disk, and
 * a disk read racing a commit never leaves the old value behind.
 */
import t from 'tap';
import { LevelStorage } from '../../src/server/level-storage.ts';
import type { ValueView } from '../../src/server/storage.ts';

const view = (balance: number): ValueView => ({ balance, includes: { t1: balance }, recentDebits: [] });

t.test('reads after a commit come from memory and equal what a fresh open reads from disk', async (t) => {
  const dir = t.testdir();
  const s = await LevelStorage.open(dir);
  await s.commit([
    { kind: 'balance', store: 's', customer: 'c1', view: view(10) },
    { kind: 'highWater', store: 's', terminal: 't1', highWater: { seq: 7, hash: 'a'.repeat(64), quarantined: 1 } },
    { kind: 'customer', store: 's', customer: { id: 'c1', name: 'Ann' } },
  ]);
  const hits = s.hotHits;
  t.same(await s.getBalances('s', ['c1', 'c2']), [view(10), undefined]);
  t.same(await s.getHighWater('s', 't1'), { seq: 7, hash: 'a'.repeat(64), quarantined: 1 });
  t.equal(s.hotHits - hits, 2, 'the committed records came from memory');
  t.same(await s.getBalances('s', ['c2']), [undefined]);
  t.equal(s.hotHits - hits, 3, 'an absent record, once read, is known absent');
  await s.commit([{ kind: 'customerRemoved', store: 's', id: 'c1' }, { kind: 'balance', store: 's', customer: 'c2', view: view(3) }]);
  t.same(await s.getCustomers('s', ['c1']), [undefined]);
  t.same(await s.getBalances('s', ['c1', 'c2']), [view(10), view(3)]);
  await s.close();
  const again = await LevelStorage.open(dir);
  t.equal(again.hotHits, 0);
  t.same(await again.getBalances('s', ['c1', 'c2']), [view(10), view(3)]);
  t.same(await again.getCustomers('s', ['c1']), [undefined]);
  await again.close();
});

t.test('a disk read racing a commit does not leave the old value in memory', async (t) => {
  const dir = t.testdir();
  let s = await LevelStorage.open(dir);
  await s.commit([{ kind: 'balance', store: 's', customer: 'c', view: view(0) }]);
  for (let round = 1; round <= 40; round++) {
    // A fresh instance: nothing in memory, so the read goes to disk while the commit runs.
    await s.close();
    s = await LevelStorage.open(dir);
    const read = s.getBalances('s', ['c']);
    const write = s.commit([{ kind: 'balance', store: 's', customer: 'c', view: view(round) }]);
    const [before] = await read;
    await write;
    t.ok(before!.balance === round - 1 || before!.balance === round, `round ${round}: the read saw one of the two`);
    const [after] = await s.getBalances('s', ['c']);
    if (after!.balance !== round) t.fail(`round ${round}: read ${after!.balance} after the commit of ${round}`);
  }
  t.same(await s.getBalances('s', ['c']), [view(40)]);
  await s.close();
});
