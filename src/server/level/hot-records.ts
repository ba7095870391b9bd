/**
 * The small records every upload reads (the store, its counters, the
 * terminal's high-water mark, the customers, balances and vouchers its events
 * name), kept in memory as their stored bytes, up to HOT_ENTRIES of them (the
 * least recently used go first: lru-cache), so an upload's reads under the
 * store's lock do not wait for the disk.
 *
 * Guarantee: never stale. Commits write their records through once durable
 * (`written`), drop them when the write's outcome is unknown (`forget`), and a
 * disk read fills the memory only when no commit ended since it started
 * (`epoch` / `fill`), so a read racing a commit cannot leave the old value.
 * A miss only costs a disk read.
 */
import { LRUCache } from 'lru-cache';
import type { Bytes } from '../../events/level-util.ts';
import type { Kind } from './keys.ts';

export const HOT_KINDS: ReadonlySet<Kind> = new Set<Kind>(['stores', 'counters', 'terminals', 'highWater', 'balances', 'vouchers', 'customers']);
const HOT_ENTRIES = 100_000;
/** A record known to be absent (lru-cache holds no null). */
const ABSENT = Symbol('absent');

export class HotRecords {
  /** Stored bytes by full key, or ABSENT. */
  private readonly map = new LRUCache<string, Uint8Array | typeof ABSENT>({ max: HOT_ENTRIES });
  /** Commits ended so far. */
  private commits = 0;
  /** Reads answered from memory so far (tests). */
  hits = 0;

  /** The kept bytes (null: known absent), or undefined when not kept; counts a hit. */
  lookup(full: string): Uint8Array | null | undefined {
    const kept = this.map.get(full);
    if (kept === undefined) return undefined;
    this.hits++;
    return kept === ABSENT ? null : kept;
  }

  /** Taken before a disk read; pass it to `fill`. */
  epoch(): number {
    return this.commits;
  }

  /** Keeps what a disk read started at `epoch` found, unless a commit ended meanwhile. */
  fill(full: string, raw: Bytes | undefined, epoch: number): void {
    if (epoch === this.commits) this.keep(full, raw);
  }

  /** A commit ended (durably or not): reads started before it must not fill. */
  commitEnded(): void {
    this.commits++;
  }

  /** A durable commit's record (undefined: deleted). */
  written(full: string, raw: Bytes | undefined): void {
    this.keep(full, raw);
  }

  /** The record's stored value is not known (a write that failed part way). */
  forget(full: string): void {
    this.map.delete(full);
  }

  clear(): void {
    this.map.clear();
  }

  /** Remembers a hot record's stored bytes (a copy: the caller's may be a view of a shared buffer). */
  private keep(full: string, raw: Bytes | undefined): void {
    this.map.set(full, raw === undefined ? ABSENT : raw.slice());
  }
}
