import t from 'tap';
import { Backoff, seededRandom } from '../../src/replication/backoff.ts';

t.test('exponential growth with equal jitter, replayable from a seed', async (t) => {
  const seed = 42;
  t.comment(`seed ${seed}`);
  const a = new Backoff({ initialMs: 500, maxMs: 8_000, factor: 2, jitter: 0.5 }, seededRandom(seed));
  const b = new Backoff({ initialMs: 500, maxMs: 8_000, factor: 2, jitter: 0.5 }, seededRandom(seed));
  const da = Array.from({ length: 8 }, () => a.next());
  const db = Array.from({ length: 8 }, () => b.next());
  t.same(da, db, 'same seed, same schedule');
  const caps = [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000];
  da.forEach((d, i) => {
    t.ok(d <= caps[i]! && d >= caps[i]! / 2, `delay ${i} = ${d} within [${caps[i]! / 2}, ${caps[i]}]`);
  });
  t.equal(a.attempts, 8);
  a.reset();
  t.equal(a.attempts, 0);
  t.ok(a.next() <= 500, 'reset starts over');
});

t.test('no jitter gives the exact schedule', async (t) => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 }, () => 0.99);
  t.same(Array.from({ length: 6 }, () => b.next()), [100, 200, 400, 800, 1000, 1000]);
});

t.test('never zero even with full jitter', async (t) => {
  const b = new Backoff({ initialMs: 10, jitter: 1 }, () => 0.999999);
  t.ok(b.next() >= 1);
});
