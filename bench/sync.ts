/**
 * Bench (issue 3): sync-up from terminals to the cloud over loopback, with the
 * cloud and the terminal(s) in separate child processes (bench/tools/
 * sync-cloud.ts, sync-terminal.ts), so each has its own CPU and peak RSS.
 *
 * (a) 1M events (× --scale) from ONE terminal, end to end: a real Terminal
 *     (log built beforehand with `term.log.append` of large fixture sale groups),
 *     a real SyncWorker + HttpTransport, a real cloud (build() over
 *     LevelStorage, listening on 127.0.0.1:0). Time from `worker.start()` until
 *     the terminal's cursor equals its head. Baseline, same run, same bytes and
 *     batches: a raw sender POSTing the log's bytes (1000 per batch, 4 in
 *     flight) to a bare fastify route that writes them as received into one
 *     chained LevelDB batch (sync) per request. Target ≥ 0.5× the baseline.
 * (b) 50 terminals × 20k events (× --scale), one store, all reconnecting at
 *     once: aggregate events/s and the time until every cursor is acknowledged.
 *     The terminals run in child processes: one terminal alone in its own
 *     process (as a real terminal is), the other 49 in processes of 5 (50
 *     processes would share the 2 cores with the cloud), all opened before the
 *     clock starts and released at once. Baseline: the raw sender
 *     for the same 50 logs at once, in the same process layout.
 * (a) and (b) on PostgreSQL: the same real worker sync against the cloud over
 *     PostgresStorage (a fresh database per run on the server of bench/pg.ts),
 *     in the same run, against the same raw baseline as the LevelDB rows.
 * (c) autocannon against POST /v1/events (10 connections, 5 s, batches of 1000
 *     events as the worker sends them; terminals of (b)):
 *     - duplicates: each connection resends one already stored batch of its
 *       terminal (decode + validate + by-id lookup, nothing written);
 *     - fresh: each connection sends, in order, the not yet stored batches of
 *       its own terminals (every request commits 1000 new events).
 *     requests/s and p99 latency; no baseline (autocannon shares the 2 cores).
 * (d) peak RSS (VmHWM from /proc/<pid>/status) of the cloud and the terminal
 *     process during (a) and (b); for (b) the terminal alone in its process
 *     (and, for information, the largest process of 5). Target ≤ 300 MB each.
 *     The children run compiled JavaScript, and the cloud with the node
 *     settings of bin/tillsync-cloud, as deployed (scripts/build.ts). Also the
 *     peak RssAnon, sampled every 100 ms: VmHWM counts the pages of LevelDB
 *     table files read through mmap, which grow with the data read, not with
 *     what the process holds.
 * (e) the peer, PouchDB (bench/peer.ts): the same events as (a), replicated
 *     from a local PouchDB to an express-pouchdb server on loopback (default
 *     settings, batch_size 1000); its events/s, and (a)'s worker rate as a
 *     ratio of it from the same run. Skipped, with a line saying why, when
 *     bench/peer's packages cannot be installed.
 * The progress lines also give each side's CPU time per event during the
 * sync (user + system, all threads, from /proc/<pid>/stat): on 2 cores the
 * sum of both sides bounds the end-to-end rate.
 *
 * Each run gets a fresh cloud folder and a fresh copy of the pristine terminal
 * folders (built once per bench invocation). Before the clock starts, the
 * machine's dirty pages are written out (`sync`): the copy (hundreds of MB)
 * and the phase before would otherwise still be going to the disk during the
 * measured sync and slow its synced writes by chance. The real and the raw
 * side of (a) and (b) take turns going first (odd runs: real first).
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Encoder } from '@msgpack/msgpack';
import { monotonicFactory } from 'ulid';
import { BIG_READS, openLevel, type Sublevel } from '../src/events/level-util.ts';
import type { EventDraft } from '../src/events/event-types.ts';
import { generateCatalog } from '../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../src/fixtures/sales.ts';
import { Terminal } from '../src/terminal/terminal.ts';
import { ask, cpuMs, flushDirtyPages, forkTool, peakRssMb, perEventByThread, sampleAnonPeaks, stopChild, threadCpuMs } from './children.ts';
import { ensurePeer, exportLog, peerSync } from './peer.ts';
import { benchPgUrl, createBenchDatabase } from './pg.ts';
import { perSecond, rowFromSamples, withTempDir, type BenchOptions, type BenchRow } from './lib.ts';
import type { CloudReply, CloudSetup } from './tools/sync-cloud.ts';
import type { TerminalJob, TerminalReply } from './tools/sync-terminal.ts';

const STORE = 'bench-store';
const ONE_EVENTS = 1_000_000;
const MANY_TERMINALS = 50;
/** Terminals per terminal process in (b): 10 processes of 5 (2 cores; a real terminal is its own process). */
const TERMINALS_PER_PROCESS = 5;
const MANY_EVENTS = 20_000;
const RSS_LIMIT_MB = 300;
const CANNON_CONNECTIONS = 10;
const CANNON_SECONDS = 5;
/** Events per append group when building logs (one atomic group each). */
const BUILD_GROUP = 2000;

// ------------------------------------------------------------------ fixtures

interface Fixtures {
  setup: Omit<CloudSetup, 'terminals'>;
  catalog: ReturnType<typeof generateCatalog>;
  customers: ReturnType<typeof generateCustomers>;
  vouchers: ReturnType<typeof generateVouchers>;
}

export function fixtures(seed: number): Fixtures {
  const catalog = generateCatalog({ seed, items: 20_000 });
  const customers = generateCustomers({ seed: seed + 1, count: 2000 });
  const vouchers = generateVouchers({ seed: seed + 2, count: 500 });
  // Every terminal's stream spends at most the opening balances; ×100 in the cloud
  // so 50 terminals together do not overspend (exceptions are another bench's business).
  return {
    catalog, customers, vouchers,
    setup: {
      store: STORE, currency: 'USD',
      customers: customers.map((c) => ({ id: c.record.id, name: c.record.name, openingBalance: c.openingBalance * 100 })),
      vouchers: vouchers.map((v) => ({ code: v.code, amount: v.amount * 100 })),
    },
  };
}

/** Builds a terminal folder holding at least `events` events (large atomic append groups). */
export async function buildTerminal(dir: string, terminal: string, events: number, seed: number, fx: Fixtures): Promise<number> {
  const term = await Terminal.open(dir, { store: STORE, terminal });
  const ulid = monotonicFactory();
  try {
    const sales = generateSales({ seed, catalog: fx.catalog, customers: fx.customers, vouchers: fx.vouchers, count: Number.MAX_SAFE_INTEGER });
    const inFlight = new Set<Promise<unknown>>();
    let made = 0;
    let group: EventDraft[] = [];
    const flush = async (): Promise<void> => {
      while (inFlight.size >= 4) await Promise.race(inFlight);
      const p = term.log.append(group).finally(() => inFlight.delete(p));
      inFlight.add(p);
      group = [];
    };
    for (const sale of sales) {
      if (made >= events) break;
      const drafts = saleToDrafts(sale, ulid());
      group.push(...drafts);
      made += drafts.length;
      if (group.length >= BUILD_GROUP) await flush();
    }
    if (group.length > 0) await flush();
    await Promise.all(inFlight);
    return term.log.head.seq;
  } finally {
    await term.close();
  }
}

// ------------------------------------------------------------------ one sync-up

export interface SyncRun {
  ms: number;
  events: number;
  cloudMb: number;
  /** The largest peak RSS of the terminal processes, and how many terminals that process hosted. */
  terminalMb: number;
  terminalsInPeak: number;
  /** Peak RssAnon (see sampleAnonPeaks) of the cloud and of the largest terminal process. */
  cloudAnonMb: number;
  terminalAnonMb: number;
  /** Peak RSS and RssAnon of the first terminal process (with `soloFirst`, the one terminal alone in its process). */
  firstMb: number;
  firstAnonMb: number;
  /** CPU time (user + system, all threads) during the sync, per event: the cloud, and all terminal processes together. */
  cloudCpuUs: number;
  terminalCpuUs: number;
  /** The cloud's CPU per event by thread name (main thread, decode worker, LevelDB, libuv pool...), in µs. */
  cloudThreadsUs: Record<string, number>;
  /** The same for the first terminal process. */
  terminalThreadsUs: Record<string, number>;
}

/**
 * One sync-up in child processes; `execArgv` adds node flags to them (e.g.
 * --cpu-prof, see tools/profile-sync.ts). The terminals are spread over
 * terminal processes of `perProcess` each (a real terminal is its own process;
 * 50 Terminals + SyncWorkers in one process measure that process, not a
 * terminal); with `soloFirst` the first terminal has a process of its own, so
 * its peak RSS is one terminal's under the same load. Every process opens its
 * terminals first; the clock starts when all of them are told to go at once and
 * stops when the last one is done.
 */

export async function syncUp(
  mode: 'worker' | 'raw',
  root: string,
  pristine: Array<{ dir: string; terminal: string }>,
  fx: Fixtures,
  execArgv: { cloud?: string[]; terminal?: string[] } = {},
  perProcess = Number.MAX_SAFE_INTEGER,
  soloFirst = false,
  /** Run the real cloud over PostgreSQL (a fresh database of the server at this URL) instead of LevelDB. */
  pgServer?: string,
): Promise<SyncRun> {
  const cloudDir = join(root, `cloud-${mode}`);
  const pgDb = pgServer ? await createBenchDatabase(pgServer) : undefined;
  const copies = pristine.map((p) => ({ ...p, dir: join(root, `term-${p.terminal}`) }));
  await Promise.all(copies.map((c, i) => cp(pristine[i]!.dir, c.dir, { recursive: true })));
  const groups: Array<typeof copies> = [];
  const rest = soloFirst ? 1 : 0;
  if (soloFirst) groups.push(copies.slice(0, 1));
  for (let i = rest; i < copies.length; i += perProcess) groups.push(copies.slice(i, i + perProcess));
  const cloud = forkTool('sync-cloud', [mode === 'worker' ? 'real' : 'raw', cloudDir, ...(pgDb ? [pgDb.url] : [])], execArgv.cloud);
  const terms = groups.map(() => forkTool('sync-terminal', [], execArgv.terminal));
  try {
    const setup: CloudSetup = { ...fx.setup, terminals: pristine.map((p) => p.terminal) };
    const started = await ask<Extract<CloudReply, { port: number }>>(cloud, { setup }, 'cloud start');
    await Promise.all(
      terms.map((term, g) => {
        const job: TerminalJob = {
          mode,
          baseUrl: `http://127.0.0.1:${started.port}`,
          terminals: groups[g]!.map((c) => ({ dir: c.dir, store: STORE, terminal: c.terminal, token: started.tokens[c.terminal] ?? '' })),
        };
        return ask<TerminalReply>(term, { open: job }, 'terminal open');
      }),
    );
    const pids = [cloud.pid!, ...terms.map((t) => t.pid!)];
    const cpu0 = await Promise.all(pids.map(cpuMs));
    const threads0 = await threadCpuMs(cloud.pid!);
    const termThreads0 = await threadCpuMs(terms[0]!.pid!);
    await flushDirtyPages();
    const anon = sampleAnonPeaks(pids);
    const t0 = performance.now();
    const results = await Promise.all(terms.map((term) => ask<Extract<TerminalReply, { done: unknown }>>(term, { go: true }, 'sync')));
    const ms = performance.now() - t0;
    const [cloudAnonMb, ...termAnonMbs] = await anon.stop();
    const cpu1 = await Promise.all(pids.map(cpuMs));
    const threads1 = await threadCpuMs(cloud.pid!);
    const termThreads1 = await threadCpuMs(terms[0]!.pid!);
    const events = results.reduce((a, r) => a + r.done.events, 0);
    const perEventUs = (i: number): number => ((cpu1[i]! - cpu0[i]!) * 1000) / events;
    let terminalCpuUs = 0;
    for (let i = 1; i < pids.length; i++) terminalCpuUs += perEventUs(i);
    const [cloudMb, ...termMbs] = await Promise.all(pids.map(peakRssMb));
    let peak = 0;
    for (let g = 1; g < termMbs.length; g++) if (termMbs[g]! > termMbs[peak]!) peak = g;
    return {
      ms, events, cloudMb: cloudMb!, terminalMb: termMbs[peak]!, terminalsInPeak: groups[peak]!.length,
      cloudAnonMb: cloudAnonMb!, terminalAnonMb: Math.max(...termAnonMbs),
      firstMb: termMbs[0]!, firstAnonMb: termAnonMbs[0]!,
      cloudCpuUs: perEventUs(0), terminalCpuUs,
      cloudThreadsUs: perEventByThread(threads0, threads1, events),
      terminalThreadsUs: perEventByThread(termThreads0, termThreads1, events),
    };
  } finally {
    await Promise.all([...terms.map(stopChild), stopChild(cloud)]);
    await pgDb?.drop();
    await Promise.all([rm(cloudDir, { recursive: true, force: true }), ...copies.map((c) => rm(c.dir, { recursive: true, force: true }))]);
  }
}

// ------------------------------------------------------------------ autocannon

interface CannonResult {
  reqPerSec: number;
  p99: number;
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<{
  requests: { average: number };
  latency: { p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}>;

/** The first `n` upload bodies (batches of `size` events) of a terminal folder, exactly as the worker encodes them. */
async function uploadBodies(dir: string, size: number, n: number): Promise<Buffer[]> {
  const db = await openLevel(dir);
  const logDb = db.sublevel('log', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
  const it = logDb.iterator({ ...BIG_READS });
  const enc = new Encoder({ ignoreUndefined: true });
  const out: Buffer[] = [];
  try {
    while (out.length < n) {
      const page = await it.nextv(size);
      if (page.length === 0) break;
      out.push(Buffer.from(enc.encode({ v: 1, events: page.map(([, v]) => v) })));
    }
  } finally {
    await it.close();
    await db.close();
  }
  return out;
}

async function cannon(root: string, pristine: Array<{ dir: string; terminal: string }>, fx: Fixtures, batchSize: number): Promise<{ dup: CannonResult; fresh: CannonResult }> {
  const autocannon = (await import('autocannon' as string)).default as Autocannon;
  const cloudDir = join(root, 'cloud-cannon');
  const cloud = forkTool('sync-cloud', ['real', cloudDir]);
  try {
    const setup: CloudSetup = { ...fx.setup, terminals: pristine.map((p) => p.terminal) };
    const { port, tokens } = await ask<Extract<CloudReply, { port: number }>>(cloud, { setup }, 'cloud start');
    const url = `http://127.0.0.1:${port}`;
    const bodies = await Promise.all(pristine.map((p) => uploadBodies(p.dir, batchSize, Number.MAX_SAFE_INTEGER)));
    const headers = (t: string) => ({ authorization: `Bearer ${tokens[t]}`, 'content-type': 'application/msgpack', accept: 'application/msgpack' });
    // Store every terminal's first batch, so resending it is the duplicates path.
    for (const [i, p] of pristine.entries()) {
      const res = await fetch(`${url}/v1/events`, { method: 'POST', headers: headers(p.terminal), body: bodies[i]![0]! });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`storing the first batch of ${p.terminal}: HTTP ${res.status}`);
    }
    const run = async (requestsOf: (client: number) => Array<{ headers: Record<string, string>; body: Buffer }>): Promise<CannonResult> => {
      let next = 0;
      const r = await autocannon({
        url: `${url}/v1/events`, method: 'POST', connections: CANNON_CONNECTIONS, duration: CANNON_SECONDS, pipelining: 1,
        setupClient: (client: { setRequests(r: unknown[]): void }) => {
          client.setRequests(requestsOf(next++).map((q) => ({ method: 'POST', path: '/v1/events', ...q })));
        },
      });
      return { reqPerSec: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
    };
    // Duplicates: connection k resends the stored first batch of terminal k.
    const dup = await run((k) => {
      const p = pristine[k % pristine.length]!;
      return [{ headers: headers(p.terminal), body: bodies[k % pristine.length]![0]! }];
    });
    // Fresh: connection k owns terminals k, k+C, k+2C...: their batches 2.. in order.
    const fresh = await run((k) => {
      const out: Array<{ headers: Record<string, string>; body: Buffer }> = [];
      for (let i = k; i < pristine.length; i += CANNON_CONNECTIONS) {
        for (const body of bodies[i]!.slice(1)) out.push({ headers: headers(pristine[i]!.terminal), body });
      }
      return out;
    });
    return { dup, fresh };
  } finally {
    await stopChild(cloud);
    await rm(cloudDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ run

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const oneEvents = Math.max(1000, Math.round(ONE_EVENTS * opts.scale));
  const manyEvents = Math.max(1000, Math.round(MANY_EVENTS * opts.scale));
  const cannonBatch = Math.max(50, Math.min(1000, Math.round(1000 * opts.scale)));
  const fx = fixtures(opts.seed);

  return withTempDir('sync', async (root) => {
    let t0 = performance.now();
    const one = [{ dir: join(root, 'pristine-one'), terminal: 't-one' }];
    const oneHead = await buildTerminal(one[0]!.dir, 't-one', oneEvents, opts.seed + 10, fx);
    const many = Array.from({ length: MANY_TERMINALS }, (_, i) => ({ dir: join(root, `pristine-many-${i}`), terminal: `t-${String(i).padStart(2, '0')}` }));
    let manyTotal = 0;
    for (const [i, m] of many.entries()) manyTotal += await buildTerminal(m.dir, m.terminal, manyEvents, opts.seed + 100 + i, fx);
    opts.log(`built 1 log of ${oneHead} events and ${MANY_TERMINALS} of ~${manyEvents} (${manyTotal} in all) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const s = {
      oneReal: [] as number[], oneRaw: [] as number[], oneSecs: [] as number[], oneCloudMb: [] as number[], oneTermMb: [] as number[],
      oneCloudAnon: [] as number[], oneTermAnon: [] as number[],
      manyReal: [] as number[], manyRaw: [] as number[], manySecs: [] as number[], manyCloudMb: [] as number[], manyTermMb: [] as number[],
      manyCloudAnon: [] as number[], manyTermAnon: [] as number[], manySoloMb: [] as number[], manySoloAnon: [] as number[],
      dupRps: [] as number[], dupP99: [] as number[], freshRps: [] as number[], freshP99: [] as number[],
      peer: [] as number[], peerReal: [] as number[], peerSecs: [] as number[], peerServerMb: [] as number[], peerClientMb: [] as number[],
      onePg: [] as number[], oneRawPg: [] as number[], oneSecsPg: [] as number[], oneCloudMbPg: [] as number[],
      manyPg: [] as number[], manyRawPg: [] as number[], manySecsPg: [] as number[], manyCloudMbPg: [] as number[],
    };
    const pgServer = benchPgUrl();
    const peerSkipped = await ensurePeer(opts.log);
    const peerLog = join(root, 'peer-log.jsonl');
    if (peerSkipped) opts.log(`(e) PouchDB peer SKIPPED: ${peerSkipped}`);
    else opts.log(`(e) exported the (a) log for the PouchDB peer: ${await exportLog(one[0]!.dir, peerLog)} events`);
    for (let r = 1; r <= opts.runs; r++) {
      t0 = performance.now();
      const realFirst = r % 2 === 1;
      const aRaw0 = realFirst ? undefined : await syncUp('raw', root, one, fx);
      const a = await syncUp('worker', root, one, fx);
      const aRaw = aRaw0 ?? (await syncUp('raw', root, one, fx));
      s.oneReal.push(perSecond(a.events, a.ms));
      s.oneRaw.push(perSecond(aRaw.events, aRaw.ms));
      s.oneSecs.push(a.ms / 1000);
      s.oneCloudMb.push(a.cloudMb);
      s.oneTermMb.push(a.terminalMb);
      s.oneCloudAnon.push(a.cloudAnonMb);
      s.oneTermAnon.push(a.terminalAnonMb);
      opts.log(
        `run ${r}/${opts.runs} (a) ${a.events} events: worker ${Math.round(s.oneReal.at(-1)!)} ev/s (${(a.ms / 1000).toFixed(1)} s), ` +
          `raw ${Math.round(s.oneRaw.at(-1)!)} ev/s; peak RSS cloud ${a.cloudMb.toFixed(0)} MB, terminal ${a.terminalMb.toFixed(0)} MB ` +
          `(anonymous ${a.cloudAnonMb.toFixed(0)} / ${a.terminalAnonMb.toFixed(0)} MB); ` +
          `CPU per event cloud ${a.cloudCpuUs.toFixed(1)} µs, terminal ${a.terminalCpuUs.toFixed(1)} µs (raw: ${aRaw.cloudCpuUs.toFixed(1)} / ${aRaw.terminalCpuUs.toFixed(1)} µs)`,
      );

      if (!peerSkipped) {
        const pe = await peerSync(root, peerLog);
        s.peer.push(perSecond(pe.docs, pe.ms));
        s.peerReal.push(s.oneReal.at(-1)!);
        s.peerSecs.push(pe.ms / 1000);
        s.peerServerMb.push(pe.serverMb);
        s.peerClientMb.push(pe.clientMb);
        opts.log(`run ${r}/${opts.runs} (e) PouchDB peer: ${Math.round(s.peer.at(-1)!)} ev/s (${(pe.ms / 1000).toFixed(1)} s); peak RSS server ${pe.serverMb.toFixed(0)} MB, client ${pe.clientMb.toFixed(0)} MB`);
      }

      // The same (a) on PostgreSQL (a fresh database on the same machine), against the same raw baseline.
      const aPg = await syncUp('worker', root, one, fx, {}, Number.MAX_SAFE_INTEGER, false, pgServer);
      s.onePg.push(perSecond(aPg.events, aPg.ms));
      s.oneRawPg.push(s.oneRaw.at(-1)!);
      s.oneSecsPg.push(aPg.ms / 1000);
      s.oneCloudMbPg.push(aPg.cloudMb);
      opts.log(`run ${r}/${opts.runs} (a) on PostgreSQL: worker ${Math.round(s.onePg.at(-1)!)} ev/s (${(aPg.ms / 1000).toFixed(1)} s); peak RSS cloud ${aPg.cloudMb.toFixed(0)} MB; CPU per event cloud ${aPg.cloudCpuUs.toFixed(1)} µs`);

      const bRaw0 = realFirst ? undefined : await syncUp('raw', root, many, fx, {}, TERMINALS_PER_PROCESS, true);
      const b = await syncUp('worker', root, many, fx, {}, TERMINALS_PER_PROCESS, true);
      const bRaw = bRaw0 ?? (await syncUp('raw', root, many, fx, {}, TERMINALS_PER_PROCESS, true));
      s.manyReal.push(perSecond(b.events, b.ms));
      s.manyRaw.push(perSecond(bRaw.events, bRaw.ms));
      s.manySecs.push(b.ms / 1000);
      s.manyCloudMb.push(b.cloudMb);
      s.manyTermMb.push(b.terminalMb);
      s.manyCloudAnon.push(b.cloudAnonMb);
      s.manyTermAnon.push(b.terminalAnonMb);
      s.manySoloMb.push(b.firstMb);
      s.manySoloAnon.push(b.firstAnonMb);
      opts.log(
        `run ${r}/${opts.runs} (b) ${MANY_TERMINALS}×${manyEvents}: worker ${Math.round(s.manyReal.at(-1)!)} ev/s (all acked in ${(b.ms / 1000).toFixed(1)} s), ` +
          `raw ${Math.round(s.manyRaw.at(-1)!)} ev/s; peak RSS cloud ${b.cloudMb.toFixed(0)} MB, terminal alone in its process ${b.firstMb.toFixed(0)} MB, ` +
          `largest terminal process ${b.terminalMb.toFixed(0)} MB (${b.terminalsInPeak} terminals; anonymous ${b.cloudAnonMb.toFixed(0)} / ${b.firstAnonMb.toFixed(0)} / ${b.terminalAnonMb.toFixed(0)} MB); ` +
          `CPU per event cloud ${b.cloudCpuUs.toFixed(1)} µs, terminals ${b.terminalCpuUs.toFixed(1)} µs`,
      );

      const bPg = await syncUp('worker', root, many, fx, {}, TERMINALS_PER_PROCESS, true, pgServer);
      s.manyPg.push(perSecond(bPg.events, bPg.ms));
      s.manyRawPg.push(s.manyRaw.at(-1)!);
      s.manySecsPg.push(bPg.ms / 1000);
      s.manyCloudMbPg.push(bPg.cloudMb);
      opts.log(`run ${r}/${opts.runs} (b) on PostgreSQL: worker ${Math.round(s.manyPg.at(-1)!)} ev/s (all acked in ${(bPg.ms / 1000).toFixed(1)} s); peak RSS cloud ${bPg.cloudMb.toFixed(0)} MB; CPU per event cloud ${bPg.cloudCpuUs.toFixed(1)} µs`);

      const c = await cannon(root, many, fx, cannonBatch);
      for (const [name, x] of [['duplicates', c.dup], ['fresh', c.fresh]] as const) {
        if (x.non2xx > 0 || x.errors > 0) throw new Error(`autocannon ${name}: ${x.non2xx} non-2xx answers, ${x.errors} errors`);
      }
      s.dupRps.push(c.dup.reqPerSec);
      s.dupP99.push(c.dup.p99);
      s.freshRps.push(c.fresh.reqPerSec);
      s.freshP99.push(c.fresh.p99);
      opts.log(
        `run ${r}/${opts.runs} (c) batches of ${cannonBatch}: duplicates ${c.dup.reqPerSec.toFixed(1)} req/s p99 ${c.dup.p99} ms, ` +
          `fresh ${c.fresh.reqPerSec.toFixed(1)} req/s p99 ${c.fresh.p99} ms (${((performance.now() - t0) / 1000).toFixed(0)} s for the run)`,
      );
    }

    const benchmark = 'sync';
    const k = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${Math.round(n / 1000)}k` : String(n));
    const rss = { benchmark, unit: 'MB', target: { of: 'value', op: '<=', threshold: RSS_LIMIT_MB } as const };
    return [
      rowFromSamples({ benchmark, case: `(a) sync-up ${k(oneHead)} events, 1 terminal, end to end`, unit: 'events/s', baselineLabel: 'raw POST → LevelDB', target: { of: 'ratio', op: '>=', threshold: 0.5 } }, s.oneReal, s.oneRaw),
      rowFromSamples({ benchmark, case: `(a) time until ackSeq == head (${k(oneHead)})`, unit: 's' }, s.oneSecs),
      rowFromSamples({ benchmark, case: `(b) ${MANY_TERMINALS} terminals × ${k(manyEvents)} at once, aggregate`, unit: 'events/s', baselineLabel: 'raw POST → LevelDB' }, s.manyReal, s.manyRaw),
      rowFromSamples({ benchmark, case: `(b) time until all ${MANY_TERMINALS} cursors acked`, unit: 's' }, s.manySecs),
      rowFromSamples({ benchmark, case: `(a) on PostgreSQL: sync-up ${k(oneHead)} events, 1 terminal`, unit: 'events/s', baselineLabel: 'raw POST → LevelDB' }, s.onePg, s.oneRawPg),
      rowFromSamples({ benchmark, case: `(a) on PostgreSQL: time until ackSeq == head`, unit: 's' }, s.oneSecsPg),
      rowFromSamples({ benchmark, case: `(b) on PostgreSQL: ${MANY_TERMINALS} terminals × ${k(manyEvents)} at once`, unit: 'events/s', baselineLabel: 'raw POST → LevelDB' }, s.manyPg, s.manyRawPg),
      rowFromSamples({ benchmark, case: `(b) on PostgreSQL: time until all ${MANY_TERMINALS} cursors acked`, unit: 's' }, s.manySecsPg),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak RSS cloud on PostgreSQL during (a) (the database server not counted)` }, s.oneCloudMbPg),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak RSS cloud on PostgreSQL during (b)` }, s.manyCloudMbPg),
      ...(peerSkipped
        ? []
        : [
            rowFromSamples({ benchmark, case: `(e) peer: PouchDB replicate.to express-pouchdb, ${k(oneHead)} events`, unit: 'events/s' }, s.peer),
            rowFromSamples({ benchmark, case: `(e) peer: time until replicated`, unit: 's' }, s.peerSecs),
            rowFromSamples({ benchmark, case: `(a) tillsync vs the PouchDB peer, same events`, unit: 'events/s', baselineLabel: 'PouchDB replicate.to' }, s.peerReal, s.peer),
            rowFromSamples({ benchmark, unit: 'MB', case: `(e) peak RSS PouchDB server` }, s.peerServerMb),
            rowFromSamples({ benchmark, unit: 'MB', case: `(e) peak RSS PouchDB client` }, s.peerClientMb),
          ]),
      rowFromSamples({ benchmark, case: `(c) autocannon duplicates (${cannonBatch}/batch, ${CANNON_CONNECTIONS} conn)`, unit: 'req/s' }, s.dupRps),
      rowFromSamples({ benchmark, case: `(c) autocannon duplicates p99`, unit: 'ms' }, s.dupP99),
      rowFromSamples({ benchmark, case: `(c) autocannon fresh (${cannonBatch}/batch, ${CANNON_CONNECTIONS} conn)`, unit: 'req/s' }, s.freshRps),
      rowFromSamples({ benchmark, case: `(c) autocannon fresh p99`, unit: 'ms' }, s.freshP99),
      rowFromSamples({ ...rss, case: `(d) peak RSS cloud during (a)` }, s.oneCloudMb),
      rowFromSamples({ ...rss, case: `(d) peak RSS terminal during (a)` }, s.oneTermMb),
      rowFromSamples({ ...rss, case: `(d) peak RSS cloud during (b)` }, s.manyCloudMb),
      rowFromSamples({ ...rss, case: `(d) peak RSS terminal (alone in its process) during (b)` }, s.manySoloMb),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak RSS largest terminal process (${TERMINALS_PER_PROCESS} terminals) during (b)` }, s.manyTermMb),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak anonymous RSS (heap + native; no mapped files) cloud during (a)` }, s.oneCloudAnon),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak anonymous RSS terminal during (a)` }, s.oneTermAnon),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak anonymous RSS cloud during (b)` }, s.manyCloudAnon),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak anonymous RSS terminal (alone) during (b)` }, s.manySoloAnon),
      rowFromSamples({ benchmark, unit: 'MB', case: `(d) peak anonymous RSS largest terminal process during (b)` }, s.manyTermAnon),
    ];
  });
}

