/**
 * The newest feed changes of each store, kept in memory as committed, so the
 * feed route serves a terminal that is nearly caught up without a storage read.
 *
 * Why: when a store's terminals are told "new data up to N" (stream.ts), they all
 * ask for the same few changes at once. With 50 terminals, reading and decoding
 * those changes from storage for each of them was a fifth of the cloud's CPU.
 *
 * How it stays right:
 * - `appended` is called by StoreTx right after the storage commit succeeded,
 *   with no await in between and under the store's lock, so changes arrive in
 *   cursor order and only once they are durable. Every feed change is written
 *   through StoreTx. With one process as the only writer of its storage, the
 *   tail's last cursor is the store's feed head for a store it has seen. With
 *   several processes over one database, another's commit (heard through
 *   `CloudStorage.watch`) drops the store's tail (`external`), and a missed
 *   notification drops them all (`clear`); one of this process's commits
 *   after another's starts a new run (its first cursor does not continue the
 *   tail), so the tail never answers a change it lacks. Until the
 *   notification arrives it may answer an older head, as a read made just
 *   before the other commit would.
 * - A store's tail holds a contiguous run of cursors, at most `perStore` of
 *   them. A change that does not continue the run starts a new one.
 * - `read` answers only when the tail holds every change the page needs
 *   (cursor since + 1 onwards); otherwise it returns undefined and the caller
 *   reads storage, as before. A store never committed to since start-up is not
 *   in the tail at all.
 * - Changes are shared, never copied: nothing may change them after commit
 *   (the feed route copies the ones it filters per terminal).
 * At most `stores` stores are kept: the one appended to longest ago goes first.
 */
import type { Change } from '../events/event-types.ts';

interface Tail {
  /** Ring of changes; the oldest is at `start`. */
  ring: Array<Change | undefined>;
  start: number;
  size: number;
  /** Cursor of the newest change (the store's feed head). */
  last: number;
}

export interface FeedTailOptions {
  /** Changes kept per store (default 2048). */
  perStore?: number;
  /** Stores kept (default 64). */
  stores?: number;
}

export class FeedTail {
  private readonly tails = new Map<string, Tail>();
  private readonly perStore: number;
  private readonly maxStores: number;

  constructor(opts: FeedTailOptions = {}) {
    this.perStore = Math.max(1, opts.perStore ?? 2048);
    this.maxStores = Math.max(1, opts.stores ?? 64);
  }

  /** Records changes just committed for `store`, in cursor order. */
  appended(store: string, changes: readonly Change[]): void {
    if (changes.length === 0) return;
    let tail = this.tails.get(store);
    if (tail) this.tails.delete(store); // re-inserted below: the map's order is the eviction order
    for (const c of changes) {
      if (!tail || c.cursor !== tail.last + 1) tail = { ring: new Array<Change | undefined>(this.perStore), start: 0, size: 0, last: c.cursor - 1 };
      const at = (tail.start + tail.size) % this.perStore;
      tail.ring[at] = c;
      if (tail.size < this.perStore) tail.size++;
      else tail.start = (tail.start + 1) % this.perStore;
      tail.last = c.cursor;
    }
    this.tails.set(store, tail!);
    while (this.tails.size > this.maxStores) this.tails.delete(this.tails.keys().next().value!);
  }

  /**
   * Another process sharing the storage committed to `store` up to `head`
   * (CloudStorage.watch): a tail that ends below it no longer ends at the
   * store's head, so it goes (the next page is read from storage). Call it
   * before telling the store's terminals.
   */
  external(store: string, head: number): void {
    const tail = this.tails.get(store);
    if (tail && head > tail.last) this.tails.delete(store);
  }

  /** Notifications of other processes' commits may have been missed: every tail goes. */
  clear(): void {
    this.tails.clear();
  }

  /**
   * Changes with cursor > since, at most `limit`, and the store's head; or
   * undefined when the tail does not hold all of them (read storage instead).
   */
  read(store: string, since: number, limit: number): { changes: Change[]; head: number } | undefined {
    const tail = this.tails.get(store);
    if (!tail) return undefined;
    const first = tail.last - tail.size + 1;
    if (since + 1 < first || since > tail.last) return undefined;
    const n = Math.min(limit, tail.last - since);
    const changes = new Array<Change>(n);
    const offset = since + 1 - first;
    for (let i = 0; i < n; i++) changes[i] = tail.ring[(tail.start + offset + i) % this.perStore]!;
    return { changes, head: tail.last };
  }
}
