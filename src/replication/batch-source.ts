/**
 * Cuts the log into upload batches: contiguous seqs, at most `maxEvents` events
 * and `maxBytes` of canonical bytes each (a single larger event still goes
 * alone). One LevelDB iterator serves all batches of a run.
 */
import { TillsyncError } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';

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
  private expect: number;

  constructor(
    log: EventLog,
    from: number,
    to: number,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    this.expect = from;
    this.it = log.readBytes(from, { to, pageSize: maxEvents });
  }

  async next(): Promise<UploadBatch | undefined> {
    const events: Uint8Array[] = [];
    let bytes = 0;
    let from = 0;
    let to = 0;
    while (events.length < this.maxEvents) {
      if (this.at >= this.page.length) {
        const r = await this.it.next();
        if (r.done) break;
        this.page = r.value;
        this.at = 0;
        continue;
      }
      const [seq, recBytes] = this.page[this.at]!;
      if (events.length > 0 && bytes + recBytes.byteLength > this.maxBytes) break;
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

  async close(): Promise<void> {
    await this.it.return(undefined);
  }
}
