/**
 * npm run sim -- [--seed N | --schedules K [--from S] [--concurrency 2]] [--short] [--verbose] [--json FILE]
 *
 * The seeded fault simulator (scripts/sim/): real terminal agents and a real
 * cloud as child processes, a faulty network between them, kills, damaged and
 * restored folders, clocks hours off; after each schedule the invariants
 * I1–I9 (scripts/sim/invariants.ts). `--seed N` replays schedule N's steps
 * and faults; `--short` makes the 4–7-step schedules `npm test` runs. Exit 0
 * when every schedule held, 3 when one did not (its seed, its violations and
 * its kept folder are printed), 2 on bad flags.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildForSim, simulate } from './sim/simulate.ts';

const { values } = parseArgs({
  options: { seed: { type: 'string' }, schedules: { type: 'string' }, from: { type: 'string' }, verbose: { type: 'boolean', default: false }, short: { type: 'boolean', default: false }, json: { type: 'string' }, concurrency: { type: 'string', default: '2' } },
});
const whole = (s: string | undefined): number | undefined => (s === undefined ? undefined : /^\d{1,10}$/.test(s) ? Number(s) : NaN);
const seed = whole(values.seed);
const schedules = whole(values.schedules) ?? 1;
const from = whole(values.from) ?? Math.floor(Math.random() * 2 ** 31);
const concurrency = whole(values.concurrency) ?? 2;
if ([seed, schedules, from, concurrency].some((n) => Number.isNaN(n)) || schedules < 1 || concurrency < 1 || (seed !== undefined && values.schedules !== undefined)) {
  console.error('VALIDATION_FAILED: --seed N replays one schedule; --schedules K [--from S] runs K of them (whole numbers)');
  process.exit(2);
}
const seeds = seed !== undefined ? [seed] : Array.from({ length: schedules }, (_, i) => from + i);
console.log(`sim: ${seeds.length} schedule(s), seeds ${seeds[0]}…${seeds[seeds.length - 1]} (replay one: npm run sim -- --seed N)`);
const build = buildForSim();
try {
  const summary = await simulate(seeds, {
    dist: build.dist,
    concurrency: seeds.length === 1 ? 1 : concurrency,
    short: values.short,
    ...(values.verbose ? { log: (l: string) => console.log(l) } : {}),
    onSchedule: (r, kept) => {
      const f = Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', ');
      console.log(`seed ${r.seed}: ${r.violations.length === 0 ? 'ok' : `FAILED (${r.violations.length})`} in ${(r.ms / 1000).toFixed(1)} s: ${r.steps} steps, ${r.acknowledged} acknowledged, ${r.unknown} unanswered; faults: ${f || 'none'}`);
      for (const v of r.violations) console.log(`  ${v}`);
      if (kept) console.log(`  folders kept in ${kept}`);
    },
  });
  const sorted = (o: Record<string, number>): string => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`sim done in ${(summary.ms / 1000).toFixed(0)} s (median schedule ${(summary.medianScheduleMs / 1000).toFixed(1)} s): ${summary.schedules} schedules, ${summary.acknowledged} acknowledged operations, ${summary.unknown} unanswered, ${summary.violations.length} invariant violations`);
  console.log(`faults injected: ${sorted(summary.faults)}`);
  console.log(`refusals (documented codes): ${sorted(summary.refused) || 'none'}`);
  if (summary.failed.length > 0) console.log(`failed seeds: ${summary.failed.join(' ')}`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ seeds: [seeds[0], seeds[seeds.length - 1]], ...summary }, null, 2)}\n`);
  process.exitCode = summary.failed.length > 0 ? 3 : 0;
} finally {
  build.remove();
}
