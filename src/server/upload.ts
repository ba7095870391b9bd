/**
 * Upload (sync up) and its dry run (F9).
 *
 * Two phases:
 * 1. `decodeUpload` (no lock, CPU only; for msgpack bodies `decodeUploadBody`,
 *    run in the decode pool's worker threads: decode-pool.ts, whose answer is
 *    handed over as columns, upload-batch.ts): each event is decoded once with the
 *    untrusted decoder, validated with `parseEvent`, checked to be in canonical
 *    form (so the stored bytes hold exactly what was validated: no duplicate
 *    keys hiding data), hashed over the bytes as received, and checked to belong
 *    to the credential's store and terminal and to ascend in seq.
 *    Any failure refuses the whole batch with a 4xx; nothing is stored.
 * 2. `applyUpload` (under the store's lock): classifies each event against the
 *    terminal's high-water mark and commits ALL effects of the batch in one
 *    atomic storage commit: events, quarantine records, cloud views, feed
 *    changes, exceptions, counters and the high-water mark.
 *
 * Per event, with hw = the stored high-water seq:
 *   seq <= hw      looked up by id: same hash → duplicate (skipped, counted);
 *                  otherwise → conflict (listed, the stored event is untouched).
 *   seq == next    new: prev must equal the hash of the previous event
 *                  (else CHAIN_BROKEN, nothing stored). If its id is already
 *                  held by another event it is kept for the chain, quarantined
 *                  with code EVENT_CONFLICT, out of the id index, and counted in
 *                  `quarantined` (not in `conflicts`: those are never stored); if business
 *                  rules refuse it, it is stored quarantined with its reason;
 *                  otherwise accepted and applied to the views.
 *   seq > next     SEQ_GAP, details.expectedSeq = hw + 1; nothing of the batch
 *                  is stored (all-or-nothing: a correct terminal never sends a
 *                  gap inside a batch, only after a cloud restore, where the
 *                  batch's first event is already the gap).
 * Resent seqs are looked up to tell duplicates from conflicts; new seqs are
 * looked up too, so an id is never stored twice. All lookups of a batch are
 * one `getEventRefs` call (LevelStorage answers the ids its id filter says it
 * certainly does not hold without going to disk: id-filter.ts).
 *
 * Fast paths of phase 1, per event, each answering exactly as the steps after
 * it would, or "not sure" (then those steps run):
 * - `EventScan` (event-scan.ts, msgpack bodies): one pass over the event's bytes
 *   checks them against the event's schema (canonical form included) without
 *   building the event, and reads off the facts phase 2 needs. Valid events of
 *   every type take it; it cost ~2 µs per fixture event against ~7 for the
 *   object path below (`bench/tools/upload-cost.ts`).
 * - `decodeCanonical`: one pass over each event's bytes decodes it AND checks
 *   that they are exactly what `encodeCanonical` makes of the decoded value
 *   (keys strictly ascending, so no duplicates; shortest headers and number
 *   forms; well-formed UTF-8), instead of decoding with the generic decoder and
 *   re-encoding to compare. Anything it is not sure about (non-canonical bytes,
 *   malformed input, limits, `__proto__`, bin, ext, NaN, non-ASCII keys...)
 *   falls back to the original steps, which then answer exactly as before
 *   (same codes, same order of checks).
 */
import { TillsyncError, isTillsyncError } from '../errors.ts';
import { decodeUntrusted, encodeCanonical, sha256Hex } from '../events/codec.ts';
import type { TillEvent } from '../events/event-types.ts';
import { parseEvent, parseWith } from '../events/validate.ts';
import {
  checkRequest,
  LIMITS,
  uploadRequestJson,
  uploadRequestMsgpack,
  type CheckResponse,
  type UploadResponse,
} from '../replication/protocol.ts';
import type { CredentialRecord, StoredEvent } from './storage.ts';
import { StoreTx, type ServerContext } from './store-tx.ts';
import { EventScan, utf16Length } from './event-scan.ts';
import { BatchPacker, factsOf, type IncomingEvent, type UploadBatch, type UploadBatchData } from './upload-batch.ts';
import { ValueLedger } from './value-ledger.ts';

export type { IncomingEvent } from './upload-batch.ts';

function atIndex(err: unknown, index: number): unknown {
  if (!isTillsyncError(err)) return err;
  return new TillsyncError(err.code, `event ${index}: ${err.message}`, { cause: err, details: { ...err.details, index } });
}

/** Phase 1: turns a decoded request body into validated events of this terminal. */
export function decodeUpload(body: unknown, format: 'msgpack' | 'json', cred: Pick<CredentialRecord, 'store' | 'terminal'>): IncomingEvent[] {
  const out: IncomingEvent[] = [];
  checkBatchSize(body);
  if (format === 'msgpack') {
    const req = parseWith(uploadRequestMsgpack, body, 'body');
    req.events.forEach((bytes, i) => out.push(decodeEventBytes(bytes, i)));
  } else {
    const req = parseWith(uploadRequestJson, body, 'body');
    req.events.forEach((raw, i) => {
      try {
        const event = parseEvent(raw);
        const bytes = encodeCanonical(event);
        if (bytes.byteLength > LIMITS.maxEventBytes) {
          throw new TillsyncError('PAYLOAD_TOO_LARGE', `event of ${bytes.byteLength} bytes exceeds ${LIMITS.maxEventBytes}`);
        }
        out.push({ bytes, hash: sha256Hex(bytes), event });
      } catch (err) {
        throw atIndex(err, i);
      }
    });
  }
  let lastSeq = 0;
  out.forEach(({ event }, index) => {
    checkOwner(event, index, cred);
    lastSeq = checkAscending(event.seq, index, lastSeq);
  });
  return out;
}

/**
 * Phase 1 of a msgpack request body as received (what the wire parser and
 * `decodeUpload` do together), as columns for `applyUpload`; the event bytes
 * stay spans of `body`. Runs in the decode pool's workers (decode-pool.ts),
 * or inline when there is no pool.
 */
export function decodeUploadBody(body: Uint8Array, cred: Pick<CredentialRecord, 'store' | 'terminal'>): UploadBatchData {
  const decoded = decodeUntrusted(body, { maxBytes: LIMITS.maxBodyBytes });
  checkBatchSize(decoded);
  const { events } = parseWith(uploadRequestMsgpack, decoded, 'body');
  const packer = new BatchPacker(events.length, body);
  const scan = new EventScan(cred);
  // Events of another store or terminal (only the object path lets them through), by index.
  let strangers: Map<number, TillEvent> | undefined;
  for (let i = 0; i < events.length; i++) {
    const bytes = events[i]!;
    if (bytes.byteLength <= LIMITS.maxEventBytes && scan.scan(bytes)) {
      packer.add(scan.facts, bytes, sha256Hex(bytes));
      continue;
    }
    const { event, hash } = decodeEventBytes(bytes, i);
    if (event.store !== cred.store || event.terminal !== cred.terminal) (strangers ??= new Map()).set(i, event);
    packer.add(factsOf(event), bytes, hash);
  }
  // The batch's checks, after every event's own (as decodeUpload).
  let lastSeq = 0;
  for (let i = 0; i < events.length; i++) {
    const stranger = strangers?.get(i);
    if (stranger) checkOwner(stranger, i, cred);
    lastSeq = checkAscending(packer.seq(i), i, lastSeq);
  }
  return packer.done();
}

function checkBatchSize(body: unknown): void {
  const events = (body as { events?: unknown } | null | undefined)?.events;
  if (Array.isArray(events) && events.length > LIMITS.maxBatchEvents) {
    throw new TillsyncError('BATCH_TOO_LARGE', `${events.length} events in one batch; at most ${LIMITS.maxBatchEvents}`, {
      details: { max: LIMITS.maxBatchEvents, found: events.length },
    });
  }
}

/** One event's msgpack bytes, the object way: decoded, validated, checked to be canonical, hashed. */
function decodeEventBytes(bytes: Uint8Array, i: number): IncomingEvent {
  try {
    if (bytes.byteLength > LIMITS.maxEventBytes) {
      throw new TillsyncError('PAYLOAD_TOO_LARGE', `event of ${bytes.byteLength} bytes exceeds ${LIMITS.maxEventBytes}`);
    }
    const fast = decodeCanonical(bytes);
    let event: TillEvent;
    if (fast !== NOT_SURE) {
      event = parseEvent(fast);
    } else {
      event = parseEvent(decodeUntrusted(bytes));
      const canonical = encodeCanonical(event);
      if (!Buffer.from(canonical.buffer, canonical.byteOffset, canonical.byteLength).equals(bytes)) {
        throw new TillsyncError('NOT_CANONICAL', 'event bytes are not the canonical encoding of the event');
      }
    }
    return { bytes, hash: sha256Hex(bytes), event };
  } catch (err) {
    throw atIndex(err, i);
  }
}

function checkOwner(event: TillEvent, index: number, cred: Pick<CredentialRecord, 'store' | 'terminal'>): void {
  if (event.store !== cred.store || event.terminal !== cred.terminal) {
    throw new TillsyncError('WRONG_TERMINAL', `event ${index} belongs to ${event.store}/${event.terminal}`, {
      details: { index, expected: { store: cred.store, terminal: cred.terminal }, found: { store: event.store, terminal: event.terminal } },
    });
  }
}

/** The seq of event `index` must be above the one before it; answers it. */
function checkAscending(seq: number, index: number, lastSeq: number): number {
  if (seq <= lastSeq) {
    throw new TillsyncError('VALIDATION_FAILED', `event ${index}: seqs must ascend within a batch`, { details: { index, seq, after: lastSeq } });
  }
  return seq;
}

/** `decodeCanonical`'s "use the slow path" answer. */
export const NOT_SURE: unique symbol = Symbol('NOT_SURE');

/** Within the untrusted decoder's limits (codec.ts); anything beyond → NOT_SURE → the decoder refuses it. */
const FAST = { maxStr: 64 * 1024, maxArray: 10_000, maxMap: 256, maxDepth: 32 } as const;

/**
 * Decodes one event's msgpack if, and only if, `bytes` are exactly the
 * canonical encoding (`encodeCanonical`, i.e. @msgpack/msgpack with sortKeys and
 * default options) of the value decoded; the value is then what the untrusted
 * decoder returns for the same bytes. Returns NOT_SURE otherwise, never throws.
 */
export function decodeCanonical(bytes: Uint8Array): unknown {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new CanonicalReader(buf);
  const value = r.value(0);
  return value === NOT_SURE || r.pos !== buf.length ? NOT_SURE : value;
}

class CanonicalReader {
  pos = 0;
  constructor(private readonly b: Buffer) {}

  value(depth: number): unknown {
    const b = this.b;
    if (this.pos >= b.length || depth > FAST.maxDepth) return NOT_SURE;
    const t = b[this.pos++]!;
    if (t < 0x80) return t; // positive fixint
    if (t >= 0xe0) return t - 0x100; // negative fixint
    if (t >= 0xa0 && t < 0xc0) return this.str(t & 0x1f);
    if (t >= 0x90 && t < 0xa0) return this.array(t & 0x0f, depth);
    if (t >= 0x80 && t < 0x90) return this.map(t & 0x0f, depth);
    const left = b.length - this.pos;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xcc: { // uint 8: only for 0x80..0xff
        if (left < 1) return NOT_SURE;
        const v = b[this.pos++]!;
        return v >= 0x80 ? v : NOT_SURE;
      }
      case 0xcd: { // uint 16: only for 0x100..0xffff
        if (left < 2) return NOT_SURE;
        const v = b.readUInt16BE(this.pos);
        this.pos += 2;
        return v >= 0x100 ? v : NOT_SURE;
      }
      case 0xce: { // uint 32: only for 0x10000..0xffffffff
        if (left < 4) return NOT_SURE;
        const v = b.readUInt32BE(this.pos);
        this.pos += 4;
        return v >= 0x10000 ? v : NOT_SURE;
      }
      case 0xcf: { // uint 64: only for 2^32..MAX_SAFE_INTEGER
        if (left < 8) return NOT_SURE;
        const hi = b.readUInt32BE(this.pos);
        const lo = b.readUInt32BE(this.pos + 4);
        this.pos += 8;
        return hi >= 1 && hi <= 0x1fffff ? hi * 0x100000000 + lo : NOT_SURE;
      }
      case 0xd0: { // int 8: only for -0x80..-0x21
        if (left < 1) return NOT_SURE;
        const v = b.readInt8(this.pos++);
        return v < -0x20 ? v : NOT_SURE;
      }
      case 0xd1: { // int 16: only for -0x8000..-0x81
        if (left < 2) return NOT_SURE;
        const v = b.readInt16BE(this.pos);
        this.pos += 2;
        return v < -0x80 ? v : NOT_SURE;
      }
      case 0xd2: { // int 32: only for -0x80000000..-0x8001
        if (left < 4) return NOT_SURE;
        const v = b.readInt32BE(this.pos);
        this.pos += 4;
        return v < -0x8000 ? v : NOT_SURE;
      }
      case 0xcb: { // float 64: only for numbers that are not safe integers (and not NaN: its bits vary)
        if (left < 8) return NOT_SURE;
        const v = b.readDoubleBE(this.pos);
        this.pos += 8;
        return Number.isSafeInteger(v) || Number.isNaN(v) ? NOT_SURE : v;
      }
      case 0xd9: { // str 8: only for 32..255 bytes
        if (left < 1) return NOT_SURE;
        const n = b[this.pos++]!;
        return n >= 32 ? this.str(n) : NOT_SURE;
      }
      case 0xda: { // str 16: only for 256..65535 bytes
        if (left < 2) return NOT_SURE;
        const n = b.readUInt16BE(this.pos);
        this.pos += 2;
        return n >= 0x100 ? this.str(n) : NOT_SURE;
      }
      case 0xdc: { // array 16: only for 16.. entries
        if (left < 2) return NOT_SURE;
        const n = b.readUInt16BE(this.pos);
        this.pos += 2;
        return n >= 16 ? this.array(n, depth) : NOT_SURE;
      }
      case 0xde: { // map 16: only for 16.. entries
        if (left < 2) return NOT_SURE;
        const n = b.readUInt16BE(this.pos);
        this.pos += 2;
        return n >= 16 ? this.map(n, depth) : NOT_SURE;
      }
      default: // int 64, float 32, str/array/map 32, bin, ext, never used: the slow path decides
        return NOT_SURE;
    }
  }

  /** A string of `n` bytes of well-formed UTF-8 (so decoding and re-encoding give the same bytes). */
  private str(n: number): string | typeof NOT_SURE {
    const b = this.b;
    const start = this.pos;
    const end = start + n;
    if (n > FAST.maxStr || end > b.length) return NOT_SURE;
    this.pos = end;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return n <= SHORT ? shortString(b, start, end) : asciiString(b, start, end);
    // TextDecoder drops a leading BOM: let the slow path judge such strings.
    if (n >= 3 && b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) return NOT_SURE;
    return utf16Length(b, start, end) >= 0 ? b.toString('utf8', start, end) : NOT_SURE;
  }

  private array(n: number, depth: number): unknown[] | typeof NOT_SURE {
    if (n > FAST.maxArray) return NOT_SURE;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const v = this.value(depth + 1);
      if (v === NOT_SURE) return NOT_SURE;
      out[i] = v;
    }
    return out;
  }

  /** Keys: ASCII strings, strictly ascending (the encoder's sort order, no duplicates), never `__proto__`. */
  private map(n: number, depth: number): Record<string, unknown> | typeof NOT_SURE {
    if (n > FAST.maxMap) return NOT_SURE;
    const b = this.b;
    const out: Record<string, unknown> = {};
    let prevStart = -1;
    let prevEnd = -1;
    for (let i = 0; i < n; i++) {
      if (this.pos >= b.length) return NOT_SURE;
      const t = b[this.pos]!;
      let len: number;
      if (t >= 0xa0 && t < 0xc0) {
        len = t & 0x1f;
        this.pos += 1;
      } else if (t === 0xd9 && this.pos + 1 < b.length && b[this.pos + 1]! >= 32) {
        len = b[this.pos + 1]!;
        this.pos += 2;
      } else return NOT_SURE;
      const start = this.pos;
      const end = start + len;
      if (end > b.length) return NOT_SURE;
      for (let j = start; j < end; j++) if (b[j]! >= 0x80) return NOT_SURE;
      if (prevStart >= 0 && !sortsAfter(b, prevStart, prevEnd, start, end)) return NOT_SURE;
      const key = len <= SHORT ? shortString(b, start, end) : asciiString(b, start, end);
      if (key === '__proto__') return NOT_SURE;
      this.pos = end;
      prevStart = start;
      prevEnd = end;
      const v = this.value(depth + 1);
      if (v === NOT_SURE) return NOT_SURE;
      out[key] = v;
    }
    return out;
  }
}

/** Strings up to this many bytes go through `shortString`'s cache (keys, enums, ids...). */
const SHORT = 16;
const SHORT_SLOTS = 4096;
const shortCache: Array<string | undefined> = new Array<string | undefined>(SHORT_SLOTS).fill(undefined);

/**
 * Bytes known to be ASCII, at most SHORT of them, as a string; the same string
 * object is handed out again for the same bytes while it stays in its cache slot
 * (keys and small values repeat across events: no allocation, less GC).
 */
function shortString(b: Buffer, start: number, end: number): string {
  const n = end - start;
  let h = n;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + b[i]!) | 0;
  const slot = (h ^ (h >>> 13)) & (SHORT_SLOTS - 1);
  const hit = shortCache[slot];
  if (hit !== undefined && hit.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (hit.charCodeAt(i) !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const s = asciiString(b, start, end);
  shortCache[slot] = s;
  return s;
}

/** Bytes known to be ASCII as a string (short ones without a native call). */
function asciiString(b: Buffer, start: number, end: number): string {
  if (end - start > 24) return b.toString('latin1', start, end);
  let out = '';
  for (let i = start; i < end; i++) out += String.fromCharCode(b[i]!);
  return out;
}

/** True when bytes [s, e) sort strictly after [ps, pe) (byte order = the encoder's order for ASCII keys). */
function sortsAfter(b: Buffer, ps: number, pe: number, s: number, e: number): boolean {
  const n = Math.min(pe - ps, e - s);
  for (let i = 0; i < n; i++) {
    const x = b[s + i]!;
    const y = b[ps + i]!;
    if (x !== y) return x > y;
  }
  return e - s > pe - ps;
}

/**
 * Phase 2: run under the store's lock. Reads the batch's columns (upload-batch.ts):
 * the customer / voucher an event names are the ones it may be refused for and
 * whose stored value it moves (balance.delta, voucher.*, and payments on account
 * or by voucher); a sale's currency is checked against the store's.
 */
export async function applyUpload(ctx: ServerContext, cred: CredentialRecord, batch: UploadBatch): Promise<UploadResponse> {
  const { storage } = ctx;
  const { store, terminal } = cred;
  const n = batch.length;
  // Reads that do not depend on each other go to storage together (each await
  // is a round trip to the storage thread, all of them under the store's lock).
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) ids[i] = batch.id(i);
  const [storeRec, hw, refs, tx] = await Promise.all([
    storage.getStore(store),
    storage.getHighWater(store, terminal),
    storage.getEventRefs(store, ids),
    StoreTx.begin(ctx, store),
  ]);
  if (!storeRec) throw new TillsyncError('STORE_NOT_FOUND', `store ${store} does not exist`);

  const ledger = new ValueLedger(tx);
  const customerSet = new Set<string>();
  const voucherList: string[] = [];
  for (let i = 0; i < n; i++) {
    if (batch.seq(i) <= hw.seq) continue;
    const c = batch.customer(i);
    if (c !== '') customerSet.add(c);
    const v = batch.voucher(i);
    if (v !== '') voucherList.push(v);
  }
  const customerIds = [...customerSet];
  // Balances are loaded (and their slots made) before vouchers, as before: the order of the feed changes.
  const [known] = await Promise.all([storage.getCustomers(store, customerIds), ledger.load('balance', customerIds)]);
  const knownCustomers = new Set(customerIds.filter((_, i) => known[i] !== undefined));
  // Removed by the back office: no customer record, but its ledger is kept (value-ledger.ts).
  const removedCustomers = new Set(customerIds.filter((c, i) => known[i] === undefined && ledger.exists('balance', c)));
  await ledger.load('voucher', voucherList);
  const judge: Judge = { batch, currency: storeRec.settings.currency, customers: knownCustomers, removed: removedCustomers, ledger };

  const res: UploadResponse = { ackSeq: hw.seq, accepted: 0, duplicates: 0, quarantined: 0, conflicts: [] };
  let next = hw.seq + 1;
  let lastHash = hw.hash;
  let quarantinedHere = 0;
  const idsInBatch = new Set<string>();
  // The sale group being walked: its last index and, if refused, why (one verdict for the whole group).
  let groupEnd = -1;
  let groupRefusal: { code: string; message: string } | undefined;

  for (let i = 0; i < n; i++) {
    const seq = batch.seq(i);
    const id = ids[i]!;
    const hash = batch.hash(i);
    const ref = refs[i];
    if (seq <= hw.seq) {
      if (ref && ref.hash === hash) res.duplicates++;
      else res.conflicts.push({ id, seq, code: 'EVENT_CONFLICT' });
      continue;
    }
    if (seq > next) {
      throw new TillsyncError('SEQ_GAP', `expected seq ${hw.seq + 1}, got ${seq}`, { details: { expectedSeq: hw.seq + 1, found: seq } });
    }
    const prev = batch.prev(i);
    if (prev !== lastHash) {
      throw new TillsyncError('CHAIN_BROKEN', `event seq ${seq}: prev does not match the stored chain`, {
        details: { seq, expected: lastHash, found: prev },
      });
    }
    const type = batch.type(i);
    const stored: StoredEvent = { store, terminal, seq, id, hash, hashBytes: batch.hashBytes(i), bytes: batch.bytes(i), indexById: true };
    if (ref || idsInBatch.has(id)) {
      // Stored (the chain needs its seq), so it is quarantined, and answered as such:
      // `conflicts` lists only what was NOT stored (a resent seq with other content).
      stored.indexById = false;
      stored.quarantine = { code: 'EVENT_CONFLICT', message: 'this event id is already held by another event' };
      res.quarantined++;
      quarantinedHere++;
    } else {
      idsInBatch.add(id);
      if (i > groupEnd && type === 'sale.completed') {
        groupEnd = saleGroupEnd(batch, i);
        groupRefusal = groupVerdict(judge, i, groupEnd, id);
      }
      const refusal = i <= groupEnd ? (groupRefusal && (businessRefusal(judge, i, batch.type(i)) ?? groupRefusal)) : businessRefusal(judge, i, type);
      if (refusal) {
        stored.quarantine = refusal;
        res.quarantined++;
        quarantinedHere++;
      } else {
        applyEffects(batch, i, type, { terminal, seq, id }, ledger, removedCustomers);
        res.accepted++;
      }
    }
    tx.put({ kind: 'event', type, event: stored });
    next = seq + 1;
    lastHash = hash;
  }

  res.ackSeq = next - 1;
  if (res.ackSeq === hw.seq) return res; // nothing new: duplicates and conflicts only
  ledger.include(terminal, res.ackSeq);
  const { exceptionsChanged } = ledger.finish();
  tx.counters.quarantined += quarantinedHere;
  tx.put({ kind: 'highWater', store, terminal, highWater: { seq: res.ackSeq, hash: lastHash, quarantined: hw.quarantined + quarantinedHere } });
  await tx.commit({ exceptionsChanged });
  return res;
}

/** What business rules judge an event by. */
interface Judge {
  batch: UploadBatch;
  currency: string;
  customers: Set<string>;
  /** Customers the back office removed whose ledger is kept: their events are accepted (and raise an exception). */
  removed: Set<string>;
  ledger: ValueLedger;
}

/**
 * A sale's atomic group as `Terminal.completeSale` appends it: the
 * sale.completed at `head`, then its payment.taken events, each account or
 * voucher payment followed by the balance.delta / voucher.redeemed that moves
 * the value. Answers the group's last index in the batch. A group is judged
 * within one batch: in the rare case that a batch boundary (every 1,000 events)
 * cuts one, each part is judged as a group of its own; releasing it
 * (quarantine-release.ts) walks the stored chain and so takes the whole group.
 */
export function saleGroupEnd(batch: UploadBatch, head: number): number {
  let end = head;
  for (let j = head + 1; j < batch.length; j++) {
    if (batch.type(j) !== 'payment.taken') break;
    end = j;
    const next = batch.type(j + 1);
    if (batch.customer(j) !== '' && next === 'balance.delta' && batch.customer(j + 1) === batch.customer(j)) end = ++j;
    else if (batch.voucher(j) !== '' && next === 'voucher.redeemed' && batch.voucher(j + 1) === batch.voucher(j)) end = ++j;
  }
  return end;
}

/** The first refusal of any event of the group [head, end], worded for the others; undefined: all acceptable. */
function groupVerdict(judge: Judge, head: number, end: number, sale: string): { code: string; message: string } | undefined {
  for (let j = head; j <= end; j++) {
    const r = businessRefusal(judge, j, judge.batch.type(j));
    if (r) return { code: r.code, message: `quarantined with its sale ${sale} (event seq ${judge.batch.seq(j)}: ${r.message})` };
  }
  return undefined;
}

function businessRefusal(judge: Judge, i: number, type: string): { code: string; message: string } | undefined {
  const { batch, currency, customers, ledger } = judge;
  if (type === 'sale.completed') {
    const c = batch.currency(i);
    if (c !== currency) return { code: 'CURRENCY_MISMATCH', message: `sale in ${c}, store currency is ${currency}` };
  }
  const customer = batch.customer(i);
  if (customer !== '' && !customers.has(customer) && !judge.removed.has(customer)) {
    return { code: 'CUSTOMER_NOT_FOUND', message: `customer ${customer} is not known to the cloud` };
  }
  // A voucher must exist before it is spent; issuing creates it.
  const voucher = batch.voucher(i);
  if (voucher !== '' && type !== 'voucher.issued' && !ledger.exists('voucher', voucher)) {
    return { code: 'VOUCHER_NOT_FOUND', message: `voucher ${voucher} is not known to the cloud` };
  }
  return undefined;
}

/**
 * Sales, payments, refunds and voids do not move stored value by themselves:
 * the terminal appends the balance.delta / voucher.* event in the same group.
 */
function applyEffects(
  batch: UploadBatch, i: number, type: string, from: { terminal: string; seq: number; id: string }, ledger: ValueLedger, removed: Set<string>,
): void {
  if (type === 'balance.delta') {
    const c = batch.customer(i);
    ledger.apply('balance', c, batch.amount(i), from, { removed: removed.has(c) });
  }
  else if (type === 'voucher.issued' || type === 'voucher.redeemed') ledger.apply('voucher', batch.voucher(i), batch.amount(i), from);
}

/** F9 dry run: what the cloud has, lacks, or holds with different content. */
export async function checkEvents(ctx: ServerContext, cred: CredentialRecord, body: unknown): Promise<CheckResponse> {
  const req = parseWith(checkRequest, body, 'body');
  const hw = await ctx.storage.getHighWater(cred.store, cred.terminal);
  const refs = await ctx.storage.getEventRefs(cred.store, req.events.map((e) => e.id));
  const out: CheckResponse = { have: 0, lack: 0, different: 0, differentSeqs: [] };
  req.events.forEach((e, i) => {
    // Another terminal's event is answered as if it did not exist: a terminal learns only about its own.
    const ref = refs[i]?.terminal === cred.terminal ? refs[i] : undefined;
    if (ref && ref.hash === e.hash && ref.seq === e.seq) out.have++;
    else if (ref || e.seq <= hw.seq) {
      out.different++;
      if (out.differentSeqs.length < 100) out.differentSeqs.push(e.seq);
    } else out.lack++;
  });
  return out;
}
