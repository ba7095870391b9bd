/**
 * A validated upload batch as phase 2 (`applyUpload`) reads it: only the facts
 * it needs of each event, in columns (typed arrays and packed strings), so a
 * batch decoded in a worker thread (decode-pool.ts) crosses to the main thread
 * as a handful of objects instead of a decoded object graph per event.
 *
 * Per event i: seq, id, prev, hash, type, its canonical bytes (a span of
 * `data`), and the value facts: the customer and voucher it names (the ones
 * `applyUpload` looks up and may refuse), the signed stored-value delta it
 * applies, and a sale's currency. Entity ids are never empty (ENTITY_RE), so
 * an empty string means "none".
 */
import type { TillEvent } from '../events/event-types.ts';

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

/**
 * Columns of validated events. When every event's bytes are a view of `body`
 * (the msgpack request body they were decoded from) the spans point into it and
 * nothing is copied; otherwise the bytes are copied into one new buffer.
 */
export function packUploadBatch(events: readonly IncomingEvent[], body?: Uint8Array): UploadBatchData {
  const n = events.length;
  const seqs = new Float64Array(n);
  const amounts = new Float64Array(n);
  const spans = new Uint32Array(2 * n);
  const ids = new Packer(n);
  const prevs = new Packer(n);
  const hashes = new Packer(n);
  const types = new Packer(n);
  const customers = new Packer(n);
  const vouchers = new Packer(n);
  const currencies = new Packer(n);
  let inBody = body !== undefined;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const { event: e, bytes, hash } = events[i]!;
    seqs[i] = e.seq;
    ids.push(i, e.id);
    prevs.push(i, e.prev);
    hashes.push(i, hash);
    types.push(i, e.type);
    let customer = '';
    let voucher = '';
    let currency = '';
    let amount = 0;
    switch (e.type) {
      case 'balance.delta':
        customer = e.body.customer;
        amount = e.body.delta;
        break;
      case 'voucher.issued':
        voucher = e.body.voucher;
        amount = e.body.amount;
        break;
      case 'voucher.redeemed':
        voucher = e.body.voucher;
        amount = -e.body.amount;
        break;
      case 'payment.taken':
        if (e.body.tender === 'account') customer = e.body.customer;
        else if (e.body.tender === 'voucher') voucher = e.body.voucher;
        break;
      case 'sale.completed':
        currency = e.body.currency;
        break;
      default:
        break;
    }
    customers.push(i, customer);
    vouchers.push(i, voucher);
    currencies.push(i, currency);
    amounts[i] = amount;
    if (inBody && (bytes.buffer !== body!.buffer || bytes.byteOffset < body!.byteOffset || bytes.byteOffset + bytes.byteLength > body!.byteOffset + body!.byteLength)) {
      inBody = false;
    }
    total += bytes.byteLength;
  }
  let data: Uint8Array;
  if (inBody) {
    data = body!;
    for (let i = 0; i < n; i++) {
      const b = events[i]!.bytes;
      spans[2 * i] = b.byteOffset - body!.byteOffset;
      spans[2 * i + 1] = b.byteOffset - body!.byteOffset + b.byteLength;
    }
  } else {
    data = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const b = events[i]!.bytes;
      data.set(b, at);
      spans[2 * i] = at;
      at += b.byteLength;
      spans[2 * i + 1] = at;
    }
  }
  return {
    length: n, seqs, ids: ids.done(), prevs: prevs.done(), hashes: hashes.done(), types: types.done(),
    customers: customers.done(), vouchers: vouchers.done(), currencies: currencies.done(), amounts, data, spans,
  };
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
