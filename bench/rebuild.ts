/**
 * Bench (b), issue 2: full rebuild of every terminal view from a 1M-event log
 * (`TerminalViews.rebuildFrom`: clear the view sublevels, fold all downstream
 * changes then all events, write the views), against a raw scan + msgpack decode
 * of the same log, in the same run on the same bytes:
 *   - baseline: the root classic-level `values()` iterator over the log
 *     sublevel's key range (`highWaterMarkBytes: 1 MiB`, `nextv(1000)`), each
 *     value decoded by one reused @msgpack/msgpack Decoder.
 * Target: rebuild ≥ 40% of the baseline's events/s. The rebuild's rate counts
 * log events only over its whole time (folding the ~28k catalog changes and
 * clearing and writing the views are in it), so it is conservative.
 *
 * The log is built ONCE per bench run in a temp dir through the real Terminal:
 * a catalog (20k items, 5k customers with opening balances, 1k vouchers) via
 * `applyChanges`, then fixture sale groups appended ~1,000 events per
 * `append` call (4 calls in flight) until `1,000,000 × --scale` events.
 * Building takes ~1 minute at scale 1 on a 2-core machine (55 s, 18k events/s,
 * measured under load; logged every run); the whole bench ~5 minutes (each
 * rebuild ~30 s, then a ~5 s digest). `--scale 0.05` is a 15-second look.
 * Correctness: the views' digest after every rebuild must equal the digest of
 * the incrementally built views; the bench throws if it does not.
 */
import { Decoder } from '@msgpack/msgpack';
import { monotonicFactory } from 'ulid';
import type { EventDraft } from '../src/events/event-types.ts';
import { BIG_READS } from '../src/events/level-util.ts';
import { catalogChanges } from '../src/fixtures/catalog-changes.ts';
import { generateCatalog } from '../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../src/fixtures/sales.ts';
import { DEFAULT_SETTINGS, Terminal } from '../src/terminal/terminal.ts';
import { perSecond, rowFromSamples, runConcurrent, withTempDir, type BenchOptions, type BenchRow } from './lib.ts';

const EVENTS = 1_000_000;
const ITEMS = 20_000;
const CUSTOMERS = 5000;
const VOUCHERS = 1000;
/** Events per `append` call (whole sale groups, so a little over), and calls in flight. */
const APPEND_GROUP = 1000;
const IN_FLIGHT = 4;
const CHANGE_PAGE = 1000;

async function buildLog(term: Terminal, opts: BenchOptions, target: number): Promise<{ events: number; sales: number; changes: number; ms: number }> {
  const t0 = performance.now();
  const catalog = generateCatalog({ seed: opts.seed, items: ITEMS });
  const customers = generateCustomers({ seed: opts.seed + 1, count: CUSTOMERS });
  const vouchers = generateVouchers({ seed: opts.seed + 2, count: VOUCHERS });
  const changes = catalogChanges({ settings: DEFAULT_SETTINGS, items: catalog, customers, vouchers });
  for (let i = 0; i < changes.length; i += CHANGE_PAGE) {
    const page = changes.slice(i, i + CHANGE_PAGE);
    await term.log.applyChanges(page, page.at(-1)!.cursor);
  }

  // Sale groups are cut into append groups lazily, so memory stays flat.
  const sales = generateSales({ seed: opts.seed + 3, catalog, customers, vouchers, count: Number.MAX_SAFE_INTEGER });
  const ulid = monotonicFactory();
  let events = 0;
  let saleCount = 0;
  const nextGroup = (): EventDraft[] | undefined => {
    if (events >= target) return undefined;
    const group: EventDraft[] = [];
    while (group.length < APPEND_GROUP && events + group.length < target) {
      const drafts = saleToDrafts(sales.next().value!, ulid());
      group.push(...drafts);
      saleCount++;
    }
    events += group.length;
    return group;
  };
  let lastLog = performance.now();
  const worker = async (): Promise<void> => {
    for (let g = nextGroup(); g; g = nextGroup()) {
      await term.log.append(g);
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        opts.log(`  building: ${term.log.head.seq.toLocaleString('en-US')} / ${target.toLocaleString('en-US')} events`);
      }
    }
  };
  await runConcurrent(IN_FLIGHT, IN_FLIGHT, worker);
  if (term.log.head.seq !== events) throw new Error(`log head is ${term.log.head.seq}, expected ${events}`);
  return { events, sales: saleCount, changes: changes.length, ms: performance.now() - t0 };
}

/** The baseline: every value of the log sublevel through the root db's iterator, decoded. */
async function rawScanDecode(term: Terminal): Promise<{ events: number; ms: number }> {
  const prefix = term.log.logDb.prefix;
  const upper = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const decoder = new Decoder();
  let events = 0;
  let sink = 0;
  const t0 = performance.now();
  const it = term.log.db.values({ gte: prefix, lt: upper, ...BIG_READS });
  try {
    for (;;) {
      const values = await it.nextv(1000);
      if (values.length === 0) break;
      for (const v of values) sink += (decoder.decode(v) as { seq: number }).seq;
      events += values.length;
    }
  } finally {
    await it.close();
  }
  const ms = performance.now() - t0;
  if (sink !== (events * (events + 1)) / 2) throw new Error('raw scan decoded unexpected seqs');
  return { events, ms };
}

type Digest = Record<string, { count: number; sha256: string }>;

function digestDiff(a: Digest, b: Digest): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
    (k) => a[k]?.sha256 !== b[k]?.sha256 || a[k]?.count !== b[k]?.count,
  ).map((k) => `${k}: ${a[k]?.count ?? '-'} → ${b[k]?.count ?? '-'}`);
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const target = Math.max(1000, Math.round(EVENTS * opts.scale));
  const rebuild: number[] = [];
  const raw: number[] = [];
  const rebuildMs: number[] = [];
  let built = { events: 0, sales: 0, changes: 0, ms: 0 };

  await withTempDir('rebuild', async (dir) => {
    const term = await Terminal.open(dir, { store: 'bench-store', terminal: 'bench-t1' });
    try {
      built = await buildLog(term, opts, target);
      opts.log(
        `built ${built.events.toLocaleString('en-US')} events (${built.sales.toLocaleString('en-US')} sales) + ` +
          `${built.changes.toLocaleString('en-US')} changes in ${(built.ms / 1000).toFixed(1)} s ` +
          `(${Math.round(perSecond(built.events, built.ms)).toLocaleString('en-US')} ev/s appended)`,
      );
      let t = performance.now();
      const incremental = await term.views.digest();
      opts.log(`digest of the incrementally built views: ${(performance.now() - t).toFixed(0)} ms ` +
        `(${Object.entries(incremental).map(([k, v]) => `${k} ${v.count}`).join(', ')})`);

      for (let r = 1; r <= opts.runs; r++) {
        const scan = await rawScanDecode(term);
        if (scan.events !== built.events) throw new Error(`raw scan saw ${scan.events} events, expected ${built.events}`);
        raw.push(perSecond(scan.events, scan.ms));

        t = performance.now();
        const res = await term.log.exclusive(() => term.views.rebuildFrom(term.log));
        const ms = performance.now() - t;
        if (res.events !== built.events || res.changes !== built.changes) {
          throw new Error(`rebuild folded ${res.events} events / ${res.changes} changes, expected ${built.events} / ${built.changes}`);
        }
        rebuild.push(perSecond(res.events, ms));
        rebuildMs.push(ms);

        t = performance.now();
        const after = await term.views.digest();
        const diff = digestDiff(incremental, after);
        if (diff.length > 0) throw new Error(`views after rebuild ${r} differ from the incremental views: ${diff.join('; ')}`);
        opts.log(
          `run ${r}/${opts.runs}: rebuild ${Math.round(rebuild.at(-1)!).toLocaleString('en-US')} ev/s (${(ms / 1000).toFixed(1)} s), ` +
            `raw scan+decode ${Math.round(raw.at(-1)!).toLocaleString('en-US')} ev/s (${(scan.ms / 1000).toFixed(1)} s); ` +
            `digest equal (${(performance.now() - t).toFixed(0)} ms)`,
        );
      }
    } finally {
      await term.close();
    }
  });

  const benchmark = 'rebuild';
  const n = `${(built.events / 1e6).toFixed(built.events >= 1e6 ? 0 : 2)}M events`;
  return [
    rowFromSamples(
      { benchmark, case: `rebuildFrom, all views, ${n} + ${Math.round(built.changes / 1000)}k changes`, unit: 'events/s',
        baselineLabel: 'raw scan + msgpack decode', target: { of: 'ratio', op: '>=', threshold: 0.4 } },
      rebuild, raw,
    ),
    rowFromSamples({ benchmark, case: `rebuildFrom wall time, ${n}`, unit: 's' }, rebuildMs.map((ms) => ms / 1000)),
    rowFromSamples({ benchmark, case: `building the log (once): append ~${APPEND_GROUP} events/call, ${IN_FLIGHT} in flight`, unit: 'events/s' },
      [perSecond(built.events, built.ms)]),
    rowFromSamples({ benchmark, case: 'views digest after rebuild = incremental (1 = yes)', unit: '', target: { of: 'value', op: '>=', threshold: 1 } },
      [1]),
  ];
}
