/**
 * Bounds the request bodies the cloud holds at once (upload batches: their raw
 * bytes, their decoded columns, while they wait for their store's lock), so
 * memory stays flat however many terminals reconnect at once.
 *
 * A request asks for its declared size (Content-Length; the body limit when it
 * has none) BEFORE its body is read, and holds it until its response is done
 * or its connection closes. Over the budget it waits, first come first served,
 * with its body still unread: the socket's flow control holds the sender back
 * (backpressure, no 503, nothing buffered by us). One request is always
 * admitted when nothing else is, so a body larger than the budget still passes.
 *
 * States of one ticket:
 *
 *   acquire ──fits──▶ held ──release()──▶ done
 *      │                ▲
 *      └─ over ─▶ queued ┘ (when earlier holders release)
 *                   │
 *                   └─ cancel() (connection closed while queued) ──▶ done
 */
export interface BodyTicket {
  /** Settles when the body may be read (at once when it fits). Never rejects. */
  readonly admitted: Promise<void>;
  /** Gives the bytes back (held) or leaves the queue (queued). Idempotent. */
  release(): void;
}

interface Waiter {
  bytes: number;
  admit(): void;
  state: 'queued' | 'held' | 'done';
}

export class BodyBudget {
  private used = 0;
  private holders = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly limit: number) {}

  /** Bytes held by admitted requests. */
  get inUse(): number {
    return this.used;
  }
  /** Requests waiting to be admitted. */
  get waiting(): number {
    return this.queue.length;
  }

  acquire(bytes: number): BodyTicket {
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const w: Waiter = { bytes, admit, state: 'queued' };
    if (this.queue.length === 0 && this.fits(bytes)) this.hold(w);
    else this.queue.push(w);
    return {
      admitted,
      release: () => {
        if (w.state === 'held') {
          this.used -= w.bytes;
          this.holders--;
          w.state = 'done';
          this.drain();
        } else if (w.state === 'queued') {
          w.state = 'done';
          this.queue.splice(this.queue.indexOf(w), 1);
          w.admit(); // the caller finds its connection closed
          this.drain();
        }
      },
    };
  }

  private fits(bytes: number): boolean {
    return this.holders === 0 || this.used + bytes <= this.limit;
  }

  private hold(w: Waiter): void {
    w.state = 'held';
    this.used += w.bytes;
    this.holders++;
    w.admit();
  }

  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) this.hold(this.queue.shift()!);
  }
}
