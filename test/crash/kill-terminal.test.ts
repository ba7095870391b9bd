/**
 * Real child processes, real SIGKILL (see scripts/crash-harness.ts): >= 50 kills
 * of a terminal appending sales from 16 concurrent callers; after every restart
 * every acknowledged sale is present with all its payments, seqs are contiguous,
 * the chain verifies, and the views equal a rebuild from the log.
 * Seeded: SEED=<n> replays the same kill timings.
 */
import t from 'tap';
import { seedFromEnv } from '../../src/fixtures/prng.ts';
import { runCrashCycles } from '../../scripts/crash-harness.ts';

t.test('50 kill -9 cycles lose no acknowledged sale', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  let last = { totalAcked: 0, headSeq: 0 };
  const result = await runCrashCycles({
    dir: t.testdir(), cycles: 50, seed, compareEvery: 5,
    onCycle: (r) => { last = r; },
  });
  t.comment(`${result.kills} kills, ${result.acked} acknowledged sales, log head ${last.headSeq}`);
  t.same(result.problems, [], 'no problems after any restart');
  t.equal(result.kills, 50);
  t.ok(result.acked > 50, 'sales were acknowledged between kills');
  t.ok(last.headSeq >= result.acked * 2, 'every acknowledged sale has its payments in the log');
});
