/**
 * `encodeCanonical` uses a hand-written writer (canonical-writer.ts) before
 * falling back to @msgpack/msgpack's sorting encoder. The bytes must be the
 * library's, byte for byte, for every value: hashes and the hash chain depend
 * on them. Seeded random values covering every msgpack form the writer makes,
 * fixture events, values it must leave to the library, and results kept across
 * slab changes (a later write must never change an earlier result).
 */
import t from 'tap';
import { Encoder } from '@msgpack/msgpack';
import { monotonicFactory } from 'ulid';
import { writeCanonical } from '../../src/events/canonical-writer.ts';
import { encodeCanonical, GENESIS_HASH } from '../../src/events/codec.ts';
import { parseEvent } from '../../src/events/validate.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import { createRng, seedFromEnv, type Rng } from '../../src/fixtures/prng.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';

const library = new Encoder({ sortKeys: true, ignoreUndefined: true });
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay: SEED=${seed})`);

const NUMBERS = [
  0, -0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1,
  -1, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000, -0x80000001, Number.MIN_SAFE_INTEGER, 0.5, -1.25, 1e300,
  Number.NaN, Infinity, -Infinity,
];
const STRINGS = ['', 'a', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(255), 'w'.repeat(256), 'Crème brûlée', 'Ærø 日本 🍣', 'é'.repeat(200)];
/** Forms over 64 KiB (str 32, bin 32, a slab change mid-value), used a few times only. */
const HUGE_STRING = 'v'.repeat(70_000);
const HUGE_BIN = new Uint8Array(70_000).fill(7);

function randomString(rng: Rng): string {
  if (rng.chance(0.002)) return HUGE_STRING;
  if (rng.chance(0.3)) return rng.pick(STRINGS);
  const n = rng.weighted([[rng.int(0, 8), 5], [rng.int(9, 40), 3], [rng.int(200, 300), 1]] as const);
  let s = '';
  for (let i = 0; i < n; i++) {
    s += String.fromCharCode(rng.weighted([[rng.int(0x20, 0x7e), 20], [rng.int(0, 0x1f), 1], [rng.int(0x80, 0x7ff), 2], [rng.int(0x800, 0xd7ff), 1], [rng.int(0xe000, 0xffff), 1]] as const));
  }
  return s;
}

function randomNumber(rng: Rng): number {
  if (rng.chance(0.4)) return rng.pick(NUMBERS);
  const magnitude = 2 ** rng.int(0, 53);
  const v = Math.floor(rng.next() * magnitude);
  return rng.chance(0.3) ? -v : rng.chance(0.1) ? v + 0.5 : v;
}

function randomValue(rng: Rng, depth: number): unknown {
  const kind = depth > 2 ? rng.int(0, 4) : rng.int(0, 7);
  switch (kind) {
    case 0: return randomString(rng);
    case 1: return randomNumber(rng);
    case 2: return rng.pick([true, false, null, undefined]);
    case 3: return rng.chance(0.002) ? HUGE_BIN : new Uint8Array(rng.weighted([[rng.int(0, 10), 5], [rng.int(250, 300), 1]] as const)).map(() => rng.int(0, 255));
    case 4: return randomString(rng);
    case 5: {
      const n = rng.weighted([[rng.int(0, 6), 10], [rng.int(16, 20), 1]] as const);
      return Array.from({ length: n }, () => randomValue(rng, depth + 1));
    }
    default: {
      const o: Record<string, unknown> = {};
      const n = rng.weighted([[rng.int(0, 6), 10], [rng.int(16, 20), 1]] as const);
      for (let i = 0; i < n; i++) o[rng.chance(0.8) ? rng.pick(['id', 'type', 'body', 'seq', 'amount', 'a', 'B', 'é', 'aa', '10', '9']) + (rng.chance(0.5) ? '' : randomString(rng)) : randomString(rng)] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

t.test('random values: the same bytes as the library, results stable across slabs', async (t) => {
  const rng = createRng(seed);
  const kept: Array<[Uint8Array, string]> = [];
  let mismatches = 0;
  let written = 0;
  for (let i = 0; i < 4000; i++) {
    const v = randomValue(rng, 0);
    const expected = hex(library.encode(v));
    const fast = writeCanonical(v);
    if (fast !== undefined) written++;
    const got = encodeCanonical(v);
    if (hex(got) !== expected) {
      mismatches++;
      if (mismatches <= 3) t.fail('bytes differ', { value: v, expected, got: hex(got) });
    }
    kept.push([got, expected]);
  }
  t.equal(mismatches, 0, 'every value encodes to the library bytes');
  t.ok(written > 3000, `the fast writer handled most values itself (${written} of 4000)`);
  t.equal(kept.filter(([b, e]) => hex(b) !== e).length, 0, 'earlier results unchanged after later writes');
});

t.test('fixture events: the same bytes as the library', async (t) => {
  const ulid = monotonicFactory();
  const catalog = generateCatalog({ seed, items: 500 });
  const drafts = [...generateSales({ seed: seed + 1, catalog, customers: generateCustomers({ seed, count: 50 }), vouchers: generateVouchers({ seed, count: 20 }), count: 500 })]
    .flatMap((s) => saleToDrafts(s, ulid()));
  let same = 0;
  drafts.forEach((d, i) => {
    const e = parseEvent({ id: d.id ?? ulid(), type: d.type, v: 1, store: 's1', terminal: 't1', seq: i + 1, time: 1_700_000_000_000 + i, prev: GENESIS_HASH, body: d.body });
    const fast = writeCanonical(e);
    if (fast !== undefined && hex(fast) === hex(library.encode(e))) same++;
  });
  t.equal(same, drafts.length, 'all written by the fast writer, all identical');
});

t.test('values the writer leaves to the library: same bytes or the same failure', async (t) => {
  class Point { x = 1; y = 2; }
  const deep: Record<string, unknown> = {};
  let cur = deep;
  for (let i = 0; i < 120; i++) cur = (cur.next = {}) as Record<string, unknown>;
  const cases: Array<[string, unknown]> = [
    ['a Date', { at: new Date(1_700_000_000_000) }],
    ['a class instance', { p: new Point() }],
    ['a lone surrogate', { s: 'a\ud800b' }],
    ['a Float32Array', new Float32Array([1.5])],
    ['a DataView', new DataView(new ArrayBuffer(4))],
    ['a bigint', { n: 10n }],
    ['a function', { f: () => 1 }],
    ['nesting beyond the library limit', deep],
  ];
  for (const [name, v] of cases) {
    t.equal(writeCanonical(v), undefined, `${name}: not written by the fast writer`);
    let expected: string;
    try {
      expected = hex(library.encode(v));
    } catch (err) {
      expected = `throws ${(err as Error).constructor.name}`;
    }
    let got: string;
    try {
      got = hex(encodeCanonical(v));
    } catch (err) {
      got = `throws ${(err as Error).constructor.name}`;
    }
    t.equal(got, expected, `${name}: encodeCanonical answers like the library`);
  }
});
