/**
 * The cloud's storage seam. Everything above this file (routes, upload
 * processing, views, admin) talks only to `CloudStorage`; the default backend is
 * LevelDB (`level-storage.ts`), `memory-storage.ts` is the second implementation,
 * and PostgreSQL (`postgres/`) the third. All of them extend `StorageBase`
 * (storage-base.ts: the rules they share) and run
 * `test/server/storage-contract.test.ts`.
 *
 * Guarantees every implementation gives:
 * - Atomicity: `commit(ops)` applies all of its ops or none of them. A failure
 *   anywhere (an op that cannot be encoded, an injected fault, a failed disk
 *   write) leaves storage exactly as it was and rejects with a TillsyncError
 *   (STORAGE_FAILED, DISK_FULL, or LOG_CLOSED after close()).
 * - Ordering: ops of one commit apply in array order (a later op on the same key
 *   wins). Commits are linearizable: once `commit` resolved, every read sees it.
 *   Range reads (`readEvents`, `readFeed`, lists) return ascending key order.
 * - Durability: `commit` resolves only after the data is durable (LevelDB:
 *   `write({ sync: true })`). The memory backend is durable only for its own
 *   lifetime, which is all its users (tests, demos) ask of it.
 * - Crash: a crash at any moment leaves either the whole commit or none of it.
 * - Concurrency: storage does no read-modify-write of its own. The server is the
 *   single writer per store and serializes its read → compute → commit steps per
 *   store (see `StoreLocks` in `store-locks.ts`); a backend shared by several
 *   server processes adds its own conditional writes (PostgreSQL: the
 *   counters op's `expected`, failing with CLOUD_BUSY) and tells each process
 *   of the others' commits (`watch`).
 * - Events are append-only: a commit never carries an event at a (store,
 *   terminal, seq) already stored (the upload path stores each seq once), so a
 *   backend may keep a commit's consecutive events together.
 * - Reads of a missing key return `undefined` (or the documented default), never throw.
 * - Values come back as equal copies: mutating a returned record changes nothing stored.
 */
import type { Change, CustomerRecord, ItemRecord, StoreSettings } from '../events/event-types.ts';

export interface StoreRecord {
  id: string;
  name: string;
  settings: StoreSettings;
  createdAt: number;
  /** Created as a test store (`tillsync loadtest` runs only against one); set at creation, never changed. */
  testStore?: true;
}

/** Per-store counters, written in the same commit as whatever changes them. */
export interface StoreCounters {
  /** Last feed cursor used (0 = empty feed). */
  feedHead: number;
  openExceptions: number;
  /** Last exception number used; exception ids are `exc-<n>`. */
  lastException: number;
  quarantined: number;
}
export const EMPTY_COUNTERS: StoreCounters = { feedHead: 0, openExceptions: 0, lastException: 0, quarantined: 0 };

export interface TerminalRecord {
  store: string;
  id: string;
  name: string;
  createdAt: number;
  /** SHA-256 hex of the current credential; the token itself is never stored. */
  tokenHash: string;
  revoked: boolean;
}

export interface CredentialRecord {
  tokenHash: string;
  store: string;
  terminal: string;
  revoked: boolean;
}

/** The terminal's contiguous high-water mark as stored by the cloud. */
export interface HighWater {
  seq: number;
  /** Hash of the event at `seq` (GENESIS_HASH when seq is 0). */
  hash: string;
  /** How many of this terminal's events are quarantined. */
  quarantined: number;
}

export interface Quarantine {
  code: string;
  message: string;
}

export interface StoredEvent {
  store: string;
  terminal: string;
  seq: number;
  id: string;
  /** SHA-256 hex of `bytes`. */
  hash: string;
  /** The same hash as its 32 bytes, when the writer has them (spares a backend that stores them the hex parse). */
  hashBytes?: Uint8Array;
  /** The canonical bytes exactly as received. */
  bytes: Uint8Array;
  quarantine?: Quarantine;
  /**
   * False for an event whose id is already held by another stored event (a
   * conflict at a new seq): it keeps the terminal's chain but never the id.
   * Must then carry a `quarantine`; a commit with such an event otherwise fails.
   */
  indexById: boolean;
}

/** The by-id index entry. */
export interface EventRef {
  terminal: string;
  seq: number;
  hash: string;
}

export interface Debit {
  terminal: string;
  seq: number;
  id: string;
  amount: number;
}

/** A customer balance or a voucher as the cloud knows it: a sum of deltas. */
export interface ValueView {
  balance: number;
  /** terminal → highest seq of that terminal this balance includes. */
  includes: Record<string, number>;
  /** Last few debits from terminals (for exception reports). */
  recentDebits: Debit[];
  /** The exception of the incident in progress while below zero. */
  incident?: string;
}

export type ExceptionSubject = { kind: 'balance'; customer: string } | { kind: 'voucher'; voucher: string };

export interface ExceptionRecord {
  id: string;
  store: string;
  subject: ExceptionSubject;
  status: 'open' | 'resolved';
  /**
   * Why it was opened: absent = an overspend (below zero); 'customer-removed' =
   * terminal deltas against a customer the back office removed (value-ledger.ts).
   */
  reason?: 'customer-removed';
  /** Balance before the incident's first overspending debit. */
  balanceBefore: number;
  /** Lowest balance reached during the incident (negative). */
  lowest: number;
  /** How far below zero it went: -lowest. */
  shortfall: number;
  terminals: string[];
  events: Debit[];
  openedAt: number;
  updatedAt: number;
  resolvedAt?: number;
  note?: string;
}

export interface QuarantineEntry {
  terminal: string;
  seq: number;
  id: string;
  type: string;
  code: string;
  message: string;
}

/**
 * A support bundle a terminal sent (issue 22 item 4): the JSON file its Sync
 * Manager offers for download, scrubbed by the terminal and again by the cloud
 * (support-bundles.ts), kept so support can read it from the dashboard.
 */
export interface SupportBundleRecord {
  store: string;
  terminal: string;
  /** A ULID the cloud made when it arrived: newest sorts last. */
  id: string;
  received: number;
  /** The bundle, as JSON text. */
  json: string;
}

export type WriteOp =
  | { kind: 'store'; store: StoreRecord }
  /**
   * `expected`: the counters this write was computed from. A backend shared by
   * several processes applies the commit only if they are still the stored
   * ones (else CLOUD_BUSY, nothing applied); a single-process backend, whose
   * writer is serialized by StoreLocks, may ignore it.
   */
  | { kind: 'counters'; store: string; counters: StoreCounters; expected?: StoreCounters }
  | { kind: 'terminal'; terminal: TerminalRecord }
  | { kind: 'credential'; credential: CredentialRecord }
  | { kind: 'highWater'; store: string; terminal: string; highWater: HighWater }
  | { kind: 'event'; event: StoredEvent; type: string }
  | { kind: 'feed'; store: string; change: Change }
  | { kind: 'balance'; store: string; customer: string; view: ValueView }
  | { kind: 'voucher'; store: string; voucher: string; view: ValueView }
  | { kind: 'item'; store: string; item: ItemRecord }
  | { kind: 'itemRemoved'; store: string; id: string }
  | { kind: 'customer'; store: string; customer: CustomerRecord }
  | { kind: 'customerRemoved'; store: string; id: string }
  | { kind: 'exception'; store: string; exception: ExceptionRecord }
  /**
   * Releases a quarantined event (admin review, quarantine-release.ts): it then
   * reads as accepted (`readEvents` without `quarantine`, gone from
   * `listQuarantine`). Its bytes and id-index entry are untouched (events stay
   * append-only); the caller never releases an event left out of the id index,
   * and commits the view changes and counters the release causes with it.
   * No-op for an event that is not quarantined.
   */
  | { kind: 'quarantineReleased'; store: string; terminal: string; seq: number }
  | { kind: 'supportBundle'; bundle: SupportBundleRecord }
  | { kind: 'supportBundleRemoved'; store: string; terminal: string; id: string };

/**
 * Test seam for fault injection, honoured by every backend: called for each op
 * while a commit is being prepared; throwing aborts the commit (nothing applies).
 */
export interface StorageFaults {
  beforeOp?(op: WriteOp, index: number): void;
}

/** A commit made by another process sharing the storage (see `CloudStorage.watch`). */
export type ExternalChange =
  | { kind: 'feed'; store: string; head: number }
  /** The store's count of open exceptions changed (raised or resolved through another process). */
  | { kind: 'exceptions'; store: string; open: number }
  /** A terminal's credential was revoked: its streams on this process close too. */
  | { kind: 'revoked'; store: string; terminal: string }
  /** Credentials were written, or notifications may have been missed: forget what is remembered of credentials. */
  | { kind: 'credentials' }
  /** Notifications may have been missed (the listening connection broke): forget everything remembered of other processes' writes. */
  | { kind: 'missed' };

export interface CloudStorage {
  getStore(store: string): Promise<StoreRecord | undefined>;
  listStores(): Promise<StoreRecord[]>;
  /** EMPTY_COUNTERS when the store has none yet. */
  getCounters(store: string): Promise<StoreCounters>;

  getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined>;
  listTerminals(store: string): Promise<TerminalRecord[]>;
  getCredential(tokenHash: string): Promise<CredentialRecord | undefined>;
  /** `{ seq: 0, hash: GENESIS_HASH, quarantined: 0 }` for a terminal with no events. */
  getHighWater(store: string, terminal: string): Promise<HighWater>;

  /** By-id lookups for many ids at once, in the order asked. */
  getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>>;
  /** A terminal's events with seq >= from, ascending, at most `limit`. */
  readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]>;
  /** Quarantined events of a store, in (terminal, seq) order, at most `limit`. */
  listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]>;

  /** Feed changes with cursor > since, ascending, at most `limit`. */
  readFeed(store: string, since: number, limit: number): Promise<Change[]>;

  getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>>;
  getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>>;
  getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>>;
  getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>>;

  getException(store: string, id: string): Promise<ExceptionRecord | undefined>;
  /** Exceptions of a store in id order (oldest first). */
  listExceptions(store: string, status: 'open' | 'resolved' | 'all'): Promise<ExceptionRecord[]>;
  /** A terminal's support bundles, oldest first. */
  listSupportBundles(store: string, terminal: string): Promise<SupportBundleRecord[]>;

  /**
   * Only for a backend several server processes share (PostgreSQL): calls
   * `listener` after commits of OTHER processes, with each store's new feed
   * head and whenever credentials were written (or notifications may have been
   * missed), so a process can tell its terminals and forget cached
   * credentials. Answers a function that stops the calls.
   */
  watch?(listener: (change: ExternalChange) => void): () => void;
  /**
   * Only for a backend several server processes share: runs `task` holding
   * the store's lock across all of them (StoreLocks calls it inside its own
   * per-process turn). Rejects with CLOUD_BUSY when the lock is not had in
   * time, DB_UNREACHABLE when the database cannot be reached; the task does
   * not run then.
   */
  lockStore?<T>(store: string, task: () => Promise<T>): Promise<T>;
  /** Applies all ops atomically and durably, or none (see the guarantees above). */
  commit(ops: readonly WriteOp[]): Promise<void>;
  close(): Promise<void>;
}

/** Exception ids sort numerically when zero-padded in keys; this keeps them short for people. */
export function exceptionId(n: number): string {
  return `exc-${n}`;
}
export function exceptionNumber(id: string): number | undefined {
  const m = /^exc-([1-9][0-9]{0,15})$/.exec(id);
  return m ? Number(m[1]) : undefined;
}
