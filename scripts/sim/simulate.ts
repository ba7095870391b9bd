/**
 * Runs schedules of the fault simulator one after another (each on a fresh
 * world under a temp folder, removed unless it failed) and sums them up.
 * Used by `npm run sim` (scripts/sim.ts) and by test/sim/sim.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist } from '../build.ts';
import { makePlan } from './plan.ts';
import { runSchedule, type ScheduleReport } from './run.ts';

export interface SimSummary {
  schedules: number;
  failed: number[];
  acknowledged: number;
  unknown: number;
  faults: Record<string, number>;
  refused: Record<string, number>;
  violations: Array<{ seed: number; violation: string }>;
  ms: number;
  medianScheduleMs: number;
}

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Compiles the product once for the children (plain node starts in a fraction of tsx's time). Returns the folder and its remover. */
export function buildForSim(): { dist: string; remove: () => void } {
  const dist = join(ROOT, `dist-sim-${process.pid}`);
  buildDist(dist);
  return { dist, remove: () => rmSync(dist, { recursive: true, force: true }) };
}

/** Runs `seeds`, `concurrency` worlds at a time (each its own processes and folders: they share nothing). */
export async function simulate(seeds: readonly number[], opts: { dist: string; concurrency?: number; short?: boolean; onSchedule?: (r: ScheduleReport, kept: string | null) => void; log?: (line: string) => void }): Promise<SimSummary> {
  const started = Date.now();
  const sum: SimSummary = { schedules: 0, failed: [], acknowledged: 0, unknown: 0, faults: {}, refused: {}, violations: [], ms: 0, medianScheduleMs: 0 };
  const times: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < seeds.length) await one(seeds[next++]!);
  };
  const one = async (seed: number): Promise<void> => {
    const root = mkdtempSync(join(tmpdir(), `tillsync-sim-${seed}-`));
    const r = await runSchedule(makePlan(seed, { short: opts.short === true }), { dist: opts.dist, root, ...(opts.log ? { log: opts.log } : {}) });
    sum.schedules++;
    sum.acknowledged += r.acknowledged;
    sum.unknown += r.unknown;
    times.push(r.ms);
    for (const [k, n] of Object.entries(r.faults)) sum.faults[k] = (sum.faults[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.refused)) sum.refused[k] = (sum.refused[k] ?? 0) + n;
    let kept: string | null = null;
    if (r.violations.length > 0) {
      sum.failed.push(seed);
      for (const violation of r.violations) sum.violations.push({ seed, violation });
      kept = root;
    } else rmSync(root, { recursive: true, force: true });
    opts.onSchedule?.(r, kept);
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, worker));
  times.sort((a, b) => a - b);
  sum.medianScheduleMs = times[Math.floor(times.length / 2)] ?? 0;
  sum.ms = Date.now() - started;
  return sum;
}
