/**
 * Serializes read → compute → commit per store. The server is the single
 * writer of each store's records (see CloudStorage's concurrency note); stores
 * proceed in parallel. A failed task releases the lock like a successful one.
 *
 * Across processes: when the storage is shared by several cloud processes it
 * offers `lockStore` (PostgreSQL: a session advisory lock per store), and a
 * task holds that lock too, taken after this process's own turn came (so one
 * process waits on the database for a store with one connection at most). The
 * cross-process lock spares the processes CLOUD_BUSY retries; correctness does
 * not depend on it (the counters compare-and-set in the commit refuses a write
 * computed from a stale read whatever the locks did, e.g. when a lock's
 * connection broke mid-task).
 */
import type { CloudStorage } from './storage.ts';

export class StoreLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly shared?: Pick<CloudStorage, 'lockStore'>) {}

  run<T>(store: string, task: () => Promise<T>): Promise<T> {
    const lockStore = this.shared?.lockStore?.bind(this.shared);
    const held = lockStore ? () => lockStore(store, task) : task;
    const prev = this.tails.get(store) ?? Promise.resolve();
    const result = prev.then(held, held);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(store, tail);
    void tail.then(() => {
      if (this.tails.get(store) === tail) this.tails.delete(store);
    });
    return result;
  }
}
