// The seeded request fuzzer, short run (issue 15, section 4): 2,000 requests over
// every cloud /v1 route and every agent /api route (test/helpers/fuzz.ts). No
// 5xx, every failure a documented code with its status, no card number echoed,
// bounded RSS, both servers healthy after. Replay: TILLSYNC_FUZZ_SEED=N.
// The long run: npm run fuzz -- --requests 100000 [--seed N].
import t from 'tap';
import { runFuzz } from '../helpers/fuzz.ts';

const seed = process.env.TILLSYNC_FUZZ_SEED !== undefined ? Number(process.env.TILLSYNC_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

t.test(`2,000 fuzzed requests keep every rule (seed ${seed})`, async (t) => {
  t.comment(`fuzz seed ${seed} (replay: TILLSYNC_FUZZ_SEED=${seed} npx tap test/server/fuzz.test.ts)`);
  const stats = await runFuzz({ requests: 2000, seed, dir: t.testdir(), maxRssMb: 1024 });
  t.comment(`statuses ${JSON.stringify(stats.statuses)}; codes ${Object.keys(stats.codes).length}; max RSS ${stats.maxRssMb} MB; ${stats.ms} ms`);
  t.equal(stats.requests, 2000, 'every request was sent');
  t.same(stats.examples, [], `no violations (seed ${seed})`);
  t.equal(stats.violations, 0);
  t.ok(stats.healthyAfter, 'cloud and agent still answer');
  for (const kind of ['batch', 'json', 'random-bytes', 'huge-length', 'odd-path']) t.ok((stats.kinds[kind] ?? 0) > 0, `${kind} requests were sent`);
  t.ok(Object.keys(stats.codes).length >= 15, `${Object.keys(stats.codes).length} distinct codes seen`);
});
