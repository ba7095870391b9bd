/**
 * Bench (c), issue 2: lookup latency on a 100k-item terminal catalog (fixture
 * catalog, seed = --seed, applied through `applyChanges` in pages of 1,000).
 *   - `term.searchItems(q)` over a seeded, realistic query mix (prefixes of 1–4
 *     characters of item name words, whole words, two-word queries, accented and
 *     upper-case variants, SKUs as printed and compacted, misses). Baseline in the
 *     same run on the same queries: a naive linear scan over every item's
 *     normalized name (+ compacted SKU) with `includes` for each query token,
 *     all matches collected (a ranked top 20 needs them all), first 20 returned
 *     without ranking: a lower bound for a linear scan that ranks.
 *   - `term.scan(barcode)`: known barcodes (any of an item's codes) and 10%
 *     unknown valid EAN-13s (ITEM_NOT_FOUND, caught). Baseline: a plain
 *     `Map<barcode, item>` lookup.
 * Every call is timed alone with `process.hrtime.bigint()`; rows report p50, p99
 * and p99.9 in ms (medians over runs). Target: searchItems p50 < 5 ms.
 * Ratios are value / baseline: below 1× the index is faster. Takes ~4 minutes
 * at scale 1 (the naive scan and the slow short prefixes dominate).
 */
import { isTillsyncError } from '../src/errors.ts';
import type { ItemRecord } from '../src/events/event-types.ts';
import { catalogChanges } from '../src/fixtures/catalog-changes.ts';
import { generateCatalog } from '../src/fixtures/catalog.ts';
import { randomEan13 } from '../src/fixtures/ean13.ts';
import { createRng, type Rng } from '../src/fixtures/prng.ts';
import { compactKey, normalizeText, tokenize } from '../src/projections/text-index.ts';
import { DEFAULT_SETTINGS, Terminal } from '../src/terminal/terminal.ts';
import { median, rowFromSamples, withTempDir, type BenchOptions, type BenchRow } from './lib.ts';

const ITEMS = 100_000;
const QUERIES = 2000;
const SCANS = 20_000;
const WARMUP = 200;
const LIMIT = 20;
const PERCENTILES: ReadonlyArray<readonly [string, number]> = [['p50', 0.5], ['p99', 0.99], ['p99.9', 0.999]];

type Kind = 'prefix 1' | 'prefix 2' | 'prefix 3' | 'prefix 4' | 'word' | 'two words' | 'accent/case' | 'sku' | 'miss';
const KINDS: ReadonlyArray<readonly [Kind, number]> = [
  ['prefix 1', 8], ['prefix 2', 12], ['prefix 3', 14], ['prefix 4', 12], ['word', 16],
  ['two words', 14], ['accent/case', 12], ['sku', 6], ['miss', 6],
];

interface Query {
  kind: Kind;
  text: string;
}

/** Words of a name as typed: letters in them, case and accents kept. */
function nameWords(name: string): string[] {
  return name.split(/\s+/).filter((w) => /\p{L}{2,}/u.test(w));
}

/** Letters no fixture word is made of only, so these strings match nothing. */
function nonsense(rng: Rng): string {
  let s = '';
  const n = rng.int(4, 7);
  for (let i = 0; i < n; i++) s += 'qxzjvkw'[rng.int(0, 6)];
  return s;
}

function makeQueries(rng: Rng, items: readonly ItemRecord[], count: number): Query[] {
  const out: Query[] = [];
  while (out.length < count) {
    const kind = rng.weighted(KINDS);
    const item = rng.pick(items);
    const words = nameWords(item.name);
    const word = rng.pick(words);
    let text: string;
    switch (kind) {
      case 'prefix 1':
      case 'prefix 2':
      case 'prefix 3':
      case 'prefix 4':
        text = [...word.toLowerCase()].slice(0, Number(kind.slice(-1))).join('');
        break;
      case 'word':
        text = word.toLowerCase();
        break;
      case 'two words': {
        // Two words of one name in order, the second one partly typed.
        const i = words.length > 1 ? rng.int(0, words.length - 2) : 0;
        const second = words[i + 1] ?? rng.pick(words);
        text = `${words[i]!.toLowerCase()} ${second.toLowerCase().slice(0, rng.int(2, Math.max(2, second.length)))}`;
        break;
      }
      case 'accent/case': {
        // Upper case with accents kept, accents dropped, or as printed (capitalised).
        const accented = words.find((w) => normalizeText(w) !== w.toLowerCase()) ?? word;
        const r = rng.int(0, 2);
        text = r === 0 ? accented.toUpperCase() : r === 1 ? accented.normalize('NFD').replace(/[\u0300-\u036f]/g, '') : accented;
        break;
      }
      case 'sku':
        text = rng.chance(0.5) ? item.sku : compactKey(item.sku).toUpperCase();
        break;
      case 'miss':
        text = rng.chance(0.5) ? nonsense(rng) : `${word.toLowerCase()} ${nonsense(rng)}`;
        break;
    }
    out.push({ kind, text });
  }
  return out;
}

/** Nearest-rank percentile of ns samples, in ms. */
function percentileMs(sortedNs: readonly bigint[], q: number): number {
  const i = Math.min(sortedNs.length - 1, Math.max(0, Math.ceil(q * sortedNs.length) - 1));
  return Number(sortedNs[i]!) / 1e6;
}

function sortNs(xs: bigint[]): bigint[] {
  return xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Times `fn(x)` alone for every input; returns ns per call, in input order. */
function timeEach<T>(inputs: readonly T[], fn: (x: T) => unknown): bigint[] {
  const out = new Array<bigint>(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const t0 = process.hrtime.bigint();
    fn(inputs[i]!);
    out[i] = process.hrtime.bigint() - t0;
  }
  return out;
}

class NaiveSearch {
  private readonly haystacks: string[];
  private readonly items: readonly ItemRecord[];
  constructor(items: readonly ItemRecord[]) {
    this.items = items;
    this.haystacks = items.map((it) => `${normalizeText(it.name)} ${compactKey(it.sku)}`);
  }
  search(query: string): ItemRecord[] {
    const q = tokenize(query);
    const out: ItemRecord[] = [];
    if (q.length === 0) return out;
    // Every item is looked at (a ranked answer needs all matches); no ranking here.
    for (let i = 0; i < this.haystacks.length; i++) {
      const h = this.haystacks[i]!;
      if (q.every((t) => h.includes(t))) out.push(this.items[i]!);
    }
    return out.slice(0, LIMIT);
  }
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const nItems = Math.max(1000, Math.round(ITEMS * opts.scale));
  const catalog = generateCatalog({ seed: opts.seed, items: nItems });
  const rng = createRng(opts.seed + 10);
  const queries = makeQueries(rng, catalog, QUERIES);
  const known = catalog.flatMap((it) => it.barcodes);
  const knownSet = new Set(known);
  const barcodes: string[] = [];
  while (barcodes.length < SCANS) {
    if (rng.chance(0.9)) barcodes.push(rng.pick(known));
    else {
      const code = randomEan13(rng);
      if (!knownSet.has(code)) barcodes.push(code);
    }
  }
  const byBarcode = new Map<string, ItemRecord>();
  for (const it of catalog) for (const code of it.barcodes) byBarcode.set(code, it);
  const naive = new NaiveSearch(catalog);

  // Per percentile: samples over runs, for the index and the baseline.
  const search = new Map<string, number[]>();
  const searchBase = new Map<string, number[]>();
  const scan = new Map<string, number[]>();
  const scanBase = new Map<string, number[]>();
  const kindP99 = new Map<Kind, number[]>();
  const kindP99Base = new Map<Kind, number[]>();
  const push = <K>(m: Map<K, number[]>, k: K, v: number): void => {
    m.set(k, [...(m.get(k) ?? []), v]);
  };
  let firstSearchMs = 0;
  let hitRate = 0;
  let notFound = 0;

  await withTempDir('search', async (dir) => {
    const term = await Terminal.open(dir, { store: 'bench-store', terminal: 'bench-t1' });
    try {
      let t = performance.now();
      const changes = catalogChanges({ settings: DEFAULT_SETTINGS, items: catalog });
      for (let i = 0; i < changes.length; i += 1000) {
        const page = changes.slice(i, i + 1000);
        await term.log.applyChanges(page, page.at(-1)!.cursor);
      }
      opts.log(`applied ${nItems.toLocaleString('en-US')} items in ${((performance.now() - t) / 1000).toFixed(1)} s; ` +
        `index holds ${term.views.itemIndex.size.toLocaleString('en-US')} items`);
      if (term.views.itemIndex.size !== nItems) throw new Error(`index holds ${term.views.itemIndex.size} items, expected ${nItems}`);
      t = performance.now();
      term.searchItems(queries[0]!.text);
      firstSearchMs = performance.now() - t;
      opts.log(`first searchItems after loading (sorts the token list): ${firstSearchMs.toFixed(1)} ms`);
      hitRate = queries.filter((q) => term.searchItems(q.text).length > 0).length / queries.length;
      const naiveHits = queries.filter((q) => naive.search(q.text).length > 0).length / queries.length;
      opts.log(`queries with ≥ 1 hit: searchItems ${(100 * hitRate).toFixed(1)}%, naive ${(100 * naiveHits).toFixed(1)}%`);

      const doScan = (code: string): ItemRecord | undefined => {
        try {
          return term.scan(code);
        } catch (err) {
          if (isTillsyncError(err, 'ITEM_NOT_FOUND')) return undefined;
          throw err;
        }
      };
      notFound = barcodes.filter((b) => doScan(b) === undefined).length;
      if (notFound !== barcodes.filter((b) => !byBarcode.has(b)).length) throw new Error('scan and the Map disagree on known barcodes');

      for (let r = 1; r <= opts.runs; r++) {
        timeEach(queries.slice(0, WARMUP), (q) => term.searchItems(q.text));
        const idx = timeEach(queries, (q) => term.searchItems(q.text));
        timeEach(queries.slice(0, WARMUP), (q) => naive.search(q.text));
        const base = timeEach(queries, (q) => naive.search(q.text));
        const sIdx = sortNs([...idx]);
        const sBase = sortNs([...base]);
        for (const [name, q] of PERCENTILES) {
          push(search, name, percentileMs(sIdx, q));
          push(searchBase, name, percentileMs(sBase, q));
        }
        const perKind: string[] = [];
        for (const [kind] of KINDS) {
          const ki = sortNs(idx.filter((_, i) => queries[i]!.kind === kind));
          const kb = sortNs(base.filter((_, i) => queries[i]!.kind === kind));
          push(kindP99, kind, percentileMs(ki, 0.99));
          push(kindP99Base, kind, percentileMs(kb, 0.99));
          perKind.push(`${kind} ${percentileMs(ki, 0.5).toFixed(2)}/${percentileMs(ki, 0.99).toFixed(2)}`);
        }

        timeEach(barcodes.slice(0, WARMUP * 10), doScan);
        const sc = sortNs(timeEach(barcodes, doScan));
        timeEach(barcodes.slice(0, WARMUP * 10), (b) => byBarcode.get(b));
        const scb = sortNs(timeEach(barcodes, (b) => byBarcode.get(b)));
        for (const [name, q] of PERCENTILES) {
          push(scan, name, percentileMs(sc, q));
          push(scanBase, name, percentileMs(scb, q));
        }
        opts.log(
          `run ${r}/${opts.runs}: searchItems p50 ${search.get('p50')!.at(-1)!.toFixed(3)} ms p99 ${search.get('p99')!.at(-1)!.toFixed(3)} ms ` +
            `(naive ${searchBase.get('p50')!.at(-1)!.toFixed(3)} / ${searchBase.get('p99')!.at(-1)!.toFixed(3)}); ` +
            `scan p50 ${(scan.get('p50')!.at(-1)! * 1000).toFixed(2)} µs p99 ${(scan.get('p99')!.at(-1)! * 1000).toFixed(2)} µs`,
        );
        opts.log(`  searchItems p50/p99 ms by kind: ${perKind.join(', ')}`);
      }
    } finally {
      await term.close();
    }
  });

  const benchmark = 'search';
  const items = `${Math.round(nItems / 1000)}k items`;
  const rows: BenchRow[] = [];
  for (const [name] of PERCENTILES) {
    rows.push(rowFromSamples(
      { benchmark, case: `searchItems ${name}, ${items}, ${QUERIES} mixed queries`, unit: 'ms', baselineLabel: 'naive includes scan',
        ...(name === 'p50' ? { target: { of: 'value', op: '<=', threshold: 5 } as const } : {}) },
      search.get(name)!, searchBase.get(name)!,
    ));
  }
  for (const [kind, weight] of KINDS) {
    rows.push(rowFromSamples(
      { benchmark, case: `searchItems p99, ${kind} (${weight}% of queries)`, unit: 'ms', baselineLabel: 'naive includes scan' },
      kindP99.get(kind)!, kindP99Base.get(kind)!,
    ));
  }
  rows.push(rowFromSamples({ benchmark, case: 'first searchItems after load (sorts token list, once)', unit: 'ms' }, [firstSearchMs]));
  for (const [name] of PERCENTILES) {
    rows.push(rowFromSamples(
      { benchmark, case: `scan ${name}, ${SCANS / 1000}k barcodes (${((100 * notFound) / SCANS).toFixed(0)}% unknown)`, unit: 'ms', baselineLabel: 'Map.get' },
      scan.get(name)!, scanBase.get(name)!,
    ));
  }
  opts.log(`hit rate ${(100 * hitRate).toFixed(1)}%; median p50 ${median(search.get('p50')!).toFixed(3)} ms`);
  return rows;
}
