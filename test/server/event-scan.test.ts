/**
 * `EventScan` (the upload's one-pass check of an event's bytes) must be
 * invisible: whenever it accepts bytes, the object path (decodeCanonical →
 * parseEvent → the store / terminal check) accepts them too and gives the same
 * facts; whatever the object path refuses, it refuses. And `decodeUploadBody`,
 * which uses it, answers exactly like the object path on whole batches. Seeded
 * random mutations of fixture events of every type, as values and as bytes.
 */
import { Encoder } from '@msgpack/msgpack';
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { decodeUntrusted, encodeCanonical, GENESIS_HASH } from '../../src/events/codec.ts';
import { LIMITS } from '../../src/replication/protocol.ts';
import { createRng, seedFromEnv, type Rng } from '../../src/fixtures/prng.ts';
import { EventScan, type EventFacts } from '../../src/server/event-scan.ts';
import { factsOf, packUploadBatch } from '../../src/server/upload-batch.ts';
import { decodeUpload, decodeUploadBody } from '../../src/server/upload.ts';
import { mutate, sampleDrafts } from '../helpers/mutations.ts';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay: SEED=${seed})`);
const cred = { store: 's1', terminal: 't1' };

type Obj = Record<string, unknown>;
const samples: Obj[] = sampleDrafts(seed).map((d, i) => ({
  id: d.id ?? '01HZX3K8Q9V7D2M4N6P8R0S2T4', type: d.type, v: 1, store: 's1', terminal: 't1', seq: i + 1,
  time: d.time ?? 1_700_000_000_000, prev: GENESIS_HASH, body: d.body,
}));

type Outcome = { ok: true; facts: EventFacts; hash: string } | { ok: false; code: string };
/** The object path on one event's bytes. */
function objectPath(bytes: Uint8Array): Outcome {
  try {
    const [e] = decodeUpload({ v: 1, events: [bytes] }, 'msgpack', cred);
    return { ok: true, facts: factsOf(e!.event), hash: e!.hash };
  } catch (err) {
    return { ok: false, code: String((err as { code?: unknown }).code) };
  }
}

function bytesMutation(b: Uint8Array, rng: Rng): Uint8Array {
  const out = [...b];
  const at = rng.int(0, Math.max(0, out.length - 1));
  switch (rng.int(0, 3)) {
    case 0: out[at] = rng.int(0, 255); break;
    case 1: out.splice(at, 0, rng.int(0, 255)); break;
    case 2: out.splice(at, 1); break;
    default: out.length = at; break;
  }
  return Uint8Array.from(out);
}

/** Inputs: unmutated events, value mutations (canonically encoded), byte mutations, non-canonical encodings. */
function inputs(rng: Rng, count: number): Uint8Array[] {
  const plain = new Encoder(); // keys in insertion order: not canonical
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const value = structuredClone(rng.pick(samples));
    const kind = i % 5;
    if (kind === 1 || kind === 2) {
      for (let r = rng.int(1, 3); r > 0; r--) mutate(value, rng);
    }
    let bytes: Uint8Array;
    try {
      bytes = kind === 4 && rng.int(0, 3) === 0 ? plain.encode(value) : encodeCanonical(value as never);
    } catch {
      continue; // a value the encoder cannot take: nothing to send
    }
    if (kind === 3 || kind === 4) bytes = bytesMutation(bytes, rng);
    out.push(bytes);
  }
  return out;
}

t.test('it takes the fast path for valid events of every type and gives their facts', async (t) => {
  const scan = new EventScan(cred);
  const types = new Set<string>();
  for (const value of samples) {
    const bytes = encodeCanonical(value as never);
    const ref = objectPath(bytes);
    t.ok(ref.ok, `${String(value.type)} is valid`);
    t.ok(scan.scan(bytes), `${String(value.type)} scanned`);
    if (ref.ok) t.same({ ...scan.facts }, ref.facts, `${String(value.type)} facts`);
    types.add(String(value.type));
  }
  t.same([...types].sort(), ['balance.delta', 'payment.taken', 'sale.completed', 'sale.refunded', 'sale.voided', 'voucher.issued', 'voucher.redeemed']);
});

t.test('never accepts what the object path refuses; same facts where both accept', async (t) => {
  const rng = createRng(seed);
  const scan = new EventScan(cred);
  let scanned = 0;
  let refused = 0;
  let unsure = 0;
  let bad = 0;
  for (const bytes of inputs(rng, 6000)) {
    const ref = objectPath(bytes);
    const ok = scan.scan(bytes);
    if (!ref.ok) refused++;
    if (ok) scanned++;
    else if (ref.ok) unsure++;
    if (ok && (!ref.ok || !isDeepStrictEqual({ ...scan.facts }, ref.facts))) {
      bad++;
      if (bad <= 5) t.fail('scan accepted differently', { bytes: Buffer.from(bytes).toString('hex'), ref, facts: { ...scan.facts } });
    }
  }
  t.equal(bad, 0, 'no input the scan accepts that the object path refuses or reads differently');
  t.ok(scanned > 1000, `scan accepted ${scanned}`);
  t.ok(refused > 1500, `object path refused ${refused}`);
  t.comment(`valid events left to the object path: ${unsure}`);
});

t.test("the type read off an event's last bytes never lets a body of another type through", async (t) => {
  // The scan checks the body against the type its tail names before it reads the type in its place.
  const scan = new EventScan(cred);
  const types = [...new Set(samples.map((s) => String(s.type)))];
  let tried = 0;
  let wrong = 0;
  for (const sample of samples) {
    for (const type of types) {
      for (const body of [sample.body, samples.find((s) => s.type === type)!.body]) {
        const value = { ...sample, type, body };
        const bytes = encodeCanonical(value as never);
        const ref = objectPath(bytes);
        tried++;
        if (scan.scan(bytes) && (!ref.ok || !isDeepStrictEqual({ ...scan.facts }, ref.facts))) {
          if (wrong++ < 3) t.fail(`${String(sample.type)} body as ${type} accepted differently`, { ref });
        }
      }
    }
  }
  t.equal(wrong, 0, `none of ${tried} type/body pairings accepted unlike the object path`);
  // Keys out of canonical order (type and v not last): no tail, the body is skipped first; the object path refuses (NOT_CANONICAL).
  const plain = new Encoder().encode({ v: 1, type: samples[0]!.type, ...samples[0]! });
  t.notOk(scan.scan(plain), 'non-canonical key order is left to the object path');
});

t.test('leaves to the object path what it cannot judge alone', async (t) => {
  const scan = new EventScan(cred);
  const sale = samples.find((s) => s.type === 'sale.completed')!;
  const withName = (name: string): Uint8Array => {
    const v = structuredClone(sale);
    ((v.body as Obj).lines as Obj[])[0]!.name = name;
    return encodeCanonical(v as never);
  };
  // A card number: the object path says FULL_CARD_NUMBER.
  const pan = withName('gift 4111 1111 1111 1111');
  t.notOk(scan.scan(pan));
  t.match(objectPath(pan), { ok: false, code: 'FULL_CARD_NUMBER' });
  // 13 digits that fail Luhn: valid, but only the object path checks Luhn.
  const digits = withName('order 1234567890123');
  t.notOk(scan.scan(digits));
  t.match(objectPath(digits), { ok: true });
  // Non-ASCII text is scanned; a leading BOM is not (the decoder drops it).
  t.ok(scan.scan(withName('Crème brûlée 🍮')));
  t.notOk(scan.scan(withName('\uFEFFTea')));
  // Text up to 200 UTF-16 code units (an emoji is two).
  t.ok(scan.scan(withName('x'.repeat(200))));
  t.notOk(scan.scan(withName('x'.repeat(201))));
  t.match(objectPath(withName('x'.repeat(201))), { ok: false, code: 'VALIDATION_FAILED' });
  t.ok(scan.scan(withName('x'.repeat(198) + '🍮')));
  t.notOk(scan.scan(withName('x'.repeat(199) + '🍮')));
  // A line discounted below zero, with totals that add up otherwise.
  const line = { item: 'i1', name: 'Tea', qty: 1, unitPrice: 100, discount: 150, tax: 100 };
  const over = encodeCanonical({ ...sale, body: { currency: 'USD', lines: [line], subtotal: 100, discount: 150, tax: 100, total: 50 } } as never);
  t.notOk(scan.scan(over));
  t.match(objectPath(over), { ok: false, code: 'SALE_TOTAL_MISMATCH' });
  // Another terminal's event: WRONG_TERMINAL from the object path.
  const other = encodeCanonical({ ...sale, terminal: 't2' } as never);
  t.notOk(scan.scan(other));
  t.match(objectPath(other), { ok: false, code: 'WRONG_TERMINAL' });
  // A credential whose own id the fields would refuse: never scanned.
  t.notOk(new EventScan({ store: 's1', terminal: '4111111111111111' }).scan(encodeCanonical({ ...sale, terminal: '4111111111111111' } as never)));
});

t.test('refuses integers and strings in longer forms than the shortest', async (t) => {
  const scan = new EventScan(cred);
  const delta = samples.find((s) => s.type === 'balance.delta')!;
  const deltaKey = Buffer.from([0xa5, ...Buffer.from('delta')]);
  /** Every msgpack form of integer v longer than the shortest one. */
  const longer = (v: number): Buffer[] => {
    const forms: Buffer[] = [];
    const put = (tag: number, size: number, write: (b: Buffer) => void): void => {
      const b = Buffer.alloc(1 + size);
      b[0] = tag;
      write(b);
      forms.push(b);
    };
    if (v >= 0) {
      if (v <= 0xff) put(0xcc, 1, (b) => b.writeUInt8(v, 1));
      if (v <= 0xffff) put(0xcd, 2, (b) => b.writeUInt16BE(v, 1));
      if (v <= 0xffffffff) put(0xce, 4, (b) => b.writeUInt32BE(v, 1));
      put(0xcf, 8, (b) => b.writeBigUInt64BE(BigInt(v), 1));
    }
    if (v >= -0x80 && v <= 0x7f) put(0xd0, 1, (b) => b.writeInt8(v, 1));
    if (v >= -0x8000 && v <= 0x7fff) put(0xd1, 2, (b) => b.writeInt16BE(v, 1));
    if (v >= -0x80000000 && v <= 0x7fffffff) put(0xd2, 4, (b) => b.writeInt32BE(v, 1));
    put(0xd3, 8, (b) => b.writeBigInt64BE(BigInt(v), 1));
    const shortest = Buffer.from(encodeCanonical(v as never));
    return forms.filter((f) => f.length > shortest.length || (f.length === shortest.length && !f.equals(shortest)));
  };
  let checked = 0;
  for (const v of [5, 127, 128, -1, -32, -33, -128, -129, 200, 255, 256, 65535, 65536, -32768, -32769, 1_000_000_000, -1_000_000_000]) {
    const canonical = Buffer.from(encodeCanonical({ ...delta, body: { ...(delta.body as Obj), delta: v } } as never));
    t.ok(scan.scan(canonical), `${v} in its shortest form`);
    t.equal(scan.facts.amount, v);
    const at = canonical.indexOf(deltaKey) + deltaKey.length;
    const shortLen = Buffer.from(encodeCanonical(v as never)).length;
    for (const form of longer(v)) {
      const bytes = Buffer.concat([canonical.subarray(0, at), form, canonical.subarray(at + shortLen)]);
      t.notOk(scan.scan(bytes), `${v} as ${form.toString('hex')}`);
      t.match(objectPath(bytes), { ok: false, code: 'NOT_CANONICAL' });
      checked++;
    }
  }
  t.ok(checked > 30);
  // A short string in a str 8 header.
  const canonical = Buffer.from(encodeCanonical({ ...delta, body: { ...(delta.body as Obj), note: 'hi' } } as never));
  const note = Buffer.from([0xa4, ...Buffer.from('note'), 0xa2]);
  const at = canonical.indexOf(note) + note.length - 1;
  const str8 = Buffer.concat([canonical.subarray(0, at), Buffer.from([0xd9, 2]), canonical.subarray(at + 1)]);
  t.ok(scan.scan(canonical));
  t.notOk(scan.scan(str8));
  t.match(objectPath(str8), { ok: false, code: 'NOT_CANONICAL' });
  // In a sale: a 40-byte name in a str 16 header, 3 lines in an array 16 header, an overlong UTF-8 é.
  const sale = samples.find((s) => s.type === 'sale.completed')!;
  const lines = Array.from({ length: 3 }, (_, i) => ({ item: `i${i}`, name: i === 0 ? 'n'.repeat(40) : 'caf\u00e9', qty: 1, unitPrice: 100, discount: 0, tax: 0 }));
  const good = Buffer.from(encodeCanonical({ ...sale, body: { currency: 'USD', lines, subtotal: 300, discount: 0, tax: 0, total: 300 } } as never));
  t.ok(scan.scan(good));
  const swap = (from: number[], to: number[]): Buffer => {
    const at = good.indexOf(Buffer.from(from));
    t.ok(at > 0, `found ${Buffer.from(from).toString('hex')}`);
    return Buffer.concat([good.subarray(0, at), Buffer.from(to), good.subarray(at + from.length)]);
  };
  for (const bytes of [
    swap([0xd9, 40], [0xda, 0, 40]),
    swap([0xa5, ...Buffer.from('lines'), 0x93], [0xa5, ...Buffer.from('lines'), 0xdc, 0, 3]),
    swap([0xa5, 0x63, 0x61, 0x66, 0xc3, 0xa9], [0xa6, 0x63, 0x61, 0x66, 0xe0, 0x83, 0xa9]),
  ]) {
    t.notOk(scan.scan(bytes), bytes.toString('hex'));
    t.match(objectPath(bytes), { ok: false, code: 'NOT_CANONICAL' });
  }
});

t.test('decodeUploadBody answers like the object path on whole batches', async (t) => {
  const rng = createRng(seed + 1);
  const pool = inputs(rng, 2000);
  const enc = new Encoder();
  let same = 0;
  for (let i = 0; i < 300; i++) {
    const events = Array.from({ length: rng.int(1, 6) }, () => rng.pick(pool));
    const body = enc.encode({ v: 1, events }).slice();
    const run = (fn: () => unknown): unknown => {
      try {
        return { ok: fn() };
      } catch (err) {
        const e = err as { code?: unknown; details?: unknown };
        return { code: e.code, details: e.details };
      }
    };
    const a = run(() => decodeUploadBody(body, cred));
    const b = run(() => packUploadBatch(decodeUpload(decodeUntrusted(body, { maxBytes: LIMITS.maxBodyBytes }), 'msgpack', cred), body));
    if (isDeepStrictEqual(a, b)) same++;
    else if (i - same < 5) t.fail('batch answered differently', { a, b });
  }
  t.equal(same, 300, 'every batch answered the same');
});
