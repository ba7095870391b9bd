/**
 * Cuts the log into upload batches: contiguous seqs, at most `maxEvents` events
 * and `maxBytes` of canonical bytes each (a single larger event still goes
 * alone). One LevelDB iterator serves all batches of a run.
 *
 * A batch never ends inside a sale's atomic group (the cloud accepts or
 * quarantines a group as one, but only within one batch): a full batch ends
 * before the group's first event instead, unless that group alone fills the
 * batch (then, and only then, the group is cut).
 */
import { TillsyncError } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';
import { continuesGroup } from '../events/event-tail.ts';

export interface UploadBatch {
  from: number;
  to: number;
  events: Uint8Array[];
  bytes: number;
}

export class BatchSource {
  private readonly it: AsyncGenerator<Array<[number, Uint8Array]>>;
  private page: Array<[number, Uint8Array]> = [];
  private at = 0;
  /** Events given back by a full batch (the start of a sale group), in order: the next batch starts with them. */
  private readonly held: Array<[number, Uint8Array]> = [];
  private expect: number;

  constructor(
    log: EventLog,
    from: number,
    to: number,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    this.expect = from;
    // Pages of two batches: a full batch looks at the next event (does it
    // continue a sale group?), and with pages of one batch that event would
    // always be on a page only just requested, holding every batch back.
    this.it = log.readBytes(from, { to, pageSize: maxEvents * 2 });
  }

  async next(): Promise<UploadBatch | undefined> {
    const events: Uint8Array[] = [];
    let bytes = 0;
    let from = 0;
    let to = 0;
    // The group the previous batch gave back starts this one; it fits (it was
    // less than a whole batch) and its seqs were checked.
    for (const [seq, recBytes] of this.held) {
      if (events.length === 0) from = seq;
      to = seq;
      events.push(recBytes);
      bytes += recBytes.byteLength;
      this.expect++;
    }
    this.held.length = 0;
    for (;;) {
      if (this.at >= this.page.length) {
        const r = await this.it.next();
        if (r.done) break;
        this.page = r.value;
        this.at = 0;
        continue;
      }
      const [seq, recBytes] = this.page[this.at]!;
      if (events.length >= this.maxEvents || (events.length > 0 && bytes + recBytes.byteLength > this.maxBytes)) {
        // Full. This event is the next batch's first: if it continues a sale
        // group, the batch ends before that group's first event instead.
        if (continuesGroup(events[events.length - 1]!, recBytes)) {
          bytes -= this.giveBackGroup(events);
          to = from + events.length - 1;
        }
        break;
      }
      if (seq !== this.expect) {
        throw new TillsyncError('LOG_CORRUPTED', `upload expected seq ${this.expect}, the log holds ${seq}`, {
          details: { expected: this.expect, found: seq },
        });
      }
      this.expect++;
      this.at++;
      if (events.length === 0) from = seq;
      to = seq;
      events.push(recBytes);
      bytes += recBytes.byteLength;
    }
    return events.length > 0 ? { from, to, events, bytes } : undefined;
  }

  /**
   * Takes the unfinished sale group at the end of a full batch off `events`
   * and keeps it for the next batch (the cloud judges a group as one only when
   * it arrives in one batch). A group that fills the whole batch by itself is
   * larger than any batch and is left cut: the next batch carries its rest.
   * Answers the bytes given back.
   */
  private giveBackGroup(events: Uint8Array[]): number {
    let k = events.length - 1;
    while (k > 0 && continuesGroup(events[k - 1]!, events[k]!)) k--;
    if (k === 0) return 0;
    let bytes = 0;
    const first = this.expect - events.length;
    for (let i = k; i < events.length; i++) {
      bytes += events[i]!.byteLength;
      this.held.push([first + i, events[i]!]);
    }
    this.expect -= events.length - k;
    events.length = k;
    return bytes;
  }

  async close(): Promise<void> {
    await this.it.return(undefined);
  }
}
