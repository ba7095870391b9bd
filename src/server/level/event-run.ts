import { TillsyncError } from '../../errors.ts';
import type { Bytes } from '../../events/level-util.ts';
import type { StoredEvent } from '../storage.ts';

/**
 * A commit's consecutive events of one terminal (seq n, n + 1, ...: an upload's
 * new events), gathered into ONE entry under the first one's key: a msgpack
 * array of their bytes as `bin`s. One entry instead of one per event spares
 * LevelDB an insert, a key and an index slot per event at every write and
 * compaction (see "Event entries" in docs/design.md). A run of one event is
 * stored as its bytes alone, which is also what layout version 1 stored for
 * every event: an event's bytes are a msgpack map, a run an array, so
 * `readRun` tells the two apart by the first byte and version 1's event
 * values need no rewrite. Events are never written twice (the server
 * stores each seq once), so runs never overlap.
 *
 * The bytes are copied into one reused buffer, which the native batch copies
 * when the run is put.
 */
export class EventRun {
  /** Room for the array's header (at most 5 bytes) before the first bin. */
  private static readonly HEAD = 5;
  private buf = Buffer.allocUnsafe(256 * 1024);
  private at = EventRun.HEAD;
  private single: Uint8Array | undefined;
  store = '';
  terminal = '';
  first = 0;
  count = 0;

  /** Whether `e` is the next event of the run (false when the run is empty). */
  continuedBy(e: StoredEvent): boolean {
    return this.count > 0 && e.seq === this.first + this.count && e.terminal === this.terminal && e.store === this.store;
  }

  /** Adds an event: the first of the run, or the one `continuedBy` accepted. */
  add(e: StoredEvent): void {
    if (this.count === 0) {
      this.store = e.store;
      this.terminal = e.terminal;
      this.first = e.seq;
      this.single = e.bytes;
    } else {
      if (this.count === 1) this.push(this.single!);
      this.push(e.bytes);
    }
    this.count++;
  }

  /** The entry's value: the one event's bytes, or the array of all of them (valid until the next `add`). */
  value(): Uint8Array {
    if (this.count === 1) return this.single!;
    const n = this.count;
    const head = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
    const b = this.buf;
    const at = EventRun.HEAD - head;
    if (head === 1) b[at] = 0x90 | n;
    else if (head === 3) {
      b[at] = 0xdc;
      b.writeUInt16BE(n, at + 1);
    } else {
      b[at] = 0xdd;
      b.writeUInt32BE(n, at + 1);
    }
    return b.subarray(at, this.at);
  }

  clear(): void {
    this.count = 0;
    this.at = EventRun.HEAD;
    this.single = undefined;
  }

  private push(bytes: Uint8Array): void {
    const len = bytes.byteLength;
    if (this.at + 5 + len > this.buf.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.byteLength, this.at + 5 + len));
      this.buf.copy(grown, 0, 0, this.at);
      this.buf = grown;
    }
    const b = this.buf;
    if (len < 0x100) {
      b[this.at++] = 0xc4;
      b[this.at++] = len;
    } else if (len < 0x10000) {
      b[this.at] = 0xc5;
      b.writeUInt16BE(len, this.at + 1);
      this.at += 3;
    } else {
      b[this.at] = 0xc6;
      b.writeUInt32BE(len, this.at + 1);
      this.at += 5;
    }
    b.set(bytes, this.at);
    this.at += len;
  }
}

/** The events of one entry of the events sublevel (see EventRun), as views of `value`. */
export function readRun(value: Bytes): Bytes[] {
  const b = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const t = b[0];
  let n: number;
  let at: number;
  if (t !== undefined && t >= 0x90 && t <= 0x9f) [n, at] = [t & 0x0f, 1];
  else if (t === 0xdc) [n, at] = [b.readUInt16BE(1), 3];
  else if (t === 0xdd) [n, at] = [b.readUInt32BE(1), 5];
  else return [value]; // one event's bytes (a msgpack map)
  const out = new Array<Bytes>(n);
  for (let j = 0; j < n; j++) {
    const k = b[at];
    let len: number;
    if (k === 0xc4) [len, at] = [b[at + 1]!, at + 2];
    else if (k === 0xc5) [len, at] = [b.readUInt16BE(at + 1), at + 3];
    else if (k === 0xc6) [len, at] = [b.readUInt32BE(at + 1), at + 5];
    else throw new TillsyncError('STORAGE_FAILED', `events entry: no bin at byte ${at}`);
    if (at + len > b.byteLength) throw new TillsyncError('STORAGE_FAILED', `events entry: event ${j} runs past the entry's end`);
    out[j] = value.subarray(at, at + len);
    at += len;
  }
  return out;
}

