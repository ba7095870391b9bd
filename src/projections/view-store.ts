/**
 * One persisted view namespace (a LevelDB sublevel) with a staging overlay.
 *
 * Reducers read and write through `get` / `put` / `del` while the event log's
 * single writer stages a batch. Staged writes are invisible to the committed
 * state until `committed()` runs after the batch is on disk; `rollbackTo(mark)`
 * undoes a refused append group exactly; `aborted()` drops everything staged.
 *
 * Two residency modes:
 * - `memory`: the whole namespace is loaded on open and kept in a Map (items,
 *   customers, balances: bounded by the store's size, read on every keystroke).
 * - `disk`: only keys `preload`ed (or written this session) are cached; readers
 *   must `await preload(keys)` before staging events that need them (sales: one
 *   record per sale, only needed for refunds and voids).
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { BatchWriter } from '../events/event-log.ts';
import { BIG_READS, type Sublevel } from '../events/level-util.ts';

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

export type Residency = 'memory' | 'disk';

export type ChangeListener<V> = (key: string, before: V | undefined, after: V | undefined) => void;

const MAX_DISK_CACHE = 50_000;

export class ViewStore<V> {
  readonly name: string;
  readonly sublevel: Sublevel;
  readonly residency: Residency;
  private readonly base = new Map<string, V>();
  private readonly staged = new Map<string, V | undefined>();
  private journal: Array<{ key: string; had: boolean; prev: V | undefined }> = [];
  private readonly listeners: Array<ChangeListener<V>> = [];

  constructor(name: string, sublevel: Sublevel, residency: Residency) {
    this.name = name;
    this.sublevel = sublevel;
    this.residency = residency;
  }

  /** Loads a memory-resident namespace. */
  async load(): Promise<void> {
    this.base.clear();
    if (this.residency !== 'memory') return;
    const it = this.sublevel.iterator(BIG_READS);
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) this.base.set(k, decoder.decode(v) as V);
      }
    } finally {
      await it.close();
    }
  }

  /** Makes `keys` readable synchronously (disk residency). Missing keys stay missing. */
  async preload(keys: Iterable<string>): Promise<void> {
    if (this.residency === 'memory') return;
    const want = [...new Set(keys)].filter((k) => !this.base.has(k) && !this.staged.has(k));
    if (want.length === 0) return;
    const values = await this.sublevel.getMany(want);
    for (let i = 0; i < want.length; i++) {
      const v = values[i];
      if (v !== undefined) this.base.set(want[i]!, decoder.decode(v) as V);
    }
  }

  get(key: string): V | undefined {
    if (this.staged.has(key)) return this.staged.get(key);
    return this.base.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  put(key: string, value: V): void {
    this.journal.push({ key, had: this.staged.has(key), prev: this.staged.get(key) });
    this.staged.set(key, value);
  }

  del(key: string): void {
    if (this.get(key) === undefined) return;
    this.journal.push({ key, had: this.staged.has(key), prev: this.staged.get(key) });
    this.staged.set(key, undefined);
  }

  /** Committed entries (memory residency: all of them). */
  entries(): IterableIterator<[string, V]> {
    return this.base.entries();
  }

  get size(): number {
    return this.base.size;
  }

  onChange(fn: ChangeListener<V>): void {
    this.listeners.push(fn);
  }

  mark(): number {
    return this.journal.length;
  }

  rollbackTo(mark: number): void {
    while (this.journal.length > mark) {
      const j = this.journal.pop()!;
      if (j.had) this.staged.set(j.key, j.prev);
      else this.staged.delete(j.key);
    }
  }

  get stagedCount(): number {
    return this.staged.size;
  }

  flushInto(batch: BatchWriter): void {
    for (const [k, v] of this.staged) {
      if (v === undefined) batch.del(this.sublevel, k);
      else batch.put(this.sublevel, k, encoder.encode(v));
    }
  }

  committed(): void {
    for (const [k, v] of this.staged) {
      const before = this.base.get(k);
      if (v === undefined) this.base.delete(k);
      else this.base.set(k, v);
      for (const fn of this.listeners) fn(k, before, v);
    }
    this.staged.clear();
    this.journal = [];
    if (this.residency === 'disk' && this.base.size > MAX_DISK_CACHE) this.base.clear();
  }

  aborted(): void {
    this.staged.clear();
    this.journal = [];
  }

  /** Forget everything in memory (the sublevel is cleared by the caller). */
  reset(): void {
    const before = [...this.base.entries()];
    this.base.clear();
    this.staged.clear();
    this.journal = [];
    for (const [k, v] of before) for (const fn of this.listeners) fn(k, v, undefined);
  }
}
