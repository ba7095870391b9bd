/**
 * Checks that upload's fast path (`decodeCanonical`) answers exactly like the
 * original per-event steps (decodeUntrusted → parseEvent → re-encode and
 * compare) on fixture events and on random mutations of them (byte flips,
 * insertions, deletions, truncations): same event or same error code.
 *
 *   npx tsx bench/tools/canonical-fuzz.ts [events=20000] [mutationsPerEvent=20]
 */
import { isDeepStrictEqual } from 'node:util';
import { monotonicFactory } from 'ulid';
import { isTillsyncError, TillsyncError } from '../../src/errors.ts';
import { decodeUntrusted, encodeCanonical, GENESIS_HASH, sha256Hex } from '../../src/events/codec.ts';
import type { TillEvent } from '../../src/events/event-types.ts';
import { parseEvent } from '../../src/events/validate.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import { createRng } from '../../src/fixtures/prng.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';
import { decodeCanonical, decodeUpload, NOT_SURE } from '../../src/server/upload.ts';

const n = Number(process.argv[2] ?? 20_000);
const perEvent = Number(process.argv[3] ?? 20);
const ulid = monotonicFactory();
const catalog = generateCatalog({ seed: 1, items: 2000 });
const drafts = [];
for (const s of generateSales({ seed: 9, catalog, customers: generateCustomers({ seed: 2, count: 200 }), vouchers: generateVouchers({ seed: 3, count: 50 }), count: n })) {
  drafts.push(...saleToDrafts(s, ulid()));
  if (drafts.length >= n) break;
}
let prev = GENESIS_HASH;
const events = drafts.slice(0, n).map((d, i) => {
  const b = encodeCanonical({ id: d.id ?? ulid(), type: d.type, v: 1, store: 's', terminal: 't', seq: i + 1, time: 1_700_000_000_000 + i, prev, body: d.body });
  prev = sha256Hex(b);
  return b;
});

type Outcome = { ok: true; event: TillEvent } | { ok: false; code: string };
function old(bytes: Uint8Array): Outcome {
  try {
    const event = parseEvent(decodeUntrusted(bytes));
    const c = encodeCanonical(event);
    if (!Buffer.from(c).equals(bytes)) throw new TillsyncError('NOT_CANONICAL', 'x');
    // decodeUpload's batch checks after the per-event steps (one event: only the terminal).
    if (event.store !== 's' || event.terminal !== 't') throw new TillsyncError('WRONG_TERMINAL', 'x');
    return { ok: true, event };
  } catch (err) {
    return { ok: false, code: isTillsyncError(err) ? err.code : `THREW ${String(err)}` };
  }
}
const cred = { tokenHash: 'x', store: 's', terminal: 't', revoked: false };
function now(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, event: decodeUpload({ v: 1, events: [bytes] }, 'msgpack', cred)[0]!.event };
  } catch (err) {
    return { ok: false, code: isTillsyncError(err) ? err.code : `THREW ${String(err)}` };
  }
}

const rng = createRng(42);
let checked = 0;
let fast = 0;
let accepted = 0;
let mismatches = 0;
const compare = (b: Uint8Array): void => {
  checked++;
  const v = decodeCanonical(b);
  if (v !== NOT_SURE) {
    fast++;
    if (!Buffer.from(encodeCanonical(v)).equals(b)) mismatches++, console.log('fast path accepted non-canonical bytes', Buffer.from(b).toString('hex'));
    let ref: unknown;
    try { ref = decodeUntrusted(b); } catch { ref = NOT_SURE; }
    if (!isDeepStrictEqual(v, ref)) mismatches++, console.log('fast path value differs from the decoder', Buffer.from(b).toString('hex'));
  }
  const a = old(b);
  const c = now(b);
  if (a.ok) accepted++;
  const same = a.ok && c.ok ? isDeepStrictEqual(a.event, c.event) : !a.ok && !c.ok && a.code.split(' ')[0] === c.code.split(' ')[0];
  if (!same) {
    mismatches++;
    if (mismatches < 20) console.log('MISMATCH', JSON.stringify(a).slice(0, 120), JSON.stringify(c).slice(0, 120), Buffer.from(b).toString('hex'));
  }
};
for (const e of events) {
  compare(e);
  for (let m = 0; m < perEvent; m++) {
    const b = Buffer.from(e);
    const kind = rng.int(0, 3);
    const at = rng.int(0, b.length - 1);
    let x: Uint8Array;
    if (kind === 0) { b[at] = rng.int(0, 255); x = b; }
    else if (kind === 1) x = Buffer.concat([b.subarray(0, at), Buffer.from([rng.int(0, 255)]), b.subarray(at)]);
    else if (kind === 2) x = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else x = b.subarray(0, at);
    compare(new Uint8Array(x));
  }
}
console.log(`${checked} inputs, fast path on ${fast}, old path accepted ${accepted}, mismatches ${mismatches}`);
process.exitCode = mismatches > 0 ? 1 : 0;
