/**
 * Serializes read → compute → commit per store. The server is the single
 * writer of each store's records (see CloudStorage's concurrency note); stores
 * proceed in parallel. A failed task releases the lock like a successful one.
 */
export class StoreLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(store: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(store) ?? Promise.resolve();
    const result = prev.then(task, task);
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
