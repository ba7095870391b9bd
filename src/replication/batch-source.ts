/**
 * Cuts the log into upload batches: contiguous seqs, at most `maxEvents` events
 * and `maxBytes` of canonical bytes each (a single larger event still goes
 * alone). One LevelDB iterator serves all batches of a run.
 */
import { TillsyncError } from '../errors.ts';
import type { EventLog, LoggedEvent } from '../events/event-log.ts';

export interface UploadBatch {
  from: number;
  to: number;
  events: Uint8Array[];
  bytes: number;
}

export class BatchSource {
  private readonly it: AsyncGenerator<LoggedEvent[]>;
  private page: LoggedEvent[] = [];
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
    this.it = log.read(from, { to, pageSize: maxEvents });
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
      const rec = this.page[this.at]!;
      if (events.length > 0 && bytes + rec.bytes.byteLength > this.maxBytes) break;
      if (rec.seq !== this.expect) {
        throw new TillsyncError('LOG_CORRUPTED', `upload expected seq ${this.expect}, the log holds ${rec.seq}`, {
          details: { expected: this.expect, found: rec.seq },
        });
      }
      this.expect++;
      this.at++;
      if (events.length === 0) from = rec.seq;
      to = rec.seq;
      events.push(rec.bytes);
      bytes += rec.bytes.byteLength;
    }
    return events.length > 0 ? { from, to, events, bytes } : undefined;
  }

  async close(): Promise<void> {
    await this.it.return(undefined);
  }
}
