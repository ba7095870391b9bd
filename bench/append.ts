/**
 * Bench (a), issue 2: durable sale appends through `EventLog.append`, one sale
 * group (sale.completed + payments + stored-value events, from the fixture sale
 * stream) per call, with 1, 16 and 64 concurrent callers. Baselines, in the same
 * run and on the same bytes (the canonical event bytes the log stored):
 *   - raw classic-level `put(key, bytes, { sync: true })`, one event per put,
 *     at the same concurrency;
 *   - raw chained batches of 100 events, `write({ sync: true })`, one at a time.
 * Targets: at 64 callers ≥ 3× raw concurrent puts and ≥ 50% of raw batches of 100.
 * Every case writes to a fresh LevelDB in a temp dir, removed afterwards.
 */
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { monotonicFactory } from 'ulid';
import { EventLog } from '../src/events/event-log.ts';
import type { EventDraft } from '../src/events/event-types.ts';
import { seqKey } from '../src/events/level-util.ts';
import { generateCatalog } from '../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../src/fixtures/customers.ts';
import { generateSales, saleToDrafts, type SaleInput } from '../src/fixtures/sales.ts';
import { perSecond, rowFromSamples, runConcurrent, withTempDir, type BenchOptions, type BenchRow } from './lib.ts';

/** Concurrency → sales appended per run (at scale 1). Sized so the bench takes well under a minute. */
const CASES: ReadonlyArray<readonly [number, number]> = [[1, 1000], [16, 4000], [64, 12_000]];
const BATCH = 100;
/** Raw batches are fast: write the same bytes this many events' worth (under fresh keys) for a steadier figure. */
const MIN_BATCH_EVENTS = 60_000;

type RawDb = ClassicLevel<string, Uint8Array>;

async function openRaw(location: string): Promise<RawDb> {
  const db = new ClassicLevel<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  return db;
}

interface AppendResult {
  ms: number;
  events: number;
  /** The stored canonical bytes, in seq order: the baselines write exactly these. */
  bytes: Uint8Array[];
}

async function timeEventLog(dir: string, groups: EventDraft[][], concurrency: number): Promise<AppendResult> {
  const log = await EventLog.open(join(dir, 'log'), { store: 'bench-store', terminal: 'bench-t1' });
  try {
    const t0 = performance.now();
    await runConcurrent(groups.length, concurrency, (i) => log.append(groups[i]!));
    const ms = performance.now() - t0;
    const bytes: Uint8Array[] = [];
    for await (const page of log.read(1)) for (const rec of page) bytes.push(rec.bytes);
    const events = groups.reduce((n, g) => n + g.length, 0);
    if (bytes.length !== events || log.head.seq !== events) throw new Error(`log holds ${bytes.length} events, expected ${events}`);
    return { ms, events, bytes };
  } finally {
    await log.close();
  }
}

async function timeRawPuts(dir: string, bytes: readonly Uint8Array[], concurrency: number): Promise<number> {
  const db = await openRaw(join(dir, 'puts'));
  try {
    const t0 = performance.now();
    await runConcurrent(bytes.length, concurrency, (i) => db.put(seqKey(i + 1), bytes[i]!, { sync: true }));
    return perSecond(bytes.length, performance.now() - t0);
  } finally {
    await db.close();
  }
}

async function timeRawBatches(dir: string, bytes: readonly Uint8Array[], minEvents: number): Promise<number> {
  const db = await openRaw(join(dir, 'batches'));
  const total = Math.max(bytes.length, minEvents);
  try {
    const t0 = performance.now();
    for (let start = 0; start < total; start += BATCH) {
      const batch = db.batch();
      const end = Math.min(total, start + BATCH);
      for (let i = start; i < end; i++) batch.put(seqKey(i + 1), bytes[i % bytes.length]!);
      await batch.write({ sync: true });
    }
    return perSecond(total, performance.now() - t0);
  } finally {
    await db.close();
  }
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const cases = CASES.map(([c, n]) => [c, Math.max(c, Math.round(n * opts.scale))] as const);
  const maxSales = Math.max(...cases.map(([, n]) => n));
  const catalog = generateCatalog({ seed: opts.seed, items: 20_000 });
  const customers = generateCustomers({ seed: opts.seed + 1, count: 2000 });
  const vouchers = generateVouchers({ seed: opts.seed + 2, count: 500 });
  const sales: SaleInput[] = [...generateSales({ seed: opts.seed + 3, catalog, customers, vouchers, count: maxSales })];
  const ulid = monotonicFactory();

  const logEvents = new Map<number, number[]>();
  const logSales = new Map<number, number[]>();
  const puts = new Map<number, number[]>();
  const batches: number[] = [];
  let eventsPerSale = 0;
  const push = (m: Map<number, number[]>, k: number, v: number): void => {
    m.set(k, [...(m.get(k) ?? []), v]);
  };

  for (let r = 1; r <= opts.runs; r++) {
    for (const [concurrency, n] of cases) {
      // Fresh ids each run; drafts are built before the clock starts.
      const groups = sales.slice(0, n).map((s) => saleToDrafts(s, ulid()));
      await withTempDir('append', async (dir) => {
        const res = await timeEventLog(dir, groups, concurrency);
        eventsPerSale = res.events / n;
        push(logEvents, concurrency, perSecond(res.events, res.ms));
        push(logSales, concurrency, perSecond(n, res.ms));
        push(puts, concurrency, await timeRawPuts(dir, res.bytes, concurrency));
        if (concurrency === 64) batches.push(await timeRawBatches(dir, res.bytes, Math.round(MIN_BATCH_EVENTS * opts.scale)));
        opts.log(
          `run ${r}/${opts.runs}, ${concurrency} caller(s), ${n} sales / ${res.events} events: ` +
            `EventLog ${Math.round(perSecond(res.events, res.ms))} ev/s, raw put ${Math.round(puts.get(concurrency)!.at(-1)!)} ev/s` +
            (concurrency === 64 ? `, raw batch ${Math.round(batches.at(-1)!)} ev/s` : ''),
        );
      });
    }
  }

  const benchmark = 'append';
  const rows: BenchRow[] = [];
  for (const [c] of cases) {
    const who = `${c} caller${c === 1 ? '' : 's'}`;
    rows.push(rowFromSamples(
      { benchmark, case: `EventLog.append sale groups, ${who}`, unit: 'events/s', baselineLabel: `raw put sync ×${c}`,
        ...(c === 64 ? { target: { of: 'ratio', op: '>=', threshold: 3 } as const } : {}) },
      logEvents.get(c)!, puts.get(c)!,
    ));
    if (c === 64) {
      rows.push(rowFromSamples(
        { benchmark, case: `EventLog.append sale groups, ${who}`, unit: 'events/s', baselineLabel: `raw batch ${BATCH} sync`,
          target: { of: 'ratio', op: '>=', threshold: 0.5 } },
        logEvents.get(c)!, batches,
      ));
    }
  }
  for (const [c] of cases) {
    rows.push(rowFromSamples({ benchmark, case: `sales/s, ${c} caller${c === 1 ? '' : 's'} (${eventsPerSale.toFixed(2)} events/sale)`, unit: 'sales/s' }, logSales.get(c)!));
  }
  return rows;
}
