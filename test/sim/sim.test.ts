/**
 * The seeded fault simulator in the suite (issue 15 §2): 50 schedules over
 * real agents and a real cloud (child processes, LevelDB, HTTP on loopback),
 * each checked against the invariants I1–I9 after every fault healed. The
 * first seed is random (or SIM_SEED); a failing schedule prints its seed and
 * replays with `npm run sim -- --short --seed N`. Short schedules (4–7 steps)
 * keep it to a few minutes; the soak runs full ones: `npm run sim -- --schedules 1000`.
 */
import t from 'tap';
import { buildForSim, simulate } from '../../scripts/sim/simulate.ts';

const SCHEDULES = Number(process.env.SIM_SCHEDULES ?? 50);
const first = process.env.SIM_SEED !== undefined ? Number(process.env.SIM_SEED) : Math.floor(Math.random() * 2 ** 31);
t.comment(`sim seeds ${first}…${first + SCHEDULES - 1}, short schedules (SIM_SEED=${first} replays them; npm run sim -- --short --seed N replays one)`);

t.test(`${SCHEDULES} seeded schedules hold every invariant`, async (t) => {
  const build = buildForSim();
  t.teardown(build.remove);
  const seeds = Array.from({ length: SCHEDULES }, (_, i) => first + i);
  const summary = await simulate(seeds, {
    dist: build.dist,
    concurrency: 3,
    short: true,
    onSchedule: (r, kept) => {
      t.same(r.violations, [], `seed ${r.seed}: ${r.acknowledged} acknowledged, faults ${JSON.stringify(r.faults)}${kept ? `; folders kept in ${kept}` : ''}`);
    },
  });
  t.comment(`faults injected: ${JSON.stringify(summary.faults)}; refusals: ${JSON.stringify(summary.refused)}; median schedule ${summary.medianScheduleMs} ms`);
  t.ok(summary.acknowledged > SCHEDULES * 5, `sales were taken (${summary.acknowledged} acknowledged)`);
  // The faults happened: a simulator whose faults stopped firing would pass for the wrong reason.
  for (const kind of ['kill-terminal', 'cloud-kill', 'link-flaky', 'link-down', 'clock-jump']) t.ok((summary.faults[kind] ?? 0) > 0, `${kind} was injected (${summary.faults[kind] ?? 0})`);
  t.ok((summary.faults['corrupt-wal'] ?? 0) + (summary.faults['corrupt-table'] ?? 0) > 0, 'a log was damaged');
  t.ok(LINK_KINDS.some((k) => (summary.faults[`link-${k}`] ?? 0) > 0), 'requests were dropped, cut, delayed, duplicated or reordered');
});

const LINK_KINDS = ['drop', 'lose-reply', 'truncate', 'delay', 'duplicate', 'reorder'];
