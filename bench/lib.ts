/**
 * What every benchmark module shares: its options, the rows it returns, and
 * small helpers (medians, bounded concurrency, temp dirs).
 *
 * A benchmark module exports `run(opts: BenchOptions): Promise<BenchRow[]>`.
 * Each row compares a measured value with a baseline measured in the same run
 * on the same bytes; targets are ratios (or absolute limits where the issue
 * says so, e.g. a p50 latency), so they hold on a noisy machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchOptions {
  /** Repetitions; rows report medians (default 3). */
  runs: number;
  /** Multiplies the default workload sizes (default 1; < 1 for a quick look). */
  scale: number;
  /** Seed for fixtures (printed, and in the JSON). */
  seed: number;
  /** `--terminals N`: how many simulated terminals (storm; default 2000). */
  terminals?: number;
  /** `--window S`: the reconnect window in seconds (storm; default 60). */
  windowS?: number;
  /** Progress line for the console (stderr). */
  log(message: string): void;
}

/**
 * `ratio` targets compare `ratio` (value / baseline, the median of the per-run
 * ratios); `value` targets compare the value itself.
 */
export interface Target {
  of: 'ratio' | 'value';
  op: '>=' | '<=';
  threshold: number;
}

export interface BenchRow {
  benchmark: string;
  case: string;
  /** Median over runs. */
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  ratio?: number;
  target?: Target;
  pass?: boolean;
  /** Every run's value (and ratio), for the JSON. */
  samples?: number[];
  ratioSamples?: number[];
}

export type BenchModule = { run(opts: BenchOptions): Promise<BenchRow[]> };

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Fills `pass` from `target`. */
export function judge(row: BenchRow): BenchRow {
  if (!row.target) return row;
  const { of, op, threshold } = row.target;
  const x = of === 'ratio' ? row.ratio : row.value;
  if (x === undefined || Number.isNaN(x)) return { ...row, pass: false };
  return { ...row, pass: op === '>=' ? x >= threshold : x <= threshold };
}

/**
 * Builds a row from per-run samples: medians of value and baseline, and the
 * median of the per-run ratios (each run's value against its own baseline).
 */
export function rowFromSamples(
  fields: { benchmark: string; case: string; unit: string; baselineLabel?: string; target?: Target },
  values: readonly number[],
  baselines?: readonly number[],
): BenchRow {
  const row: BenchRow = { benchmark: fields.benchmark, case: fields.case, unit: fields.unit, value: median(values), samples: [...values] };
  if (baselines && fields.baselineLabel !== undefined) {
    row.baseline = { label: fields.baselineLabel, value: median(baselines) };
    const ratios = values.map((v, i) => v / baselines[i]!);
    row.ratio = median(ratios);
    row.ratioSamples = ratios;
  }
  if (fields.target) row.target = fields.target;
  return judge(row);
}

/** Runs `fn(0..n-1)` with at most `concurrency` calls in flight. */
export async function runConcurrent(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/** A fresh temp dir (under TILLSYNC_BENCH_DIR or the OS temp dir), removed after `fn`. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(process.env.TILLSYNC_BENCH_DIR ?? tmpdir(), `tillsync-bench-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Rate per second of `count` things done in `ms` milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.POSITIVE_INFINITY;
}
