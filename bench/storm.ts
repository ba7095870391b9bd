/**
 * Bench (issue 16): a chain reconnecting. `--terminals N` simulated terminals
 * (default 2,000; × --scale) of stores of 5 terminals each, every one with a
 * shift of ~200 events logged over 8 offline hours, reconnect at seeded
 * moments spread over one minute (`--window S`, default 60) and sync: upload
 * until acknowledged (retrying CLOUD_BUSY after Retry-After), then page the
 * store's feed to its head (bench/tools/storm-terminal.ts; the terminals run
 * in 4 processes). Against the cloud on LevelDB (one process: LevelDB is one
 * process's) and on PostgreSQL with one and with two cloud processes over one
 * database (terminals spread over them). Each cloud is
 * bench/tools/storm-cloud.ts, build() with its default options.
 *
 * Reports per setup: time from the window's start until every terminal is
 * acknowledged and downloaded, events/s over that time, p50/p99 latency of
 * the upload requests answered 200, CLOUD_BUSY answers, and the peak RSS
 * (VmHWM) of the largest cloud process (the PostgreSQL server's memory is not
 * counted). No baseline: this is a capacity figure, not a ratio.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ask, forkTool, peakRssMb, sampleAnonPeaks, stopChild } from './children.ts';
import { benchPgUrl, createBenchDatabase } from './pg.ts';
import { median, rowFromSamples, runConcurrent, withTempDir, type BenchOptions, type BenchRow } from './lib.ts';
import type { StormDone, StormJob } from './tools/storm-terminal.ts';

const ADMIN = 'storm-admin-token-0123456789abcdef';
const TERMINALS_PER_STORE = 5;
const TERMINAL_PROCESSES = 4;
const EVENTS = 200;
const OFFLINE_MS = 8 * 3600_000;

interface Setup {
  name: string;
  backend: 'level' | 'pg';
  clouds: number;
}
const SETUPS: Setup[] = [
  { name: 'LevelDB, 1 cloud process', backend: 'level', clouds: 1 },
  { name: 'PostgreSQL, 1 cloud process', backend: 'pg', clouds: 1 },
  { name: 'PostgreSQL, 2 cloud processes', backend: 'pg', clouds: 2 },
];

interface StormRun {
  secs: number;
  events: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  busy: number;
  failures: number;
  cloudMb: number;
  cloudAnonMb: number;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function admin(base: string, path: string, body: unknown): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status < 300) return JSON.parse(text);
    if (attempt >= 20 || !text.includes('CLOUD_BUSY')) throw new Error(`${path}: ${res.status} ${text}`);
  }
}

async function storm(setup: Setup, root: string, terminals: number, windowMs: number, seed: number, log: (m: string) => void): Promise<StormRun> {
  const db = setup.backend === 'pg' ? await createBenchDatabase(benchPgUrl()) : undefined;
  const dir = join(root, 'cloud');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const clouds = Array.from({ length: setup.clouds }, () => forkTool('storm-cloud', setup.backend === 'pg' ? ['pg', db!.url] : ['level', dir]));
  const procs = Array.from({ length: TERMINAL_PROCESSES }, () => forkTool('storm-terminal', []));
  try {
    const ports = await Promise.all(clouds.map((c, i) => ask<{ port: number }>(c, undefined, `cloud ${i} start`)));
    const urls = ports.map((p) => `http://127.0.0.1:${p.port}`);
    // Stores and terminals, created through the clouds in turn.
    const stores = Math.ceil(terminals / TERMINALS_PER_STORE);
    const made: Array<StormJob['terminals'][number]> = [];
    await runConcurrent(stores, 8, async (s) => {
      const store = `store-${String(s).padStart(5, '0')}`;
      await admin(urls[s % urls.length]!, '/v1/admin/stores', { id: store, name: `Store ${s}`, currency: 'USD' });
      for (let k = 0; k < TERMINALS_PER_STORE && s * TERMINALS_PER_STORE + k < terminals; k++) {
        const index = s * TERMINALS_PER_STORE + k;
        const r = await admin(urls[index % urls.length]!, `/v1/admin/stores/${store}/terminals`, { id: `t${k}` });
        made.push({ store, terminal: `t${k}`, token: r.token as string, baseUrl: urls[index % urls.length]!, index });
      }
    });
    made.sort((a, b) => a.index - b.index);
    const jobs = procs.map((_, p): StormJob => ({
      seed, events: EVENTS, windowMs, offlineMs: OFFLINE_MS, terminals: made.filter((m) => m.index % TERMINAL_PROCESSES === p),
    }));
    await Promise.all(procs.map((p, i) => ask(p, { open: jobs[i] }, `terminal process ${i} open`)));
    const pids = clouds.map((c) => c.pid!);
    const anon = sampleAnonPeaks(pids);
    const at = Date.now() + 200;
    const done = await Promise.all(procs.map((p, i) => ask<{ done: StormDone }>(p, { go: { at } }, `terminal process ${i} storm`)));
    const anonMb = await anon.stop();
    const all = done.map((d) => d.done);
    const doneMs = all.flatMap((d) => d.doneMs);
    const uploadMs = all.flatMap((d) => d.uploadMs);
    const events = all.reduce((a, d) => a + d.events, 0);
    const secs = Math.max(...doneMs) / 1000;
    const rss = await Promise.all(pids.map(peakRssMb));
    const run: StormRun = {
      secs, events, eventsPerSec: events / secs, p50: quantile(uploadMs, 0.5), p99: quantile(uploadMs, 0.99),
      busy: all.reduce((a, d) => a + d.busy, 0), failures: all.reduce((a, d) => a + d.failures, 0),
      cloudMb: Math.max(...rss), cloudAnonMb: Math.max(...anonMb),
    };
    log(`${setup.name}: ${made.length} terminals, ${events} events: all acked and downloaded ${secs.toFixed(1)} s after the window opened ` +
      `(${Math.round(run.eventsPerSec)} ev/s), upload p50 ${run.p50.toFixed(0)} ms p99 ${run.p99.toFixed(0)} ms, ${run.busy} CLOUD_BUSY, ` +
      `${run.failures} failed requests, median terminal done at ${(median(doneMs) / 1000).toFixed(1)} s; peak RSS cloud ${run.cloudMb.toFixed(0)} MB (anonymous ${run.cloudAnonMb.toFixed(0)} MB)`);
    return run;
  } finally {
    await Promise.all([...procs.map(stopChild), ...clouds.map(stopChild)]);
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const terminals = Math.max(TERMINALS_PER_STORE, Math.round((opts.terminals ?? 2000) * opts.scale));
  const windowMs = (opts.windowS ?? 60) * 1000;
  const samples = new Map<string, StormRun[]>(SETUPS.map((s) => [s.name, []]));
  await withTempDir('storm', async (root) => {
    for (let r = 1; r <= opts.runs; r++) {
      // The setups take turns going first.
      for (let i = 0; i < SETUPS.length; i++) {
        const setup = SETUPS[(i + r - 1) % SETUPS.length]!;
        opts.log(`run ${r}/${opts.runs}:`);
        samples.get(setup.name)!.push(await storm(setup, join(root, `${r}-${i}`), terminals, windowMs, opts.seed + r, opts.log));
      }
    }
  });
  const benchmark = 'storm';
  const rows: BenchRow[] = [];
  for (const setup of SETUPS) {
    const s = samples.get(setup.name)!;
    const pick = (f: (x: StormRun) => number) => s.map(f);
    const c = `${terminals} terminals × ${EVENTS} events in ${windowMs / 1000} s, ${setup.name}`;
    rows.push(
      rowFromSamples({ benchmark, case: `${c}: time until all acked + downloaded`, unit: 's' }, pick((x) => x.secs)),
      rowFromSamples({ benchmark, case: `${c}: events/s`, unit: 'events/s' }, pick((x) => x.eventsPerSec)),
      rowFromSamples({ benchmark, case: `${c}: upload p50`, unit: 'ms' }, pick((x) => x.p50)),
      rowFromSamples({ benchmark, case: `${c}: upload p99`, unit: 'ms' }, pick((x) => x.p99)),
      rowFromSamples({ benchmark, case: `${c}: CLOUD_BUSY answers`, unit: 'answers' }, pick((x) => x.busy)),
      rowFromSamples({ benchmark, case: `${c}: peak RSS largest cloud process`, unit: 'MB' }, pick((x) => x.cloudMb)),
    );
  }
  return rows;
}
