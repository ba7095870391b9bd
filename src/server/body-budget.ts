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
 * Fairness between tenants (issue 15, 1.4): a request names its owner (store,
 * terminal). One terminal holds at most `terminalShare` of the budget and one
 * store at most `storeShare` (each may always hold one body when it holds
 * nothing), so no credential and no store can fill the budget with several
 * bodies while others wait. A waiter held back only by its own owner's share
 * is passed by the waiters behind it; one held back by the budget itself keeps
 * its place (so a large body is not starved by small ones). Among the stores
 * waiting, the one admitted least recently goes first; within a store, first
 * come first served. A single body over a share still passes alone; what
 * stops one that then trickles is the minimum receive rate (receive-rate.ts),
 * which cuts it: a trickling credential delays another store's upload by at
 * most its grace period, never past the admission wait (no CLOUD_BUSY).
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

/** Who a body belongs to: shares are kept per store and per terminal. */
export interface BodyOwner {
  store: string;
  terminal: string;
}

export interface BudgetShares {
  /** Fraction of the budget one terminal may hold at once. Default 1/2. */
  terminalShare?: number;
  /** Fraction of the budget one store may hold at once. Default 3/4. */
  storeShare?: number;
}

interface Waiter {
  bytes: number;
  /** Undefined for requests without an owner: no shares apply to them. */
  store: string | undefined;
  terminal: string | undefined;
  admit(): void;
  state: 'queued' | 'held' | 'done';
}

export class BodyBudget {
  private used = 0;
  private holders = 0;
  private readonly queue: Waiter[] = [];
  /** Bytes held per store and per `store/terminal` (Maps: ids come from outside). */
  private readonly byStore = new Map<string, number>();
  private readonly byTerminal = new Map<string, number>();
  /** When each store was last admitted (a counter): who goes first when several wait. */
  private readonly lastAdmitted = new Map<string, number>();
  private admissions = 0;
  private readonly storeCap: number;
  private readonly terminalCap: number;

  constructor(readonly limit: number, shares: BudgetShares = {}) {
    this.storeCap = limit * (shares.storeShare ?? 0.75);
    this.terminalCap = limit * (shares.terminalShare ?? 0.5);
  }

  /** Bytes held by admitted requests. */
  get inUse(): number {
    return this.used;
  }
  /** Requests waiting to be admitted. */
  get waiting(): number {
    return this.queue.length;
  }
  /** Bytes held by one store's admitted requests. */
  heldBy(store: string): number {
    return this.byStore.get(store) ?? 0;
  }

  acquire(bytes: number, owner?: BodyOwner): BodyTicket {
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const w: Waiter = { bytes, store: owner?.store, terminal: owner && `${owner.store}/${owner.terminal}`, admit, state: 'queued' };
    if (this.queue.length === 0 && this.fits(w) === 'yes') this.hold(w);
    else {
      this.queue.push(w);
      this.drain();
    }
    return {
      admitted,
      release: () => {
        if (w.state === 'held') {
          this.used -= w.bytes;
          this.holders--;
          add(this.byStore, w.store, -w.bytes);
          add(this.byTerminal, w.terminal, -w.bytes);
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

  /** 'yes'; 'owner' when only its store's or terminal's share holds it back; 'budget' when the budget does. */
  private fits(w: Waiter): 'yes' | 'owner' | 'budget' {
    const t = w.terminal === undefined ? 0 : this.byTerminal.get(w.terminal) ?? 0;
    const s = w.store === undefined ? 0 : this.byStore.get(w.store) ?? 0;
    if ((t > 0 && t + w.bytes > this.terminalCap) || (s > 0 && s + w.bytes > this.storeCap)) return 'owner';
    return this.holders === 0 || this.used + w.bytes <= this.limit ? 'yes' : 'budget';
  }

  private hold(w: Waiter): void {
    w.state = 'held';
    this.used += w.bytes;
    this.holders++;
    add(this.byStore, w.store, w.bytes);
    add(this.byTerminal, w.terminal, w.bytes);
    this.lastAdmitted.set(w.store ?? '', ++this.admissions);
    w.admit();
  }

  /**
   * Admits what fits, store by store: the store admitted least recently goes
   * first (so a store whose waiters keep coming back cannot stay ahead of one
   * that waits), first come first served within a store.
   */
  private drain(): void {
    for (;;) {
      if (this.queue.length === 0) return;
      const order = this.queue
        .map((w, i) => ({ w, i, last: this.lastAdmitted.get(w.store ?? '') ?? -1 }))
        .sort((a, b) => a.last - b.last || a.i - b.i);
      let admitted = false;
      for (const { w, i } of order) {
        const f = this.fits(w);
        if (f === 'owner') continue;
        if (f === 'budget') return;
        this.queue.splice(i, 1);
        this.hold(w);
        admitted = true;
        break;
      }
      if (!admitted) return;
    }
  }
}

function add(m: Map<string, number>, key: string | undefined, n: number): void {
  if (key === undefined) return;
  const v = (m.get(key) ?? 0) + n;
  if (v <= 0) m.delete(key);
  else m.set(key, v);
}
