/**
 * `npm run bench [-- <name>...] [--runs N] [--scale X] [--seed S] [--terminals N] [--window S] [--check]`
 * (`--terminals`, `--window`: the storm's simulated terminals and reconnect window)
 *
 * Runs the selected benchmarks (all by default) one after another, prints one
 * table, and writes bench/results/<names>-<timestamp>.json and
 * bench/results/latest.json. Values are medians of `--runs` runs (default 3);
 * every baseline is measured in the same run, on the same bytes.
 * `--check` exits with 1 when a row misses its target.
 *
 * Adding a benchmark: write bench/<name>.ts exporting
 *   `export async function run(opts: BenchOptions): Promise<BenchRow[]>`
 * (types and helpers in bench/lib.ts; bench/append.ts is an example), then add
 * ONE line to BENCHES below. The order here is the order they run in.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchModule, BenchOptions, BenchRow } from './lib.ts';

const BENCHES: Record<string, () => Promise<BenchModule>> = {
  append: () => import('./append.ts'),
  rebuild: () => import('./rebuild.ts'),
  search: () => import('./search.ts'),
  sync: () => import('./sync.ts'),
  storm: () => import('./storm.ts'),
};

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

function usage(): string {
  return `usage: npm run bench -- [${Object.keys(BENCHES).join('|')} ...] [--runs N] [--scale X] [--seed S] [--terminals N] [--window S] [--check]`;
}

function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return n;
}

const fmtNumber = (x: number): string =>
  !Number.isFinite(x) ? String(x) : Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);

function targetText(row: BenchRow): string {
  if (!row.target) return '';
  const { of, op, threshold } = row.target;
  const sign = op === '>=' ? '≥' : '≤';
  return of === 'ratio' ? `${sign} ${threshold}×` : `${sign} ${fmtNumber(threshold)} ${row.unit}`;
}

function formatTable(rows: readonly BenchRow[]): string {
  const header = ['benchmark', 'case', 'value', 'unit', 'baseline', 'ratio', 'target', 'pass'];
  const body = rows.map((r) => [
    r.benchmark,
    r.case,
    fmtNumber(r.value),
    r.unit,
    r.baseline ? `${fmtNumber(r.baseline.value)} (${r.baseline.label})` : '',
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
    targetText(r),
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 2 || i === 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 2 || i === 5 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      scale: { type: 'string' },
      seed: { type: 'string' },
      terminals: { type: 'string' },
      window: { type: 'string' },
      check: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage());
    return 0;
  }
  const unknown = positionals.filter((p) => !Object.hasOwn(BENCHES, p));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const names = positionals.length > 0 ? positionals : Object.keys(BENCHES);
  const opts: BenchOptions = {
    runs: Math.round(positiveNumber('runs', values.runs, 3)),
    scale: positiveNumber('scale', values.scale, 1),
    seed: values.seed === undefined ? 20_240_601 : Math.trunc(positiveNumber('seed', values.seed, 1)),
    log: (m) => process.stderr.write(`  ${m}\n`),
    ...(values.terminals === undefined ? {} : { terminals: Math.round(positiveNumber('terminals', values.terminals, 2000)) }),
    ...(values.window === undefined ? {} : { windowS: positiveNumber('window', values.window, 60) }),
  };
  const startedAt = new Date();
  console.error(`bench: ${names.join(', ')} — runs ${opts.runs}, scale ${opts.scale}, seed ${opts.seed}`);

  const rows: BenchRow[] = [];
  for (const name of names) {
    console.error(`[${name}]`);
    const mod = await BENCHES[name]!();
    rows.push(...(await mod.run(opts)));
  }

  console.log(formatTable(rows));
  const result = {
    benches: names,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    runs: opts.runs,
    scale: opts.scale,
    seed: opts.seed,
    machine: {
      node: process.version,
      platform: `${platform()} ${release()}`,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    },
    rows,
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const file = join(RESULTS_DIR, `${names.join('+')}-${stamp}.json`);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(file, json);
  await writeFile(join(RESULTS_DIR, 'latest.json'), json);
  console.error(`wrote ${file} and latest.json`);

  const missed = rows.filter((r) => r.pass === false);
  if (missed.length > 0) console.error(`${missed.length} row(s) missed their target`);
  return values.check && missed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 2;
  },
);
