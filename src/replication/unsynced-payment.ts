/**
 * Finds the oldest payment the cloud has not acknowledged yet (F1: "oldest
 * unsynced payment's age"). Cheap by construction: the answer is cached; a new
 * ackSeq below the cached payment costs nothing; otherwise only the part of the
 * log not scanned before is read (every sale has payments, so a scan from the
 * acknowledged cursor stops within a few events).
 */
import type { EventLog } from '../events/event-log.ts';

export interface UnsyncedPayment {
  seq: number;
  /** The terminal's clock time of the payment event (ms). */
  time: number;
}

export class UnsyncedPaymentTracker {
  private found: UnsyncedPayment | null = null;
  /** No payment.taken in (lastAck, scannedTo]. */
  private scannedTo = 0;
  private lastAck = 0;

  constructor(private readonly log: EventLog) {}

  async oldest(ackSeq: number): Promise<UnsyncedPayment | null> {
    if (ackSeq < this.lastAck) {
      this.found = null;
      this.scannedTo = 0;
    }
    this.lastAck = ackSeq;
    if (this.found && this.found.seq > ackSeq) return this.found;
    this.found = null;
    const head = this.log.head.seq;
    const from = Math.max(ackSeq, this.scannedTo) + 1;
    if (from > head) return null;
    // Small pages: a payment is usually within a few events, and every page is decoded whole (not hashed).
    for await (const page of this.log.readEvents(from, { to: head, pageSize: 16 })) {
      for (const event of page) {
        this.scannedTo = event.seq;
        if (event.type === 'payment.taken') {
          this.found = { seq: event.seq, time: event.time };
          return this.found;
        }
      }
    }
    this.scannedTo = Math.max(this.scannedTo, head);
    return null;
  }
}
