/**
 * A validated upload batch as phase 2 (`applyUpload`) reads it: only the facts
 * it needs of each event, in columns (typed arrays and packed strings), so a
 * batch decoded in a worker thread (decode-pool.ts) crosses to the main thread
 * as a handful of objects instead of a decoded object graph per event.
 *
 * Per event i: seq, id, prev, hash (in hex, and its 32 bytes), type, its canonical bytes (a span of
 * `data`), and the value facts: the customer and voucher it names (the ones
 * `applyUpload` looks up and may refuse), the signed stored-value delta it
 * applies, and a sale's currency. Entity ids are never empty (ENTITY_RE), so
 * an empty string means "none".
 */
import type { TillEvent } from '../events/event-types.ts';
import type { EventFacts } from './event-scan.ts';

/** Strings packed into one: value i is text.slice(ends[i - 1] ?? 0, ends[i]). */
export interface PackedStrings {
  text: string;
  ends: Uint32Array;
}

/** Plain data only (structured-cloneable), so it crosses threads as is. */
export interface UploadBatchData {
  length: number;
  seqs: Float64Array;
  ids: PackedStrings;
  prevs: PackedStrings;
  hashes: PackedStrings;
  /** The same hashes as bytes: event i's are hashBytes[32i, 32i + 32) (what LevelStorage stores). */
  hashBytes: Uint8Array;
  types: PackedStrings;
  customers: PackedStrings;
  vouchers: PackedStrings;
  currencies: PackedStrings;
  /** Signed delta applied to `customers[i]` (balance.delta) or `vouchers[i]` (voucher.issued / redeemed); 0 otherwise. */
  amounts: Float64Array;
  /** The events' canonical bytes: event i is data[spans[2i], spans[2i + 1]). */
  data: Uint8Array;
  spans: Uint32Array;
}

export interface IncomingEvent {
  bytes: Uint8Array;
  hash: string;
  event: TillEvent;
}

class Packer {
  private readonly parts: string[] = [];
  private at = 0;
  readonly ends: Uint32Array;
  constructor(n: number) {
    this.ends = new Uint32Array(n);
  }
  push(i: number, s: string): void {
    if (s.length > 0) this.parts.push(s);
    this.at += s.length;
    this.ends[i] = this.at;
  }
  done(): PackedStrings {
    return { text: this.parts.join(''), ends: this.ends };
  }
}

/** The facts of a validated event (what `EventScan` reads off the bytes directly). */
export function factsOf(e: TillEvent): EventFacts {
  const f: EventFacts = { seq: e.seq, id: e.id, prev: e.prev, type: e.type, customer: '', voucher: '', currency: '', amount: 0 };
  switch (e.type) {
    case 'balance.delta':
      f.customer = e.body.customer;
      f.amount = e.body.delta;
      break;
    case 'voucher.issued':
      f.voucher = e.body.voucher;
      f.amount = e.body.amount;
      break;
    case 'voucher.redeemed':
      f.voucher = e.body.voucher;
      f.amount = -e.body.amount;
      break;
    case 'payment.taken':
      if (e.body.tender === 'account') f.customer = e.body.customer;
      else if (e.body.tender === 'voucher') f.voucher = e.body.voucher;
      break;
    case 'sale.completed':
      f.currency = e.body.currency;
      break;
    default:
      break;
  }
  return f;
}

/**
 * Builds the columns of a batch of `n` validated events, added in order. When
 * every event's bytes are a view of `body` (the msgpack request body they were
 * decoded from) the spans point into it and nothing is copied; otherwise the
 * bytes are copied into one new buffer.
 */
export class BatchPacker {
  private readonly seqs: Float64Array;
  private readonly amounts: Float64Array;
  private readonly ids: Packer;
  private readonly prevs: Packer;
  private readonly hashes: Packer;
  private readonly hashBytes: Buffer;
  private readonly types: Packer;
  private readonly customers: Packer;
  private readonly vouchers: Packer;
  private readonly currencies: Packer;
  private readonly bytes: Uint8Array[];
  private i = 0;

  constructor(private readonly n: number, private readonly body?: Uint8Array) {
    this.seqs = new Float64Array(n);
    this.amounts = new Float64Array(n);
    this.ids = new Packer(n);
    this.prevs = new Packer(n);
    this.hashes = new Packer(n);
    this.hashBytes = Buffer.alloc(32 * n);
    this.types = new Packer(n);
    this.customers = new Packer(n);
    this.vouchers = new Packer(n);
    this.currencies = new Packer(n);
    this.bytes = new Array<Uint8Array>(n);
  }

  /**
   * Adds the next event; `hash`: its SHA-256 as 64 lowercase hex digits (kept
   * as text and as its 32 bytes). Hex, because Node 20's one-shot `hash()`
   * returns hex ~1 µs faster per event than it returns a Buffer.
   */
  add(f: EventFacts, bytes: Uint8Array, hash: string): void {
    const i = this.i++;
    if (hash.length !== 64 || this.hashBytes.write(hash, 32 * i, 32, 'hex') !== 32) throw new Error(`not a SHA-256 in hex: ${hash}`);
    this.seqs[i] = f.seq;
    this.ids.push(i, f.id);
    this.prevs.push(i, f.prev);
    this.hashes.push(i, hash);
    this.types.push(i, f.type);
    this.customers.push(i, f.customer);
    this.vouchers.push(i, f.voucher);
    this.currencies.push(i, f.currency);
    this.amounts[i] = f.amount;
    this.bytes[i] = bytes;
  }

  /** The seq of event `i` (added already). */
  seq(i: number): number {
    return this.seqs[i]!;
  }

  done(): UploadBatchData {
    const n = this.n;
    if (this.i !== n) throw new Error(`${this.i} of ${n} events added`);
    const body = this.body;
    const spans = new Uint32Array(2 * n);
    let inBody = body !== undefined;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const b = this.bytes[i]!;
      if (inBody && (b.buffer !== body!.buffer || b.byteOffset < body!.byteOffset || b.byteOffset + b.byteLength > body!.byteOffset + body!.byteLength)) {
        inBody = false;
      }
      total += b.byteLength;
    }
    let data: Uint8Array;
    if (inBody) {
      data = body!;
      for (let i = 0; i < n; i++) {
        const b = this.bytes[i]!;
        spans[2 * i] = b.byteOffset - body!.byteOffset;
        spans[2 * i + 1] = b.byteOffset - body!.byteOffset + b.byteLength;
      }
    } else {
      data = new Uint8Array(total);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const b = this.bytes[i]!;
        data.set(b, at);
        spans[2 * i] = at;
        at += b.byteLength;
        spans[2 * i + 1] = at;
      }
    }
    return {
      length: n, seqs: this.seqs, ids: this.ids.done(), prevs: this.prevs.done(), hashes: this.hashes.done(), hashBytes: this.hashBytes, types: this.types.done(),
      customers: this.customers.done(), vouchers: this.vouchers.done(), currencies: this.currencies.done(), amounts: this.amounts, data, spans,
    };
  }
}

/** Columns of validated events (see BatchPacker). */
export function packUploadBatch(events: readonly IncomingEvent[], body?: Uint8Array): UploadBatchData {
  const p = new BatchPacker(events.length, body);
  for (const { event, bytes, hash } of events) p.add(factsOf(event), bytes, hash);
  return p.done();
}

/** Read access to UploadBatchData. */
export class UploadBatch {
  readonly length: number;
  constructor(readonly d: UploadBatchData) {
    this.length = d.length;
  }
  seq(i: number): number {
    return this.d.seqs[i]!;
  }
  id(i: number): string {
    return at(this.d.ids, i);
  }
  prev(i: number): string {
    return at(this.d.prevs, i);
  }
  hash(i: number): string {
    return at(this.d.hashes, i);
  }
  /** hash(i) as its 32 bytes (a view). */
  hashBytes(i: number): Uint8Array {
    return this.d.hashBytes.subarray(32 * i, 32 * i + 32);
  }
  type(i: number): string {
    return at(this.d.types, i);
  }
  /** '' when the event names no customer. */
  customer(i: number): string {
    return at(this.d.customers, i);
  }
  /** '' when the event names no voucher. */
  voucher(i: number): string {
    return at(this.d.vouchers, i);
  }
  /** '' unless a sale.completed. */
  currency(i: number): string {
    return at(this.d.currencies, i);
  }
  amount(i: number): number {
    return this.d.amounts[i]!;
  }
  bytes(i: number): Uint8Array {
    return this.d.data.subarray(this.d.spans[2 * i]!, this.d.spans[2 * i + 1]!);
  }
}

function at(p: PackedStrings, i: number): string {
  const end = p.ends[i]!;
  const start = i === 0 ? 0 : p.ends[i - 1]!;
  return start === end ? '' : p.text.slice(start, end);
}
