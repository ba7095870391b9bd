/**
 * The rules every CloudStorage backend shares, in one place, as abstract-level
 * does for its backends: the public methods (the CloudStorage seam) check that
 * storage is open, validate their input, run the fault hooks and map failures
 * to tillsync's codes, then call the backend's `_`-prefixed method, which only
 * reads or writes. A backend never re-implements these rules.
 *
 * Rules enforced here (see storage.ts for the full contract):
 * - After `close()`, every call rejects with STORAGE_CLOSED.
 * - `commit(ops)`: the fault hook (`StorageFaults.beforeOp`) runs for each op,
 *   in order, before the backend sees any of them; an event left out of the id
 *   index must be quarantined; an exception id must be `exc-<n>`. Any of these
 *   failing rejects with STORAGE_FAILED and nothing is applied.
 * - Range reads with `limit <= 0` answer [] without asking the backend.
 * - Failures the backend throws become TillsyncErrors: its own mapping first
 *   (`_mapError`), then DISK_FULL for a full disk, else STORAGE_FAILED.
 */
import { TillsyncError } from '../errors.ts';
import type { Change, CustomerRecord, ItemRecord } from '../events/event-types.ts';
import {
  exceptionNumber,
  type CloudStorage,
  type CredentialRecord,
  type EventRef,
  type ExceptionRecord,
  type SupportBundleRecord,
  type HighWater,
  type QuarantineEntry,
  type StorageFaults,
  type StoreCounters,
  type StoredEvent,
  type StoreRecord,
  type TerminalRecord,
  type ValueView,
  type WriteOp,
} from './storage.ts';

export abstract class StorageBase implements CloudStorage {
  protected readonly faults: StorageFaults;
  private closed = false;

  constructor(faults: StorageFaults = {}) {
    this.faults = faults;
  }

  /** Whether `close()` was called. */
  protected get isClosed(): boolean {
    return this.closed;
  }

  getStore(store: string): Promise<StoreRecord | undefined> {
    return this.read(() => this._getStore(store));
  }
  listStores(): Promise<StoreRecord[]> {
    return this.read(() => this._listStores());
  }
  getCounters(store: string): Promise<StoreCounters> {
    return this.read(() => this._getCounters(store));
  }
  getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined> {
    return this.read(() => this._getTerminal(store, terminal));
  }
  listTerminals(store: string): Promise<TerminalRecord[]> {
    return this.read(() => this._listTerminals(store));
  }
  getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    return this.read(() => this._getCredential(tokenHash));
  }
  getHighWater(store: string, terminal: string): Promise<HighWater> {
    return this.read(() => this._getHighWater(store, terminal));
  }
  getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    return this.read(() => (ids.length === 0 ? Promise.resolve([]) : this._getEventRefs(store, ids)));
  }
  readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]> {
    return this.read(() => (limit <= 0 ? Promise.resolve([]) : this._readEvents(store, terminal, Math.max(1, from), limit)));
  }
  listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
    return this.read(() => (limit <= 0 ? Promise.resolve([]) : this._listQuarantine(store, limit)));
  }
  readFeed(store: string, since: number, limit: number): Promise<Change[]> {
    return this.read(() => (limit <= 0 ? Promise.resolve([]) : this._readFeed(store, Math.max(0, since), limit)));
  }
  getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.read(() => (customers.length === 0 ? Promise.resolve([]) : this._getBalances(store, customers)));
  }
  getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.read(() => (vouchers.length === 0 ? Promise.resolve([]) : this._getVouchers(store, vouchers)));
  }
  getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.read(() => (ids.length === 0 ? Promise.resolve([]) : this._getItems(store, ids)));
  }
  getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>> {
    return this.read(() => (ids.length === 0 ? Promise.resolve([]) : this._getCustomers(store, ids)));
  }
  getException(store: string, id: string): Promise<ExceptionRecord | undefined> {
    const n = exceptionNumber(id);
    return this.read(() => (n === undefined ? Promise.resolve(undefined) : this._getException(store, n)));
  }
  listExceptions(store: string, status: 'open' | 'resolved' | 'all'): Promise<ExceptionRecord[]> {
    return this.read(async () => {
      const all = await this._listExceptions(store);
      return status === 'all' ? all : all.filter((e) => e.status === status);
    });
  }

  listSupportBundles(store: string, terminal: string): Promise<SupportBundleRecord[]> {
    return this.read(() => this._listSupportBundles(store, terminal));
  }

  async commit(ops: readonly WriteOp[]): Promise<void> {
    if (this.closed) throw closedError();
    try {
      const beforeOp = this.faults.beforeOp;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        beforeOp?.(op, i);
        if (op.kind === 'event') {
          if (!op.event.indexById && !op.event.quarantine) throw new Error('an event left out of the id index must be quarantined');
        } else if (op.kind === 'exception' && exceptionNumber(op.exception.id) === undefined) {
          throw new Error(`bad exception id ${op.exception.id}`);
        }
      }
    } catch (err) {
      throw new TillsyncError('STORAGE_FAILED', `commit failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (ops.length === 0) return;
    try {
      await this._commit(ops);
    } catch (err) {
      throw this.storageError(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this._close();
  }

  /** Any failure as a TillsyncError (see the file comment). */
  protected storageError(err: unknown): TillsyncError {
    if (err instanceof TillsyncError) return err;
    const own = this._mapError(err);
    if (own) return own;
    const e = err as { code?: string; cause?: { code?: string }; message?: string };
    const text = `${e.message ?? ''} ${String(e.code ?? '')} ${String(e.cause?.code ?? '')}`;
    if (/ENOSPC|No space left|disk full/i.test(text)) return new TillsyncError('DISK_FULL', 'disk full: nothing was written', { cause: err });
    return new TillsyncError('STORAGE_FAILED', `storage failed: ${e.message ?? String(err)}`, { cause: err });
  }

  private async read<T>(f: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    try {
      return await f();
    } catch (err) {
      throw this.storageError(err);
    }
  }

  /** The backend's own failures mapped to codes (e.g. its "not open"), or undefined for the shared mapping. */
  protected _mapError(_err: unknown): TillsyncError | undefined {
    return undefined;
  }

  // The backend's part: plain reads and one atomic write, called only while open with validated input.
  protected abstract _getStore(store: string): Promise<StoreRecord | undefined>;
  /** Every store, in id order. */
  protected abstract _listStores(): Promise<StoreRecord[]>;
  protected abstract _getCounters(store: string): Promise<StoreCounters>;
  protected abstract _getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined>;
  protected abstract _listTerminals(store: string): Promise<TerminalRecord[]>;
  protected abstract _getCredential(tokenHash: string): Promise<CredentialRecord | undefined>;
  protected abstract _getHighWater(store: string, terminal: string): Promise<HighWater>;
  /** `ids` is not empty. */
  protected abstract _getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>>;
  /** `from` >= 1, `limit` > 0. */
  protected abstract _readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]>;
  /** `limit` > 0. */
  protected abstract _listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]>;
  /** `since` >= 0, `limit` > 0. */
  protected abstract _readFeed(store: string, since: number, limit: number): Promise<Change[]>;
  protected abstract _getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>>;
  protected abstract _getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>>;
  protected abstract _getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>>;
  protected abstract _getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>>;
  /** By the exception's number (`exc-<n>`). */
  protected abstract _getException(store: string, n: number): Promise<ExceptionRecord | undefined>;
  /** All of the store's exceptions in number order. */
  protected abstract _listExceptions(store: string): Promise<ExceptionRecord[]>;
  /** A terminal's support bundles in id order. */
  protected abstract _listSupportBundles(store: string, terminal: string): Promise<SupportBundleRecord[]>;
  /** Ops validated and not empty; applies all or none, durably. */
  protected abstract _commit(ops: readonly WriteOp[]): Promise<void>;
  /** Called once. */
  protected abstract _close(): Promise<void>;
}

function closedError(): TillsyncError {
  return new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed');
}
