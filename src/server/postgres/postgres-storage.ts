/**
 * CloudStorage on PostgreSQL (node-postgres, one pool), for a cloud that keeps
 * its data in a database server and may run as several processes over it.
 * Selected by `tillsync cloud --db postgres://…` (or TILLSYNC_DB). The shared
 * rules are StorageBase's; the schema and its migrations are schema.ts's.
 *
 * A commit is ONE transaction (READ COMMITTED), so it applies all or nothing
 * and is durable once COMMIT returns (the server's `synchronous_commit`).
 * Exactly-once and ordering are the database's, so they hold with several
 * cloud processes, not only under one process's StoreLocks:
 * - Per-store row lock: a commit first locks the counters row of every store
 *   it writes (SELECT … FOR UPDATE, in store order, so two commits never
 *   deadlock); commits of one store are serialized by it until COMMIT.
 * - Counters compare-and-set: a counters op carrying `expected` (StoreTx sets
 *   it to the counters it read) applies only if the stored counters still are
 *   those; otherwise another process committed to the store since this one
 *   read, and the commit fails with CLOUD_BUSY, applying nothing (the upload
 *   is retried and reads the new state). Every balance or voucher change adds
 *   a feed change, so it changes the counters: two processes debiting the same
 *   customer at once cannot both apply a view computed from the same balance,
 *   and the overspend exception is raised once.
 * - Feed cursors: a commit's changes must continue the stored feed head
 *   (first cursor = head + 1, no gaps), checked under the row lock. A cursor
 *   is therefore committed only after every lower one is, and a reader at
 *   cursor N never skips a row that commits later (the trap of sequences).
 * - Events: (store, terminal, seq) and (store, id) are primary keys, so an
 *   event or an id is stored once whatever races; a commit that also moves a
 *   terminal's high-water mark locks its row and must continue it (its new
 *   seqs above the stored one; the event right after it with the stored hash
 *   as `prev`). A violation rolls the commit back with CLOUD_BUSY.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TillsyncError } from '../../errors.ts';
import { decodeTrusted, encodeCanonical, GENESIS_HASH } from '../../events/codec.ts';
import type { Change, CustomerRecord, ItemRecord } from '../../events/event-types.ts';
import { StorageBase } from '../storage-base.ts';
import {
  EMPTY_COUNTERS,
  exceptionNumber,
  type CredentialRecord,
  type EventRef,
  type ExternalChange,
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
} from '../storage.ts';
import { inTx, migrate } from './schema.ts';

export interface PostgresOptions {
  faults?: StorageFaults;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** A PostgreSQL schema to keep the tables in (created if missing; default: the connection's search_path, normally `public`). */
  schema?: string;
  /** How long `lockStore` waits for a store's lock held by another process before CLOUD_BUSY (default 30 s). */
  storeLockTimeoutMs?: number;
}

/** First key of the store advisory locks (the second is hashtext(store)); any constant, distinct from schema.ts's. */
const STORE_LOCK = 0x7111_5e7d;

type Row = Record<string, unknown>;

/** Connection failures: the server is down, refuses us, or the database is missing. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', '3D000', '28P01', '28000', '57P01', '57P02', '57P03']);
/** Another transaction got there first: unique violation, serialization failure, deadlock. */
const RACED = new Set(['23505', '40001', '40P01', '55P03']);

function conflict(what: string): TillsyncError {
  return new TillsyncError('CLOUD_BUSY', `another cloud process committed to the store meanwhile (${what}): retry`);
}

/** Maps a pg failure to a stable code, or undefined for StorageBase's mapping. */
export function pgError(err: unknown): TillsyncError | undefined {
  const e = err as { code?: string; message?: string };
  if (err instanceof TillsyncError) return err;
  if (e.code && RACED.has(e.code)) return new TillsyncError('CLOUD_BUSY', `another cloud process committed to the store meanwhile: retry (${e.message ?? e.code})`, { cause: err });
  if ((e.code && (UNREACHABLE.has(e.code) || e.code.startsWith('08'))) || /timeout exceeded when trying to connect|Connection terminated/i.test(e.message ?? '')) {
    return new TillsyncError('DB_UNREACHABLE', `the cloud database cannot be reached: ${e.message ?? e.code}`, { cause: err });
  }
  if (e.code === '53100') return new TillsyncError('DISK_FULL', 'the database server\'s disk is full: nothing was written', { cause: err });
  return undefined;
}

const num = (v: unknown): number => Number(v);
const dec = <T>(v: unknown): T => decodeTrusted<T>(v as Uint8Array);

/** Tells processes sharing a database of each other's commits (LISTEN/NOTIFY; see `watch`). */
class ChangeListener {
  readonly origin = randomBytes(8).toString('hex');
  private readonly listeners = new Set<(c: ExternalChange) => void>();
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    readonly channel: string,
  ) {}

  add(fn: (c: ExternalChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Connects and LISTENs; resolves once listening (commits of others from then on are heard). */
  async start(): Promise<void> {
    const c = new pg.Client(this.config);
    this.client = c;
    c.on('notification', (m) => this.heard(m.payload));
    const lost = () => {
      if (this.client !== c) return;
      this.client = undefined;
      c.end().catch(() => {});
      // Notifications may have been missed meanwhile: what is remembered of others' writes goes.
      this.emit({ kind: 'missed' });
      if (!this.closed) this.retry = setTimeout(() => void this.start().catch(() => {}), 1000).unref();
    };
    c.on('error', lost);
    c.on('end', lost);
    try {
      await c.connect();
      await c.query(`LISTEN ${this.channel}`);
    } catch (err) {
      lost(); // and tried again in a second (open() stops that when it fails)
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }

  private heard(payload: string | undefined): void {
    let msg: { o?: string; s?: string; h?: number; x?: number; c?: boolean; r?: string };
    try {
      msg = JSON.parse(payload ?? '') as typeof msg;
    } catch {
      return;
    }
    if (msg.o === this.origin) return; // this process's own commit: already told
    if (msg.c) this.emit({ kind: 'credentials' });
    if (typeof msg.s === 'string' && typeof msg.h === 'number') this.emit({ kind: 'feed', store: msg.s, head: msg.h });
    if (typeof msg.s === 'string' && typeof msg.x === 'number') this.emit({ kind: 'exceptions', store: msg.s, open: msg.x });
    if (typeof msg.s === 'string' && typeof msg.r === 'string') this.emit({ kind: 'revoked', store: msg.s, terminal: msg.r });
  }

  private emit(c: ExternalChange): void {
    for (const fn of this.listeners) {
      try {
        fn(c);
      } catch {
        // a listener's failure is its own
      }
    }
  }
}

export class PostgresStorage extends StorageBase {
  private readonly pool: pg.Pool;
  /** Connections that hold store locks (`lockStore`), apart from the pool the tasks read and commit with: a task never waits on itself. */
  private readonly lockPool: pg.Pool;
  private readonly changes: ChangeListener;

  private constructor(pool: pg.Pool, lockPool: pg.Pool, changes: ChangeListener, faults: StorageFaults) {
    super(faults);
    this.pool = pool;
    this.lockPool = lockPool;
    this.changes = changes;
  }

  /**
   * Runs `task` holding the store's lock across every process over this
   * database: a session advisory lock (`pg_advisory_lock(STORE_LOCK,
   * hashtext(store))`) on a connection of its own, released when the task
   * settles, or by the server when the process dies (its connection closes).
   * Two stores whose ids hash alike share a lock: they only wait on each
   * other. Not had within `storeLockTimeoutMs` (lock_timeout): CLOUD_BUSY.
   */
  async lockStore<T>(store: string, task: () => Promise<T>): Promise<T> {
    if (this.isClosed) throw new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed');
    let c: pg.PoolClient;
    try {
      c = await this.lockPool.connect();
    } catch (err) {
      throw this.storageError(err);
    }
    try {
      await c.query('SELECT pg_advisory_lock($1, hashtext($2))', [STORE_LOCK, store]);
    } catch (err) {
      c.release(true);
      throw this.storageError(err);
    }
    try {
      return await task();
    } finally {
      // A connection that cannot unlock is dropped: closing it releases the lock.
      await c.query('SELECT pg_advisory_unlock($1, hashtext($2))', [STORE_LOCK, store]).then(() => c.release(), () => c.release(true));
    }
  }

  /**
   * Commits of other processes over the same database (and schema), heard
   * through LISTEN/NOTIFY: the notification is sent inside the committing
   * transaction, so PostgreSQL delivers it only once the commit is durable.
   */
  watch(listener: (change: ExternalChange) => void): () => void {
    return this.changes.add(listener);
  }

  /**
   * Connects, applies the migrations the database lacks (schema.ts), and
   * answers the storage. DB_UNREACHABLE when the server cannot be reached,
   * DB_SCHEMA_TOO_NEW when the database is of a newer tillsync.
   */
  static async open(url: string, opts: PostgresOptions = {}): Promise<PostgresStorage> {
    const schema = opts.schema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new TillsyncError('VALIDATION_FAILED', `bad schema name ${JSON.stringify(schema)}`);
    const config: pg.ClientConfig = { connectionString: url, connectionTimeoutMillis: 10_000, ...(schema ? { options: `-c search_path=${schema}` } : {}) };
    const pool = new pg.Pool({ ...config, max: opts.poolSize ?? 10 });
    const lockOptions = `${config.options ?? ''} -c lock_timeout=${Math.max(1, Math.round(opts.storeLockTimeoutMs ?? 30_000))}`.trim();
    const lockPool = new pg.Pool({ ...config, options: lockOptions, max: opts.poolSize ?? 10 });
    lockPool.on('error', () => {});
    const changes = new ChangeListener(config, `tillsync_${schema ?? 'public'}`);
    // An idle connection that breaks (server restart) must not crash the process: the next query reconnects.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
      await changes.start();
    } catch (err) {
      await changes.close();
      await pool.end().catch(() => {});
      await lockPool.end().catch(() => {});
      throw pgError(err) ?? new TillsyncError('STORAGE_FAILED', `opening the cloud database failed: ${(err as Error).message}`, { cause: err });
    }
    return new PostgresStorage(pool, lockPool, changes, opts.faults ?? {});
  }

  protected override _mapError(err: unknown): TillsyncError | undefined {
    return pgError(err);
  }

  private async rows(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  /** Values of `col` for `keys` of one store, in the order asked. */
  private async many<T>(table: string, keyCol: string, col: string, store: string, keys: readonly string[]): Promise<Array<T | undefined>> {
    const rows = await this.rows(`SELECT ${keyCol} AS k, ${col} AS v FROM ${table} WHERE store = $1 AND ${keyCol} = ANY($2::text[])`, [store, keys]);
    const by = new Map(rows.map((r) => [r.k as string, r.v]));
    return keys.map((k) => (by.has(k) ? dec<T>(by.get(k)) : undefined));
  }

  protected async _getStore(store: string): Promise<StoreRecord | undefined> {
    const [r] = await this.rows('SELECT record FROM stores WHERE store = $1', [store]);
    return r ? dec<StoreRecord>(r.record) : undefined;
  }
  protected async _listStores(): Promise<StoreRecord[]> {
    return (await this.rows('SELECT record FROM stores ORDER BY store', [])).map((r) => dec<StoreRecord>(r.record));
  }
  protected async _getCounters(store: string): Promise<StoreCounters> {
    const [r] = await this.rows('SELECT feed_head, open_exceptions, last_exception, quarantined FROM counters WHERE store = $1', [store]);
    return r ? countersOf(r) : { ...EMPTY_COUNTERS };
  }
  protected async _getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined> {
    const [r] = await this.rows('SELECT record FROM terminals WHERE store = $1 AND terminal = $2', [store, terminal]);
    return r ? dec<TerminalRecord>(r.record) : undefined;
  }
  protected async _listTerminals(store: string): Promise<TerminalRecord[]> {
    return (await this.rows('SELECT record FROM terminals WHERE store = $1 ORDER BY terminal', [store])).map((r) => dec<TerminalRecord>(r.record));
  }
  protected async _getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    const [r] = await this.rows('SELECT record FROM credentials WHERE token_hash = $1', [tokenHash]);
    return r ? dec<CredentialRecord>(r.record) : undefined;
  }
  protected async _getHighWater(store: string, terminal: string): Promise<HighWater> {
    const [r] = await this.rows('SELECT seq, hash, quarantined FROM high_water WHERE store = $1 AND terminal = $2', [store, terminal]);
    return r ? { seq: num(r.seq), hash: r.hash as string, quarantined: num(r.quarantined) } : { seq: 0, hash: GENESIS_HASH, quarantined: 0 };
  }
  protected async _getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    const rows = await this.rows('SELECT id, terminal, seq, hash FROM event_ids WHERE store = $1 AND id = ANY($2::text[])', [store, ids]);
    const by = new Map(rows.map((r) => [r.id as string, { terminal: r.terminal as string, seq: num(r.seq), hash: r.hash as string }]));
    return ids.map((id) => by.get(id));
  }
  protected async _readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.rows(
      'SELECT seq, id, hash, bytes, index_by_id, q_code, q_message FROM events WHERE store = $1 AND terminal = $2 AND seq >= $3 ORDER BY seq LIMIT $4',
      [store, terminal, from, limit],
    );
    return rows.map((r) => {
      const out: StoredEvent = { store, terminal, seq: num(r.seq), id: r.id as string, hash: r.hash as string, bytes: r.bytes as Uint8Array, indexById: r.index_by_id as boolean };
      if (r.q_code !== null) out.quarantine = { code: r.q_code as string, message: r.q_message as string };
      return out;
    });
  }
  protected async _listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
    const rows = await this.rows(
      'SELECT terminal, seq, id, type, q_code, q_message FROM events WHERE store = $1 AND q_code IS NOT NULL ORDER BY terminal, seq LIMIT $2',
      [store, limit],
    );
    return rows.map((r) => ({ terminal: r.terminal as string, seq: num(r.seq), id: r.id as string, type: r.type as string, code: r.q_code as string, message: r.q_message as string }));
  }
  protected async _readFeed(store: string, since: number, limit: number): Promise<Change[]> {
    const rows = await this.rows('SELECT change FROM feed WHERE store = $1 AND cursor > $2 ORDER BY cursor LIMIT $3', [store, since, limit]);
    return rows.map((r) => dec<Change>(r.change));
  }
  protected _getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.many('balances', 'customer', 'view', store, customers);
  }
  protected _getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.many('vouchers', 'voucher', 'view', store, vouchers);
  }
  protected _getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.many('items', 'id', 'record', store, ids);
  }
  protected _getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>> {
    return this.many('customers', 'id', 'record', store, ids);
  }
  protected async _getException(store: string, n: number): Promise<ExceptionRecord | undefined> {
    const [r] = await this.rows('SELECT record FROM exceptions WHERE store = $1 AND n = $2', [store, n]);
    return r ? dec<ExceptionRecord>(r.record) : undefined;
  }
  protected async _listExceptions(store: string): Promise<ExceptionRecord[]> {
    return (await this.rows('SELECT record FROM exceptions WHERE store = $1 ORDER BY n', [store])).map((r) => dec<ExceptionRecord>(r.record));
  }

  protected async _listSupportBundles(store: string, terminal: string): Promise<SupportBundleRecord[]> {
    return (await this.rows('SELECT record FROM support_bundles WHERE store = $1 AND terminal = $2 ORDER BY id', [store, terminal]))
      .map((r) => dec<SupportBundleRecord>(r.record));
  }

  protected async _commit(ops: readonly WriteOp[]): Promise<void> {
    const plan = new CommitPlan(ops);
    const client = await this.pool.connect();
    let broken = false;
    try {
      await inTx(client, () => plan.run(client, this.changes));
    } catch (err) {
      broken = pgError(err)?.code === 'DB_UNREACHABLE';
      throw err;
    } finally {
      client.release(broken);
    }
  }

  protected async _close(): Promise<void> {
    await this.changes.close();
    await this.lockPool.end();
    await this.pool.end();
  }
}

function countersOf(r: Row): StoreCounters {
  return { feedHead: num(r.feed_head), openExceptions: num(r.open_exceptions), lastException: num(r.last_exception), quarantined: num(r.quarantined) };
}
const sameCounters = (a: StoreCounters, b: StoreCounters): boolean =>
  a.feedHead === b.feedHead && a.openExceptions === b.openExceptions && a.lastException === b.lastException && a.quarantined === b.quarantined;

/** A keyed table's final state after a commit's ops (a later op on the same key wins; undefined = delete). */
class Keyed {
  readonly last = new Map<string, { store: string; key: string; value: Uint8Array | undefined }>();
  set(store: string, key: string, value: Uint8Array | undefined): void {
    const k = `${store}\u0000${key}`;
    this.last.delete(k);
    this.last.set(k, { store, key, value });
  }
}

/** One commit's ops sorted into the statements of its transaction. */
class CommitPlan {
  private readonly stores = new Set<string>();
  private readonly storeRecords = new Map<string, Uint8Array>();
  private readonly counters = new Map<string, { counters: StoreCounters; expected?: StoreCounters }>();
  private readonly terminals = new Keyed();
  private readonly credentials = new Map<string, { store: string; record: Uint8Array }>();
  /** Terminals whose credential this commit revokes: the other processes close their streams. */
  private readonly revoked: Array<{ store: string; terminal: string }> = [];
  private readonly highWater = new Map<string, { store: string; terminal: string; hw: HighWater }>();
  private readonly events: Array<{ e: StoredEvent; type: string }> = [];
  private readonly feed = new Map<string, Change[]>();
  private readonly balances = new Keyed();
  private readonly vouchers = new Keyed();
  private readonly items = new Keyed();
  private readonly customers = new Keyed();
  private readonly exceptions = new Map<string, { store: string; n: number; record: Uint8Array }>();
  private readonly released: Array<{ store: string; terminal: string; seq: number }> = [];
  /** Support bundles to write (a record) or remove (undefined), by store, terminal and id. */
  private readonly bundles = new Map<string, { store: string; terminal: string; id: string; record: Uint8Array | undefined }>();

  constructor(ops: readonly WriteOp[]) {
    const enc = encodeCanonical;
    for (const op of ops) {
      switch (op.kind) {
        case 'store':
          this.stores.add(op.store.id);
          this.storeRecords.set(op.store.id, enc(op.store));
          break;
        case 'counters':
          this.stores.add(op.store);
          this.counters.set(op.store, { counters: { ...op.counters }, ...(op.expected ? { expected: op.expected } : {}) });
          break;
        case 'terminal':
          this.stores.add(op.terminal.store);
          this.terminals.set(op.terminal.store, op.terminal.id, enc(op.terminal));
          break;
        case 'credential':
          this.stores.add(op.credential.store);
          this.credentials.set(op.credential.tokenHash, { store: op.credential.store, record: enc(op.credential) });
          if (op.credential.revoked) this.revoked.push({ store: op.credential.store, terminal: op.credential.terminal });
          break;
        case 'highWater':
          this.stores.add(op.store);
          this.highWater.set(`${op.store}\u0000${op.terminal}`, { store: op.store, terminal: op.terminal, hw: op.highWater });
          break;
        case 'event':
          this.stores.add(op.event.store);
          this.events.push({ e: op.event, type: op.type });
          break;
        case 'feed': {
          this.stores.add(op.store);
          let list = this.feed.get(op.store);
          if (!list) this.feed.set(op.store, (list = []));
          list.push(op.change);
          break;
        }
        case 'balance':
          this.stores.add(op.store);
          this.balances.set(op.store, op.customer, enc(op.view));
          break;
        case 'voucher':
          this.stores.add(op.store);
          this.vouchers.set(op.store, op.voucher, enc(op.view));
          break;
        case 'item':
        case 'itemRemoved':
          this.stores.add(op.store);
          this.items.set(op.store, op.kind === 'item' ? op.item.id : op.id, op.kind === 'item' ? enc(op.item) : undefined);
          break;
        case 'customer':
        case 'customerRemoved':
          this.stores.add(op.store);
          this.customers.set(op.store, op.kind === 'customer' ? op.customer.id : op.id, op.kind === 'customer' ? enc(op.customer) : undefined);
          break;
        case 'exception': {
          this.stores.add(op.store);
          const n = exceptionNumber(op.exception.id)!;
          this.exceptions.set(`${op.store}\u0000${n}`, { store: op.store, n, record: enc(op.exception) });
          break;
        }
        case 'quarantineReleased':
          this.stores.add(op.store);
          this.released.push({ store: op.store, terminal: op.terminal, seq: op.seq });
          break;
        case 'supportBundle': {
          const b = op.bundle;
          this.stores.add(b.store);
          this.bundles.set(`${b.store}\u0000${b.terminal}\u0000${b.id}`, { store: b.store, terminal: b.terminal, id: b.id, record: enc(b) });
          break;
        }
        case 'supportBundleRemoved':
          this.stores.add(op.store);
          this.bundles.set(`${op.store}\u0000${op.terminal}\u0000${op.id}`, { store: op.store, terminal: op.terminal, id: op.id, record: undefined });
          break;
      }
    }
  }

  async run(c: pg.PoolClient, changes: ChangeListener): Promise<void> {
    const q = (sql: string, params: unknown[]) => c.query(sql, params);
    // 1. The per-store row locks, in store order (no deadlock between two commits), and the checks under them.
    const stores = [...this.stores].sort();
    await q('INSERT INTO counters (store) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [stores]);
    const locked = await q(
      'SELECT store, feed_head, open_exceptions, last_exception, quarantined FROM counters WHERE store = ANY($1::text[]) ORDER BY store FOR UPDATE',
      [stores],
    );
    const stored = new Map((locked.rows as Row[]).map((r) => [r.store as string, countersOf(r)]));
    for (const [store, { expected }] of this.counters) {
      if (expected && !sameCounters(expected, stored.get(store)!)) throw conflict(`counters of ${store}`);
    }
    const feedHeads = new Map<string, number>();
    for (const [store, changes] of this.feed) {
      const cursors = changes.map((ch) => ch.cursor).sort((a, b) => a - b);
      const head = stored.get(store)!.feedHead;
      for (let i = 0; i < cursors.length; i++) if (cursors[i] !== head + 1 + i) throw conflict(`feed cursor ${cursors[i]} of ${store} does not continue ${head}`);
      feedHeads.set(store, head + cursors.length);
    }
    await this.checkChains(c);

    // 2. The writes.
    if (this.storeRecords.size) {
      await q('INSERT INTO stores (store, record) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (store) DO UPDATE SET record = excluded.record',
        [[...this.storeRecords.keys()], [...this.storeRecords.values()]]);
    }
    const counterRows = new Map<string, StoreCounters>();
    for (const [store, head] of feedHeads) counterRows.set(store, { ...stored.get(store)!, feedHead: head });
    for (const [store, { counters }] of this.counters) counterRows.set(store, counters);
    if (counterRows.size) {
      const s = [...counterRows.keys()];
      const v = [...counterRows.values()];
      await q(`UPDATE counters c SET feed_head = u.f, open_exceptions = u.o, last_exception = u.l, quarantined = u.q
               FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(s, f, o, l, q) WHERE c.store = u.s`,
        [s, v.map((x) => x.feedHead), v.map((x) => x.openExceptions), v.map((x) => x.lastException), v.map((x) => x.quarantined)]);
    }
    await upsert(c, 'terminals', 'terminal', 'record', this.terminals);
    if (this.credentials.size) {
      const v = [...this.credentials.values()];
      await q('INSERT INTO credentials (token_hash, store, record) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (token_hash) DO UPDATE SET store = excluded.store, record = excluded.record',
        [[...this.credentials.keys()], v.map((x) => x.store), v.map((x) => x.record)]);
    }
    if (this.highWater.size) {
      const v = [...this.highWater.values()];
      await q(`INSERT INTO high_water (store, terminal, seq, hash, quarantined) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[])
               ON CONFLICT (store, terminal) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, quarantined = excluded.quarantined`,
        [v.map((x) => x.store), v.map((x) => x.terminal), v.map((x) => x.hw.seq), v.map((x) => x.hw.hash), v.map((x) => x.hw.quarantined)]);
    }
    if (this.events.length) {
      const ev = this.events;
      await q(`INSERT INTO events (store, terminal, seq, id, hash, bytes, type, index_by_id, q_code, q_message)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::boolean[], $9::text[], $10::text[])`,
        [ev.map((x) => x.e.store), ev.map((x) => x.e.terminal), ev.map((x) => x.e.seq), ev.map((x) => x.e.id), ev.map((x) => x.e.hash), ev.map((x) => x.e.bytes),
          ev.map((x) => x.type), ev.map((x) => x.e.indexById), ev.map((x) => x.e.quarantine?.code ?? null), ev.map((x) => x.e.quarantine?.message ?? null)]);
      // One id twice in a commit: the later op wins (as everywhere); an id stored by an earlier commit is a constraint violation.
      const byId = new Map<string, StoredEvent>();
      for (const { e } of ev) if (e.indexById) byId.set(`${e.store}\u0000${e.id}`, e);
      const ids = [...byId.values()].map((e) => ({ e }));
      if (ids.length) {
        await q('INSERT INTO event_ids (store, id, terminal, seq, hash) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])',
          [ids.map((x) => x.e.store), ids.map((x) => x.e.id), ids.map((x) => x.e.terminal), ids.map((x) => x.e.seq), ids.map((x) => x.e.hash)]);
      }
    }
    if (this.released.length) {
      // The quarantine goes; the event stays as it was stored.
      const r = this.released;
      await q(`UPDATE events e SET q_code = NULL, q_message = NULL FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(s, t, n)
               WHERE e.store = u.s AND e.terminal = u.t AND e.seq = u.n`,
        [r.map((x) => x.store), r.map((x) => x.terminal), r.map((x) => x.seq)]);
    }
    if (this.feed.size) {
      const all = [...this.feed].flatMap(([store, changes]) => changes.map((ch) => ({ store, ch })));
      await q('INSERT INTO feed (store, cursor, change) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])',
        [all.map((x) => x.store), all.map((x) => x.ch.cursor), all.map((x) => encodeCanonical(x.ch))]);
    }
    await upsert(c, 'balances', 'customer', 'view', this.balances);
    await upsert(c, 'vouchers', 'voucher', 'view', this.vouchers);
    await upsert(c, 'items', 'id', 'record', this.items);
    await upsert(c, 'customers', 'id', 'record', this.customers);
    if (this.exceptions.size) {
      const v = [...this.exceptions.values()];
      await q('INSERT INTO exceptions (store, n, record) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[]) ON CONFLICT (store, n) DO UPDATE SET record = excluded.record',
        [v.map((x) => x.store), v.map((x) => x.n), v.map((x) => x.record)]);
    }
    if (this.bundles.size) {
      const put = [...this.bundles.values()].filter((b) => b.record !== undefined);
      const gone = [...this.bundles.values()].filter((b) => b.record === undefined);
      if (put.length) {
        await q(`INSERT INTO support_bundles (store, terminal, id, record) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])
          ON CONFLICT (store, terminal, id) DO UPDATE SET record = excluded.record`,
        [put.map((b) => b.store), put.map((b) => b.terminal), put.map((b) => b.id), put.map((b) => b.record)]);
      }
      if (gone.length) {
        await q('DELETE FROM support_bundles s USING unnest($1::text[], $2::text[], $3::text[]) AS g(store, terminal, id) WHERE s.store = g.store AND s.terminal = g.terminal AND s.id = g.id',
          [gone.map((b) => b.store), gone.map((b) => b.terminal), gone.map((b) => b.id)]);
      }
    }
    // 3. Tell the other processes (delivered at COMMIT, never for a commit rolled back).
    const notes: string[] = [];
    const storeNotes = new Map<string, { h?: number; x?: number }>();
    for (const [store, head] of feedHeads) storeNotes.set(store, { h: this.counters.get(store)?.counters.feedHead ?? head });
    for (const [store, next] of counterRows) {
      // A changed count of open exceptions goes to every process's streams of that store, as the local ones get it.
      if (next.openExceptions !== stored.get(store)?.openExceptions) storeNotes.set(store, { ...storeNotes.get(store), x: next.openExceptions });
    }
    for (const [store, note] of storeNotes) notes.push(JSON.stringify({ o: changes.origin, s: store, ...note }));
    if (this.credentials.size) notes.push(JSON.stringify({ o: changes.origin, c: true }));
    for (const r of this.revoked) notes.push(JSON.stringify({ o: changes.origin, s: r.store, r: r.terminal }));
    if (notes.length) await q(`SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n`, [changes.channel, notes]);
  }

  /**
   * For each terminal whose high-water mark this commit moves and that gets
   * events: its row locked, the new events start above it (two processes
   * appending the same seqs: the second finds them taken), and an event right
   * after it names the stored hash as its `prev`.
   */
  private async checkChains(c: pg.PoolClient): Promise<void> {
    const first = new Map<string, StoredEvent>();
    for (const { e } of this.events) {
      const k = `${e.store}\u0000${e.terminal}`;
      const f = first.get(k);
      if (this.highWater.has(k) && (!f || e.seq < f.seq)) first.set(k, e);
    }
    if (first.size === 0) return;
    const keys = [...first.keys()].sort();
    const { rows } = await c.query(
      'SELECT store, terminal, seq, hash FROM high_water WHERE (store, terminal) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY store, terminal FOR UPDATE',
      [keys.map((k) => first.get(k)!.store), keys.map((k) => first.get(k)!.terminal)],
    );
    const hw = new Map((rows as Row[]).map((r) => [`${r.store as string}\u0000${r.terminal as string}`, { seq: num(r.seq), hash: r.hash as string }]));
    for (const k of keys) {
      const e = first.get(k)!;
      const at = hw.get(k) ?? { seq: 0, hash: GENESIS_HASH };
      if (e.seq <= at.seq) throw conflict(`terminal ${e.terminal} is at seq ${at.seq} already, the commit starts at ${e.seq}`);
      if (e.seq === at.seq + 1 && at.seq > 0) {
        const prev = decodeTrusted<{ prev?: unknown }>(e.bytes).prev;
        if (typeof prev === 'string' && prev !== at.hash) throw conflict(`event ${e.seq} of ${e.terminal} does not continue the stored chain`);
      }
    }
  }
}

/** A Keyed table's puts as one upsert and its deletes as one delete. */
async function upsert(c: pg.PoolClient, table: string, keyCol: string, col: string, keyed: Keyed): Promise<void> {
  if (keyed.last.size === 0) return;
  const puts = [...keyed.last.values()].filter((x) => x.value !== undefined);
  const dels = [...keyed.last.values()].filter((x) => x.value === undefined);
  if (dels.length) {
    await c.query(`DELETE FROM ${table} t USING unnest($1::text[], $2::text[]) AS d(s, k) WHERE t.store = d.s AND t.${keyCol} = d.k`, [dels.map((x) => x.store), dels.map((x) => x.key)]);
  }
  if (puts.length) {
    await c.query(`INSERT INTO ${table} (store, ${keyCol}, ${col}) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (store, ${keyCol}) DO UPDATE SET ${col} = excluded.${col}`,
      [puts.map((x) => x.store), puts.map((x) => x.key), puts.map((x) => x.value)]);
  }
}
