/**
 * Per-event CPU cost of the cloud's upload phases on fixture events, no I/O,
 * warm JIT, best of 5 passes over 1000-event batches:
 *
 *   npx tsx bench/tools/upload-cost.ts [events=50000]
 *
 * decodeUploadBody (what a decode pool worker runs per body), decodeUpload, and
 * their parts: body decode, columns, per-event decode, parseEvent, canonical
 * check, hash, and the one-pass scan (event-scan.ts) that decodeUploadBody
 * tries first. Use it to see what a change in src/server/upload.ts buys.
 */
import { Encoder } from '@msgpack/msgpack';
import { monotonicFactory } from 'ulid';
import { decodeUntrusted, encodeCanonical, GENESIS_HASH, sha256Hex } from '../../src/events/codec.ts';
import type { TillEvent } from '../../src/events/event-types.ts';
import { parseEvent } from '../../src/events/validate.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';
import { EventScan } from '../../src/server/event-scan.ts';
import { packUploadBatch } from '../../src/server/upload-batch.ts';
import { decodeCanonical, decodeUpload, decodeUploadBody, NOT_SURE } from '../../src/server/upload.ts';

const n = Number(process.argv[2] ?? 50_000);
const ulid = monotonicFactory();
const catalog = generateCatalog({ seed: 1, items: 20_000 });
const drafts = [];
for (const s of generateSales({ seed: 4, catalog, customers: generateCustomers({ seed: 2, count: 2000 }), vouchers: generateVouchers({ seed: 3, count: 500 }), count: n })) {
  drafts.push(...saleToDrafts(s, ulid()));
  if (drafts.length >= n) break;
}
let prev = GENESIS_HASH;
const bytes: Uint8Array[] = drafts.slice(0, n).map((d, i) => {
  const ev = { id: d.id ?? ulid(), type: d.type, v: 1, store: 'bench-store', terminal: 'bench-t1', seq: i + 1, time: 1_700_000_000_000 + i, prev, body: d.body } as TillEvent;
  const b = encodeCanonical(ev);
  prev = sha256Hex(b);
  return b;
});
const enc = new Encoder({ ignoreUndefined: true });
const bodies: Uint8Array[] = [];
for (let i = 0; i < bytes.length; i += 1000) bodies.push(enc.encode({ v: 1, events: bytes.slice(i, i + 1000) }).slice());
const cred = { tokenHash: 'x', store: 'bench-store', terminal: 'bench-t1', revoked: false };
const decodedBodies = bodies.map((b) => decodeUntrusted(b, { maxBytes: 8 << 20 }));
const events = bytes.map((b) => decodeUntrusted(b));
const parsed = events.map((e) => parseEvent(e));

const time = (label: string, fn: () => void) => {
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`${label.padEnd(44)} ${((best * 1000) / bytes.length).toFixed(2)} µs/event`);
};
console.log(`${bytes.length} events, avg ${Math.round(bytes.reduce((a, b) => a + b.byteLength, 0) / bytes.length)} bytes, ${bodies.length} batches`);
time('body decode (wire.ts parser)', () => bodies.forEach((b) => decodeUntrusted(b, { maxBytes: 8 << 20 })));
time('decodeUploadBody (phase 1 in a pool worker)', () => bodies.forEach((b) => decodeUploadBody(b, cred)));
time('decodeUpload (phase 1 after the body decode)', () => decodedBodies.forEach((b) => decodeUpload(b, 'msgpack', cred)));
const incoming = decodedBodies.map((b) => decodeUpload(b, 'msgpack', cred));
time('  packUploadBatch (columns for phase 2)', () => incoming.forEach((evs, i) => packUploadBatch(evs, bodies[i])));
time('  decodeUntrusted per event', () => bytes.forEach((b) => decodeUntrusted(b)));
time('  parseEvent', () => events.forEach((e) => parseEvent(e)));
time('  encodeCanonical (canonical check)', () => parsed.forEach((e) => encodeCanonical(e)));
const slow = bytes.filter((b) => decodeCanonical(b) === NOT_SURE).length;
console.log(`decodeCanonical fast path taken for ${bytes.length - slow} of ${bytes.length} events`);
time('  decodeCanonical (fast path: decode + check)', () => bytes.forEach((b) => decodeCanonical(b)));
time('  sha256Hex', () => bytes.forEach((b) => sha256Hex(b)));
const scan = new EventScan(cred);
console.log(`EventScan (one pass, no objects) takes ${bytes.filter((b) => scan.scan(b)).length} of ${bytes.length} events`);
time('  EventScan.scan (what decodeUploadBody runs first)', () => bytes.forEach((b) => scan.scan(b)));
