/**
 * The write batches LevelStorage commits through, reused.
 *
 * classic-level frees a chained batch's native buffer only when V8 collects
 * the JS object, which it does late (it cannot see that memory): one buffer
 * the size of each commit piled up, ~250 MB with 50 terminals uploading. So
 * the cloud keeps a few native batches and reuses them (clear keeps the
 * buffer), through the chained batch's implementer methods (`_put`, `_del`,
 * `_write`, `_clear`: abstract-level's contract for backends), which also skip
 * the public wrapper's per-op checks. Those are private to classic-level, so
 * package.json pins classic-level exactly and test/server/level-batch.test.ts
 * checks this path is taken. Should they be missing, each commit uses a public
 * chained batch (`native` is then false), which is correct but slower and
 * holds memory until V8 collects it.
 *
 * A commit is ONE chained batch written with `sync: true` (chained, because an
 * array batch with options is 4-5x slower: PERF-NOTES).
 */
import type { Bytes, LevelDb } from '../../events/level-util.ts';

/** The implementer methods of classic-level's chained batch. */
interface NativeChainedBatch {
  _put(key: string | Uint8Array, value: Bytes): void;
  _del(key: string): void;
  _write(options: object): Promise<void>;
  _clear(): void;
}

export interface CommitBatch {
  reusable: boolean;
  /** Keys as strings, or as bytes the batch copies at once (event-scratch keys: see EventScratch). */
  put(key: string | Uint8Array, value: Bytes): void;
  del(key: string): void;
  write(): Promise<void>;
  clear(): void | Promise<void>;
}

const SYNC_WRITE = { sync: true };
/** Native batches kept for reuse (commits of different stores run concurrently). */
const MAX_SPARE_BATCHES = 4;

export class CommitBatches {
  private readonly spare: CommitBatch[] = [];
  /** Batches made so far, and how many of them on the native path (tests: the fast path is taken and batches are reused). */
  made = 0;
  madeNative = 0;

  constructor(private readonly db: LevelDb) {}

  /** A spare batch, or a new one. */
  take(): CommitBatch {
    return this.spare.pop() ?? this.make();
  }

  /** Empties a batch for the next commit (kept: at most MAX_SPARE_BATCHES), or lets it go. */
  async retire(batch: CommitBatch): Promise<void> {
    try {
      await batch.clear();
    } catch {
      return; // not reused
    }
    if (batch.reusable && this.spare.length < MAX_SPARE_BATCHES && this.db.status === 'open') this.spare.push(batch);
  }

  clear(): void {
    this.spare.length = 0;
  }

  private make(): CommitBatch {
    this.made++;
    const b = this.db.batch() as unknown as Partial<NativeChainedBatch> & ReturnType<LevelDb['batch']>;
    if (typeof b._put === 'function' && typeof b._del === 'function' && typeof b._write === 'function' && typeof b._clear === 'function') {
      this.madeNative++;
      const n = b as NativeChainedBatch;
      return {
        reusable: true,
        put: (k, v) => n._put(k, v),
        del: (k) => n._del(k),
        write: () => n._write(SYNC_WRITE),
        clear: () => n._clear(),
      };
    }
    return {
      reusable: false,
      put: (k, v) => void b.put(typeof k === 'string' ? k : Buffer.from(k).toString('utf8'), v),
      del: (k) => void b.del(k),
      write: () => b.write(SYNC_WRITE),
      clear: () => b.close(),
    };
  }
}
