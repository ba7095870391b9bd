/**
 * Per-event CPU cost of what `EventLog` does inside its writer for every event
 * (validate, canonical encode, hash), on fixture sale groups. Best of 5 passes,
 * warm JIT; no I/O. Use it to see what a change in src/events buys:
 *
 *   npx tsx bench/tools/event-cost.ts [sales]
 */
import { Encoder } from '@msgpack/msgpack';
import { monotonicFactory } from 'ulid';
import { encodeCanonical, sha256Hex, GENESIS_HASH } from '../../src/events/codec.ts';
import { parseEvent, assertSafeShape, parseWith } from '../../src/events/validate.ts';
import { assertNoCardData } from '../../src/events/card-data.ts';
import { UPSTREAM_BODIES, envelopeSchema } from '../../src/events/event-types.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';
const catalog = generateCatalog({ seed: 1, items: 20_000 });
const ulid = monotonicFactory();
const drafts = [...generateSales({ seed: 4, catalog, customers: generateCustomers({ seed: 2, count: 2000 }), vouchers: generateVouchers({ seed: 3, count: 500 }), count: Number(process.argv[2] ?? 16000) })].flatMap((s) => saleToDrafts(s, ulid()));
const raws = drafts.map((d, i) => ({ id: d.id ?? ulid(), type: d.type, v: 1, store: 'bench-store', terminal: 'bench-t1', seq: i + 1, time: Date.now(), prev: GENESIS_HASH, body: d.body }));
const time = (label: string, fn: (r: (typeof raws)[number]) => unknown) => {
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) { const t0 = performance.now(); for (const r of raws) fn(r); best = Math.min(best, performance.now() - t0); }
  console.log(`${label.padEnd(40)} ${(best * 1000 / raws.length).toFixed(2)} µs/event`);
};
const parsed = raws.map((r) => parseEvent(r));
time('parseEvent (all)', (r) => parseEvent(r));
time('  assertSafeShape', (r) => assertSafeShape(r));
time('  assertNoCardData', (r) => assertNoCardData(r));
time('  zod envelope', (r) => parseWith(envelopeSchema, r, ''));
time('  zod body', (r) => parseWith(UPSTREAM_BODIES[r.type], r.body, 'body'));
let i = 0;
time('encodeCanonical', () => encodeCanonical(parsed[i++ % parsed.length]));
const bytes = parsed.map((p) => encodeCanonical(p));
i = 0;
time('sha256Hex', () => sha256Hex(bytes[i++ % bytes.length]!));
console.log(`avg event ${Math.round(bytes.reduce((n, b) => n + b.length, 0) / bytes.length)} bytes`);
const sorted = new Encoder({ sortKeys: true, ignoreUndefined: true });
const plain = new Encoder({ ignoreUndefined: true });
const plain2 = new Encoder();
i = 0;
time('Encoder sortKeys, no copy', () => sorted.encode(parsed[i++ % parsed.length]));
i = 0;
time('Encoder no sortKeys, ignoreUndefined', () => plain.encode(parsed[i++ % parsed.length]));
i = 0;
time('Encoder no options', () => plain2.encode(parsed[i++ % parsed.length]));
i = 0;
time('JSON.stringify (reference)', () => JSON.stringify(parsed[i++ % parsed.length]));
