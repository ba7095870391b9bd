/**
 * The terminal's sales the cloud has not acknowledged yet: how many, their
 * total and the oldest's time, for the report it sends the cloud
 * (terminal-report.ts). Incremental: each `refresh` reads only the part of the
 * log appended since the last one (from the acknowledged seq on the first), and
 * keeps one small record per unacknowledged sale; acknowledged ones are
 * dropped. Refreshes run one at a time (a call during one runs after it).
 * A log that went backwards (a full resync replaced it) is read again.
 */
import type { EventLog } from '../events/event-log.ts';
import type { TerminalReportFields } from './terminal-report.ts';

export class UnsyncedSalesTracker {
  private sales: Array<{ seq: number; total: number; time: number }> = [];
  /** Card payments not acknowledged yet (seq, time): a processor takes offline card payments only for so long. */
  private cards: Array<{ seq: number; time: number }> = [];
  private scannedTo = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly log: EventLog) {}

  /** Reads what was appended since the last refresh; `ackSeq` is the cloud's acknowledged seq. */
  refresh(ackSeq: number): Promise<void> {
    this.chain = this.chain.then(() => this.scan(ackSeq)).catch(() => {
      // A closed or failing log: the report stays as it was (it is advisory).
    });
    return this.chain;
  }

  private async scan(ackSeq: number): Promise<void> {
    const head = this.log.head.seq;
    if (head < this.scannedTo) {
      this.sales = [];
      this.cards = [];
      this.scannedTo = 0;
    }
    const from = Math.max(ackSeq, this.scannedTo) + 1;
    if (from <= head) {
      for await (const page of this.log.readEvents(from, { to: head, pageSize: 256 })) {
        for (const e of page) {
          if (e.type === 'sale.completed') this.sales.push({ seq: e.seq, total: e.body.total, time: e.time });
          else if (e.type === 'payment.taken' && e.body.tender === 'card') this.cards.push({ seq: e.seq, time: e.time });
        }
      }
    }
    this.scannedTo = Math.max(this.scannedTo, head);
  }

  /** When the oldest card payment past `ackSeq` was taken (terminal clock), as of the last refresh. */
  oldestCardPayment(ackSeq: number): number | undefined {
    if (this.cards.length > 0 && this.cards[0]!.seq <= ackSeq) this.cards = this.cards.filter((c) => c.seq > ackSeq);
    return this.cards[0]?.time;
  }

  /** The report as of the last refresh, counting only sales past `ackSeq`. */
  report(ackSeq: number): TerminalReportFields {
    if (this.sales.length > 0 && this.sales[0]!.seq <= ackSeq) this.sales = this.sales.filter((s) => s.seq > ackSeq);
    let amount = 0;
    for (const s of this.sales) amount += s.total;
    const oldest = this.sales[0]?.time;
    return { head: Math.max(this.scannedTo, ackSeq), sales: this.sales.length, amount, ...(oldest !== undefined ? { oldest } : {}) };
  }
}
