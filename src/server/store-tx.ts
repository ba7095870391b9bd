/**
 * One store's unit of work: collects the ops of one atomic commit, hands out
 * feed cursors and exception ids from the store's counters, and after the
 * commit tells the notifier what changed. Run it inside `StoreLocks.run(store)`.
 */
import type { Clock } from '../events/event-log.ts';
import type { Change, DownstreamBody, DownstreamType } from '../events/event-types.ts';
import { parseChange } from '../events/validate.ts';
import type { FeedTail } from './feed-tail.ts';
import { exceptionId, type CloudStorage, type StoreCounters, type WriteOp } from './storage.ts';

/** Where the server tells connected terminals that something changed. */
export interface Notifier {
  feed(store: string, head: number): void;
  exceptions(store: string, open: number): void;
  credentialRevoked(store: string, terminal: string): void;
}

export interface ServerContext {
  storage: CloudStorage;
  clock: Clock;
  notify: Notifier;
  /** Told about every feed change once it is committed (feed-tail.ts). */
  feedTail?: FeedTail;
  /** Told when a commit wrote credentials (auth.ts remembers valid ones). */
  credentialsChanged?: () => void;
}

export class StoreTx {
  readonly ops: WriteOp[] = [];
  private readonly changes: Change[] = [];
  readonly counters: StoreCounters;
  private readonly start: StoreCounters;

  private constructor(
    readonly ctx: ServerContext,
    readonly store: string,
    counters: StoreCounters,
  ) {
    this.start = counters;
    this.counters = { ...counters };
  }

  static async begin(ctx: ServerContext, store: string): Promise<StoreTx> {
    return new StoreTx(ctx, store, await ctx.storage.getCounters(store));
  }

  get now(): number {
    return this.ctx.clock.now();
  }

  put(op: WriteOp): void {
    this.ops.push(op);
  }

  /** Appends a downstream change with the next cursor; validated like the terminal will. */
  addChange<T extends DownstreamType>(type: T, body: DownstreamBody<T>): number {
    const cursor = this.counters.feedHead + 1;
    const change = parseChange({ cursor, type, body });
    this.counters.feedHead = cursor;
    this.ops.push({ kind: 'feed', store: this.store, change });
    this.changes.push(change);
    return cursor;
  }

  nextExceptionId(): string {
    this.counters.lastException += 1;
    return exceptionId(this.counters.lastException);
  }

  /** Commits everything atomically (no-op when empty), then notifies. */
  async commit(opts: { exceptionsChanged?: boolean } = {}): Promise<void> {
    const c = this.counters;
    const s = this.start;
    const countersChanged =
      c.feedHead !== s.feedHead || c.openExceptions !== s.openExceptions || c.lastException !== s.lastException || c.quarantined !== s.quarantined;
    if (countersChanged) this.ops.push({ kind: 'counters', store: this.store, counters: { ...c }, expected: { ...s } });
    if (this.ops.length === 0) return;
    await this.ctx.storage.commit(this.ops);
    this.ctx.feedTail?.appended(this.store, this.changes);
    if (this.ops.some((op) => op.kind === 'credential')) this.ctx.credentialsChanged?.();
    if (c.feedHead !== s.feedHead) this.ctx.notify.feed(this.store, c.feedHead);
    if (opts.exceptionsChanged || c.openExceptions !== s.openExceptions) this.ctx.notify.exceptions(this.store, c.openExceptions);
  }
}
