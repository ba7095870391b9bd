/**
 * CloudStorage on LevelDB (classic-level), the cloud's default backend.
 *
 * One database, one sublevel per record kind; keys are `store/...` with
 * zero-padded seqs and cursors so byte order is numeric order (entity ids
 * cannot contain '/'). Records are msgpack; event bytes are stored exactly as
 * received, a commit's consecutive events of one terminal in one entry
 * (`EventRun`). A commit is ONE chained batch written with `sync: true`
 * (chained, because an array batch with options is 4-5x slower: PERF-NOTES),
 * so LevelDB's write-ahead log gives atomicity and crash safety. The cloud
 * reuses a few native batches for its commits (see `newBatch`), so commit
 * memory is bounded and does not wait for V8's garbage collector.
 *
 * Hot path (upload): batch keys are prefixed by hand with the sublevel's prefix
 * (the `{ sublevel }` option costs several µs per op: abstract-level copies the
 * options into every op), by-id lookups go to the root db with prefixed keys in
 * one `getMany`, and the by-id index value is `encodeIdEntry`'s 41 bytes + terminal;
 * a commit writes event keys and id entries into one reused buffer
 * (`EventScratch`). Ids of new events are not looked up at all when
 * the store's id filter (id-filter.ts) says they are certainly not held.
 *
 * Layout for compaction (KEY_ORDER, CLOUD_TUNING): the id index comes first
 * in the key space with the newest ids first, the appended events last, and
 * the write buffer is 16 MiB, so LevelDB rewrites as little as it can of what
 * it already wrote. Databases of the layout before (events first, ids in
 * ascending order) are moved to it when opened (`migrateLayout`).
 */
import { TillsyncError } from '../errors.ts';
import { decodeTrusted, encodeCanonical, GENESIS_HASH, sha256Hex } from '../events/codec.ts';
import type { Change, CustomerRecord, ItemRecord } from '../events/event-types.ts';
import { BIG_READS, openLevel, SEQ_KEY_DIGITS, seqKey, type Bytes, type LevelDb, type LevelTuning, type Sublevel } from '../events/level-util.ts';
import { IdFilter } from './id-filter.ts';
import {
  EMPTY_COUNTERS,
  exceptionNumber,
  type CloudStorage,
  type CredentialRecord,
  type EventRef,
  type ExceptionRecord,
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

const KINDS = [
  'stores', 'counters', 'terminals', 'credentials', 'highWater', 'events', 'quarantine', 'ids',
  'feed', 'balances', 'vouchers', 'items', 'customers', 'exceptions',
] as const;
type Kind = (typeof KINDS)[number];

interface QuarantineValue {
  id: string;
  type: string;
  code: string;
  message: string;
  indexById: boolean;
}

/** The implementer methods of classic-level's chained batch (see LevelStorage.newBatch). */
interface NativeChainedBatch {
  _put(key: string | Uint8Array, value: Bytes): void;
  _del(key: string): void;
  _write(options: object): Promise<void>;
  _clear(): void;
}
interface CommitBatch {
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

/**
 * A 16 MiB write buffer instead of LevelDB's 4 MiB. Every commit writes both
 * the appended streams (events, ids, feed) and small hot records (counters,
 * high-water marks, balances) in other key ranges, so every table LevelDB
 * writes out spans the whole key space and overlaps everything below it:
 * instead of moving it down as is (as a log with one key range gets), LevelDB
 * merges it with all of level 1. Fewer, larger tables cut that work: with
 * 500k events uploaded, 510 → 340 MB rewritten by compaction, and the cloud's
 * CPU per event 30 → 26 µs (bench/tools/sync-threads.ts). 32 MiB cut it
 * further but pushed peak RSS past 350 MB.
 */
export const CLOUD_TUNING: LevelTuning = { writeBufferSize: 16 * 1024 * 1024 };

/**
 * Where each kind sits in the key space (a digit before its sublevel name).
 * Every commit appends to events (the bulk of the bytes) and to the smaller id
 * index and feed, and rewrites a few hot records. LevelDB moves a table down a
 * level without rewriting it only when no table below overlaps its key span;
 * otherwise it merges the two. Tables are cut by size, not by sublevel, so the
 * table holding the end of one stream also holds the start of the next: new
 * keys appended to a stream with another one after it land in that table's
 * span and rewrite it every time (with events first, every event was written
 * ~2x more by compaction from level 1 down). So the two big streams sit at the
 * two ends of the key space, growing outwards: the events last, in ascending
 * seq order, and the id index first, its keys written so that the newest ids
 * (ULIDs: time first) sort first (`flipId`). Tables of new events and of
 * new ids then overlap nothing below and move down as they are. At 1M events
 * (bench/tools/apply-cost.ts), compaction wrote 334 MB instead of 490.
 */
const KEY_ORDER: Record<Kind, string> = {
  ids: '0', feed: '3', quarantine: '4',
  stores: '5', counters: '5', terminals: '5', credentials: '5', highWater: '5',
  balances: '5', vouchers: '5', items: '5', customers: '5', exceptions: '5',
  events: '9',
};

/** The sublevels of the layout before (see KEY_ORDER), moved by `migrateLayout`. */
const OLD_EVENTS = '1events';
const OLD_IDS = '2ids';
/** Entries moved per batch by `migrateLayout`. */
const MIGRATE_PAGE = 4096;

/**
 * The small records every upload reads (the store, its counters, the
 * terminal's high-water mark, the customers, balances and vouchers its events
 * name) are also kept in memory as their stored bytes, up to HOT_ENTRIES of
 * them (the oldest go first), so an upload's reads under the store's lock do
 * not wait for the disk. Commits write them through once durable.
 */
const HOT_KINDS: ReadonlySet<Kind> = new Set<Kind>(['stores', 'counters', 'terminals', 'highWater', 'balances', 'vouchers', 'customers']);
const HOT_ENTRIES = 100_000;

/** Upper bound for a prefix range: '/' + 1 = '0'. */
const range = (prefix: string) => ({ gt: `${prefix}/`, lt: `${prefix}0` });

export interface OpenOptions {
  faults?: StorageFaults;
  /** Defaults to CLOUD_TUNING. */
  tuning?: LevelTuning;
  /** Progress of moving a database of the layout before (see `migrateLayout`): entries moved so far. */
  onMigrate?: (moved: number) => void;
}

export class LevelStorage implements CloudStorage {
  private readonly db: LevelDb;
  private readonly subs: Record<Kind, Sublevel>;
  private readonly faults: StorageFaults;
  private readonly spareBatches: CommitBatch[] = [];
  private readonly scratch = new EventScratch();
  private readonly run = new EventRun();
  private readonly idFilters = new Map<string, IdFilter>();
  private readonly idFilterLoads = new Map<string, Promise<void>>();
  /** Ids looked up on disk so far (tests: what the id filter spares). */
  idLookups = 0;
  /** Stored bytes of hot records by full key; null = known absent (see HOT_KINDS). */
  private readonly hot = new Map<string, Uint8Array | null>();
  /** Commits done so far: a disk read only fills the memory when none was done meanwhile. */
  private commits = 0;
  /** Hot-record reads answered from memory so far (tests). */
  hotHits = 0;

  private constructor(db: LevelDb, faults: StorageFaults) {
    this.db = db;
    this.faults = faults;
    const subs = {} as Record<Kind, Sublevel>;
    for (const k of KINDS) subs[k] = db.sublevel(`${KEY_ORDER[k]}${k}`, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    this.subs = subs;
  }

  /** Opens (creating if needed) the cloud database in `location`. */
  static async open(location: string, opts: OpenOptions = {}): Promise<LevelStorage> {
    const s = new LevelStorage(await openLevel(location, opts.tuning ?? CLOUD_TUNING), opts.faults ?? {});
    try {
      await s.migrateLayout(opts.onMigrate);
    } catch (err) {
      await s.db.close();
      throw toStorageError(err);
    }
    return s;
  }

  /**
   * Moves a database of the layout before (events first, the id index in
   * ascending order: see KEY_ORDER) to this one, before anything is read:
   * each page of entries is put under its new key and deleted under its old
   * one in one atomic batch, so a crash at any point leaves every entry in
   * exactly one place, and the next open goes on where this one stopped.
   */
  private async migrateLayout(onMigrate?: (moved: number) => void): Promise<void> {
    let moved = 0;
    for (const [old, kind] of [[OLD_EVENTS, 'events'], [OLD_IDS, 'ids']] as const) {
      const from = this.db.sublevel(old, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
      // One iterator (a snapshot) for the whole move: a new one per page would step over every deleted key before it.
      const it = from.iterator(BIG_READS);
      try {
        for (;;) {
          const page = await it.nextv(MIGRATE_PAGE);
          if (page.length === 0) break;
          const batch = this.db.batch();
          for (const [k, v] of page) {
            batch.put(this.subs[kind].prefix + (kind === 'ids' ? flipIdKey(k) : k), v);
            batch.del(from.prefix + k);
          }
          await batch.write(SYNC_WRITE);
          moved += page.length;
          onMigrate?.(moved);
        }
      } finally {
        await it.close();
      }
    }
  }

  private async get<T>(kind: Kind, key: string): Promise<T | undefined> {
    const hot = HOT_KINDS.has(kind);
    const full = this.subs[kind].prefix + key;
    if (hot) {
      const kept = this.hot.get(full);
      if (kept !== undefined) {
        this.hotHits++;
        return kept === null ? undefined : decodeTrusted<T>(kept);
      }
    }
    const commits = this.commits;
    let raw: Bytes | undefined;
    try {
      raw = await this.subs[kind].get(key);
    } catch (err) {
      throw toStorageError(err);
    }
    if (hot && commits === this.commits) this.keep(full, raw);
    return raw === undefined ? undefined : decodeTrusted<T>(raw);
  }

  private async getMany<T>(kind: Kind, keys: readonly string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return [];
    const out = new Array<T | undefined>(keys.length).fill(undefined);
    const hot = HOT_KINDS.has(kind);
    const prefix = this.subs[kind].prefix;
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const kept = hot ? this.hot.get(prefix + keys[i]!) : undefined;
      if (kept === undefined) missing.push(i);
      else {
        this.hotHits++;
        if (kept !== null) out[i] = decodeTrusted<T>(kept);
      }
    }
    if (missing.length === 0) return out;
    const commits = this.commits;
    let raws: Array<Bytes | undefined>;
    try {
      raws = await this.subs[kind].getMany(missing.map((i) => keys[i]!));
    } catch (err) {
      throw toStorageError(err);
    }
    const fill = hot && commits === this.commits;
    for (let j = 0; j < missing.length; j++) {
      const raw = raws[j];
      const i = missing[j]!;
      if (fill) this.keep(prefix + keys[i]!, raw);
      if (raw !== undefined) out[i] = decodeTrusted<T>(raw);
    }
    return out;
  }

  /** Remembers a hot record's stored bytes (a copy: the caller's may be a view of a shared buffer). */
  private keep(full: string, raw: Bytes | undefined): void {
    this.hot.delete(full);
    this.hot.set(full, raw === undefined ? null : raw.slice());
    if (this.hot.size > HOT_ENTRIES) this.hot.delete(this.hot.keys().next().value!);
  }

  private async scan(kind: Kind, opts: { gt?: string; gte?: string; lt?: string; lte?: string; reverse?: boolean }, limit: number): Promise<Array<[string, Bytes]>> {
    if (limit <= 0) return [];
    let it: ReturnType<typeof this.subs.events.iterator<string, Bytes>>;
    try {
      it = this.subs[kind].iterator({ ...opts, limit, ...BIG_READS });
    } catch (err) {
      throw toStorageError(err);
    }
    try {
      const out: Array<[string, Bytes]> = [];
      for (;;) {
        const page = await it.nextv(Math.min(1000, limit - out.length));
        if (page.length === 0) return out;
        for (const e of page) out.push(e);
        if (out.length >= limit) return out;
      }
    } catch (err) {
      throw toStorageError(err);
    } finally {
      await it.close().catch(() => {});
    }
  }

  /**
   * The store's id filter (id-filter.ts), made on first use: loaded from the
   * id index in the background, meanwhile every id is looked up. Commits add
   * their ids before they write, and make the filter if there is none yet, so
   * the load's scan, which starts after that, misses none.
   */
  private idFilter(store: string): IdFilter {
    let f = this.idFilters.get(store);
    if (!f) {
      f = new IdFilter();
      this.idFilters.set(store, f);
      this.idFilterLoads.set(store, this.loadIdFilter(store, f));
    }
    return f;
  }

  /** Test seam: resolves once the store's id filter is loaded (or its load failed). */
  async idFilterLoaded(store: string): Promise<void> {
    this.idFilter(store);
    await this.idFilterLoads.get(store);
  }

  private async loadIdFilter(store: string, f: IdFilter): Promise<void> {
    try {
      const it = this.subs.ids.keys({ gt: `${store}/`, lt: `${store}0`, ...BIG_READS });
      try {
        const skip = store.length + 1;
        for (;;) {
          const page = await it.nextv(10_000);
          if (page.length === 0) break;
          for (const k of page) f.add(unflipId(k.slice(skip)));
        }
      } finally {
        await it.close();
      }
      f.loaded();
    } catch {
      // Left unloaded (the database closed meanwhile): every id is looked up.
    }
  }

  getStore(store: string): Promise<StoreRecord | undefined> {
    return this.get('stores', store);
  }
  async listStores(): Promise<StoreRecord[]> {
    return (await this.scan('stores', {}, Number.MAX_SAFE_INTEGER)).map(([, v]) => decodeTrusted<StoreRecord>(v));
  }
  async getCounters(store: string): Promise<StoreCounters> {
    return (await this.get<StoreCounters>('counters', store)) ?? { ...EMPTY_COUNTERS };
  }
  getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined> {
    return this.get('terminals', `${store}/${terminal}`);
  }
  async listTerminals(store: string): Promise<TerminalRecord[]> {
    return (await this.scan('terminals', range(store), Number.MAX_SAFE_INTEGER)).map(([, v]) => decodeTrusted<TerminalRecord>(v));
  }
  getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    return this.get('credentials', tokenHash);
  }
  async getHighWater(store: string, terminal: string): Promise<HighWater> {
    return (await this.get<HighWater>('highWater', `${store}/${terminal}`)) ?? { seq: 0, hash: GENESIS_HASH, quarantined: 0 };
  }
  async getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    const out = new Array<EventRef | undefined>(ids.length).fill(undefined);
    // Only the ids the store's filter may hold go to disk.
    const filter = this.idFilter(store);
    const asked: number[] = [];
    for (let i = 0; i < ids.length; i++) if (filter.mayHold(ids[i]!)) asked.push(i);
    if (asked.length === 0) return out;
    const prefix = `${this.subs.ids.prefix}${store}/`;
    const keys = new Array<string>(asked.length);
    for (let j = 0; j < asked.length; j++) keys[j] = prefix + flipId(ids[asked[j]!]!);
    this.idLookups += keys.length;
    let raws: Array<Bytes | undefined>;
    try {
      raws = await this.db.getMany(keys);
    } catch (err) {
      throw toStorageError(err);
    }
    for (let j = 0; j < raws.length; j++) {
      const raw = raws[j];
      if (raw !== undefined) out[asked[j]!] = decodeIdEntry(raw);
    }
    return out;
  }

  async readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0) return [];
    const prefix = `${store}/${terminal}/`;
    const first = Math.max(1, from);
    const end = `${store}/${terminal}0`;
    // The entry holding `first` is the last one keyed at or before it (an entry holds one event or a run: see EventRun).
    const [holder] = await this.scan('events', { gte: prefix, lte: prefix + seqKey(first), reverse: true }, 1);
    const events: Array<{ seq: number; bytes: Bytes }> = [];
    let it: ReturnType<typeof this.subs.events.iterator<string, Bytes>>;
    try {
      it = this.subs.events.iterator({ gte: holder?.[0] ?? prefix + seqKey(first), lt: end, ...BIG_READS });
    } catch (err) {
      throw toStorageError(err);
    }
    try {
      while (events.length < limit) {
        const page = await it.nextv(16);
        if (page.length === 0) break;
        for (const [k, v] of page) {
          const seq0 = Number(k.slice(prefix.length));
          const run = readRun(v);
          for (let j = Math.max(0, first - seq0); j < run.length && events.length < limit; j++) events.push({ seq: seq0 + j, bytes: run[j]! });
        }
      }
    } catch (err) {
      throw toStorageError(err);
    } finally {
      await it.close().catch(() => {});
    }
    if (events.length === 0) return [];
    const quarantined = new Map<number, QuarantineValue>();
    const held = { gte: prefix + seqKey(first), lte: prefix + seqKey(events[events.length - 1]!.seq) };
    for (const [k, v] of await this.scan('quarantine', held, Number.MAX_SAFE_INTEGER)) {
      quarantined.set(Number(k.slice(prefix.length)), decodeTrusted<QuarantineValue>(v));
    }
    return events.map(({ seq, bytes }) => {
      const ev = decodeTrusted<{ id: string }>(bytes);
      const q = quarantined.get(seq);
      const out: StoredEvent = { store, terminal, seq, id: ev.id, hash: sha256Hex(bytes), bytes, indexById: q?.indexById ?? true };
      if (q) out.quarantine = { code: q.code, message: q.message };
      return out;
    });
  }

  async listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
    const rows = await this.scan('quarantine', range(store), limit);
    return rows.map(([k, v]) => {
      const [, terminal, seq] = k.split('/');
      const q = decodeTrusted<QuarantineValue>(v);
      return { terminal: terminal!, seq: Number(seq), id: q.id, type: q.type, code: q.code, message: q.message };
    });
  }

  async readFeed(store: string, since: number, limit: number): Promise<Change[]> {
    const rows = await this.scan('feed', { gt: `${store}/${seqKey(Math.max(0, since))}`, lt: `${store}0` }, limit);
    return rows.map(([, v]) => decodeTrusted<Change>(v));
  }

  getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.getMany('balances', customers.map((c) => `${store}/${c}`));
  }
  getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.getMany('vouchers', vouchers.map((c) => `${store}/${c}`));
  }
  getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.getMany('items', ids.map((c) => `${store}/${c}`));
  }
  getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>> {
    return this.getMany('customers', ids.map((c) => `${store}/${c}`));
  }
  async getException(store: string, id: string): Promise<ExceptionRecord | undefined> {
    const n = exceptionNumber(id);
    return n === undefined ? undefined : this.get('exceptions', `${store}/${seqKey(n)}`);
  }
  async listExceptions(store: string, status: 'open' | 'resolved' | 'all'): Promise<ExceptionRecord[]> {
    const rows = await this.scan('exceptions', range(store), Number.MAX_SAFE_INTEGER);
    return rows.map(([, v]) => decodeTrusted<ExceptionRecord>(v)).filter((e) => status === 'all' || e.status === status);
  }

  async commit(ops: readonly WriteOp[]): Promise<void> {
    if (this.db.status !== 'open') throw new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed');
    const batch = this.spareBatches.pop() ?? this.newBatch();
    const subs = this.subs;
    // Hot records written: [full key, bytes or undefined] pairs, for the memory once durable.
    const hotWrites: Array<string | Bytes | undefined> = [];
    const put = (kind: Kind, key: string, value: Bytes | undefined): void => {
      const full = subs[kind].prefix + key;
      if (value === undefined) batch.del(full);
      else batch.put(full, value);
      if (HOT_KINDS.has(kind)) hotWrites.push(full, value);
    };
    const run = this.run;
    run.clear();
    try {
      const beforeOp = this.faults.beforeOp;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        beforeOp?.(op, i);
        this.write(op, put, batch);
      }
      this.putRun(batch);
    } catch (err) {
      run.clear();
      await this.retire(batch);
      throw new TillsyncError('STORAGE_FAILED', `commit failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    try {
      await batch.write();
    } catch (err) {
      // Whether the write reached the disk is not known: what memory holds of its keys goes.
      for (let i = 0; i < hotWrites.length; i += 2) this.hot.delete(hotWrites[i] as string);
      throw toStorageError(err);
    } finally {
      this.commits++;
      await this.retire(batch);
    }
    for (let i = 0; i < hotWrites.length; i += 2) this.keep(hotWrites[i] as string, hotWrites[i + 1] as Bytes | undefined);
  }

  /**
   * A write batch. classic-level frees a chained batch's native buffer only
   * when V8 collects the JS object, which it does late (it cannot see that
   * memory): one buffer the size of each commit piled up, ~250 MB with 50
   * terminals uploading. So the cloud keeps a few native batches and reuses
   * them (clear keeps the buffer), through the chained batch's implementer
   * methods (`_put`, `_del`, `_write`, `_clear`: abstract-level's contract for
   * backends), which also skip the public wrapper's per-op checks. Should
   * those be missing, each commit uses a public chained batch as before.
   */
  private newBatch(): CommitBatch {
    const b = this.db.batch() as unknown as Partial<NativeChainedBatch> & ReturnType<LevelDb['batch']>;
    if (typeof b._put === 'function' && typeof b._del === 'function' && typeof b._write === 'function' && typeof b._clear === 'function') {
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

  /** Puts the events gathered in `this.run` (if any) as one entry under the first one's key, and empties the run. */
  private putRun(batch: CommitBatch): void {
    const run = this.run;
    if (run.count === 0) return;
    batch.put(this.scratch.eventKey(this.subs.events.prefix, run.store, run.terminal, run.first), run.value());
    run.clear();
  }

  /** Empties a batch for the next commit (kept: at most MAX_SPARE_BATCHES), or closes it. */
  private async retire(batch: CommitBatch): Promise<void> {
    try {
      await batch.clear();
    } catch {
      return; // not reused
    }
    if (batch.reusable && this.spareBatches.length < MAX_SPARE_BATCHES && this.db.status === 'open') this.spareBatches.push(batch);
  }

  /**
   * Writes the (sublevel, key, value) entries of one op through `put` (value
   * undefined = delete); an event joins `this.run` (a run it does not continue
   * is put first; the commit puts the last one) and its id entry goes into
   * `batch` directly, built in the reused scratch.
   */
  private write(op: WriteOp, put: (kind: Kind, key: string, value: Bytes | undefined) => void, batch: CommitBatch): void {
    const enc = encodeCanonical;
    switch (op.kind) {
      case 'store':
        return put('stores', op.store.id, enc(op.store));
      case 'counters':
        return put('counters', op.store, enc(op.counters));
      case 'terminal':
        return put('terminals', `${op.terminal.store}/${op.terminal.id}`, enc(op.terminal));
      case 'credential':
        return put('credentials', op.credential.tokenHash, enc(op.credential));
      case 'highWater':
        return put('highWater', `${op.store}/${op.terminal}`, enc(op.highWater));
      case 'event': {
        const e = op.event;
        if (!e.indexById && !e.quarantine) throw new Error('an event left out of the id index must be quarantined');
        const scratch = this.scratch;
        if (!this.run.continuedBy(e)) this.putRun(batch);
        this.run.add(e);
        scratch.use(this.subs.events.prefix, this.subs.ids.prefix, e.store, e.terminal);
        if (e.indexById) {
          this.idFilter(e.store).add(e.id);
          batch.put(scratch.idKey(this.subs.ids.prefix, e.store, e.id), scratch.idEntry(e.terminal, e.seq, e.hash, e.hashBytes));
        }
        if (e.quarantine) {
          const key = `${e.store}/${e.terminal}/${seqKey(e.seq)}`;
          put('quarantine', key, enc({
            id: e.id, type: op.type, code: e.quarantine.code, message: e.quarantine.message, indexById: e.indexById,
          } satisfies QuarantineValue));
        }
        return;
      }
      case 'feed':
        return put('feed', `${op.store}/${seqKey(op.change.cursor)}`, enc(op.change));
      case 'balance':
        return put('balances', `${op.store}/${op.customer}`, enc(op.view));
      case 'voucher':
        return put('vouchers', `${op.store}/${op.voucher}`, enc(op.view));
      case 'item':
        return put('items', `${op.store}/${op.item.id}`, enc(op.item));
      case 'itemRemoved':
        return put('items', `${op.store}/${op.id}`, undefined);
      case 'customer':
        return put('customers', `${op.store}/${op.customer.id}`, enc(op.customer));
      case 'customerRemoved':
        return put('customers', `${op.store}/${op.id}`, undefined);
      case 'exception': {
        const n = exceptionNumber(op.exception.id);
        if (n === undefined) throw new Error(`bad exception id ${op.exception.id}`);
        return put('exceptions', `${op.store}/${seqKey(n)}`, enc(op.exception));
      }
      // Added for issue 24 (quarantine review): the quarantine record goes, the event stays.
      case 'quarantineReleased':
        return put('quarantine', `${op.store}/${op.terminal}/${seqKey(op.seq)}`, undefined);
    }
  }

  async close(): Promise<void> {
    this.spareBatches.length = 0;
    this.hot.clear();
    await this.db.close();
  }
}

/**
 * The by-id index value: `[seq: float64 BE][hash: 32 bytes][terminal: UTF-8]`
 * (41 + 1..64 bytes; the msgpack of `{ terminal, seq, hash }` with the hash in
 * hex was ~95). Kept small because the id index is the stream compaction still
 * rewrites (see KEY_ORDER). Commits write it through `EventScratch`.
 */
export function encodeIdEntry(terminal: string, seq: number, hash: string): Uint8Array {
  const b = Buffer.allocUnsafe(ID_FIXED + 3 * terminal.length);
  return b.subarray(0, writeIdEntry(b, 0, terminal, seq, hash));
}

/** Writes `encodeIdEntry`'s value at `at` (room for ID_FIXED + 3 × terminal.length bytes); answers where it ends. */
function writeIdEntry(b: Buffer, at: number, terminal: string, seq: number, hash: string): number {
  writeIdEntryHead(b, at, seq, hash);
  return at + ID_FIXED + b.write(terminal, at + ID_FIXED, 'utf8');
}

/** The fixed part of `encodeIdEntry`'s value (seq, hash) at `at`. */
function writeIdEntryHead(b: Buffer, at: number, seq: number, hash: string): void {
  if (!isHex64(hash)) throw new Error(`event hash ${hash} is not 64 lower-case hex digits`);
  b.writeDoubleBE(seq, at);
  b.write(hash, at + 8, 32, 'hex');
}

/**
 * A commit's consecutive events of one terminal (seq n, n + 1, ...: an upload's
 * new events), gathered into ONE entry under the first one's key: a msgpack
 * array of their bytes as `bin`s. One entry instead of one per event spares
 * LevelDB an insert, a key and an index slot per event at every write and
 * compaction (see "Event entries" in docs/design.md). A run of one event is
 * stored as its bytes alone, which is also what the layout before stored for
 * every event: an event's bytes are a msgpack map, a run an array, so
 * `readRun` tells the two apart by the first byte and databases of the
 * layout before need no move. Events are never written twice (the server
 * stores each seq once), so runs never overlap.
 *
 * The bytes are copied into one reused buffer, which the native batch copies
 * when the run is put.
 */
export class EventRun {
  /** Room for the array's header (at most 5 bytes) before the first bin. */
  private static readonly HEAD = 5;
  private buf = Buffer.allocUnsafe(256 * 1024);
  private at = EventRun.HEAD;
  private single: Uint8Array | undefined;
  store = '';
  terminal = '';
  first = 0;
  count = 0;

  /** Whether `e` is the next event of the run (false when the run is empty). */
  continuedBy(e: StoredEvent): boolean {
    return this.count > 0 && e.seq === this.first + this.count && e.terminal === this.terminal && e.store === this.store;
  }

  /** Adds an event: the first of the run, or the one `continuedBy` accepted. */
  add(e: StoredEvent): void {
    if (this.count === 0) {
      this.store = e.store;
      this.terminal = e.terminal;
      this.first = e.seq;
      this.single = e.bytes;
    } else {
      if (this.count === 1) this.push(this.single!);
      this.push(e.bytes);
    }
    this.count++;
  }

  /** The entry's value: the one event's bytes, or the array of all of them (valid until the next `add`). */
  value(): Uint8Array {
    if (this.count === 1) return this.single!;
    const n = this.count;
    const head = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
    const b = this.buf;
    const at = EventRun.HEAD - head;
    if (head === 1) b[at] = 0x90 | n;
    else if (head === 3) {
      b[at] = 0xdc;
      b.writeUInt16BE(n, at + 1);
    } else {
      b[at] = 0xdd;
      b.writeUInt32BE(n, at + 1);
    }
    return b.subarray(at, this.at);
  }

  clear(): void {
    this.count = 0;
    this.at = EventRun.HEAD;
    this.single = undefined;
  }

  private push(bytes: Uint8Array): void {
    const len = bytes.byteLength;
    if (this.at + 5 + len > this.buf.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.byteLength, this.at + 5 + len));
      this.buf.copy(grown, 0, 0, this.at);
      this.buf = grown;
    }
    const b = this.buf;
    if (len < 0x100) {
      b[this.at++] = 0xc4;
      b[this.at++] = len;
    } else if (len < 0x10000) {
      b[this.at] = 0xc5;
      b.writeUInt16BE(len, this.at + 1);
      this.at += 3;
    } else {
      b[this.at] = 0xc6;
      b.writeUInt32BE(len, this.at + 1);
      this.at += 5;
    }
    b.set(bytes, this.at);
    this.at += len;
  }
}

/** The events of one entry of the events sublevel (see EventRun), as views of `value`. */
export function readRun(value: Bytes): Bytes[] {
  const b = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const t = b[0];
  let n: number;
  let at: number;
  if (t !== undefined && t >= 0x90 && t <= 0x9f) [n, at] = [t & 0x0f, 1];
  else if (t === 0xdc) [n, at] = [b.readUInt16BE(1), 3];
  else if (t === 0xdd) [n, at] = [b.readUInt32BE(1), 5];
  else return [value]; // one event's bytes (a msgpack map)
  const out = new Array<Bytes>(n);
  for (let j = 0; j < n; j++) {
    const k = b[at];
    let len: number;
    if (k === 0xc4) [len, at] = [b[at + 1]!, at + 2];
    else if (k === 0xc5) [len, at] = [b.readUInt16BE(at + 1), at + 3];
    else if (k === 0xc6) [len, at] = [b.readUInt32BE(at + 1), at + 5];
    else throw new TillsyncError('STORAGE_FAILED', `events entry: no bin at byte ${at}`);
    if (at + len > b.byteLength) throw new TillsyncError('STORAGE_FAILED', `events entry: event ${j} runs past the entry's end`);
    out[j] = value.subarray(at, at + len);
    at += len;
  }
  return out;
}

/**
 * A commit's event keys and id-index entries, written into one reused buffer:
 * the native batch copies a key and a value the moment they are put (Batch::Put
 * in classic-level's binding), so the same bytes serve every event, with no
 * string key for the binding to encode per put and no buffer per entry. Each
 * answer is valid until the next call of the same method, or until a call for
 * another store, terminal or prefix lays the buffer out anew (`use` first, so
 * an id key and its entry share one layout).
 *
 * Layout: [event key: head + SEQ_KEY_DIGITS digits][id key: head + id][id entry].
 */
class EventScratch {
  private buf = Buffer.alloc(0);
  private prefix = '';
  private store = '';
  private terminal = '';
  private idPrefix = '';
  private eventKeyView = this.buf;
  private idKeyAt = 0;
  private idHeadEnd = 0;
  private idEntryAt = 0;
  private idKeyView = this.buf;
  private idEntryView = this.buf;

  /** Lays the buffer out for one event's keys and entry (its views of before are then stale). */
  use(prefix: string, idPrefix: string, store: string, terminal: string): void {
    if (prefix !== this.prefix || idPrefix !== this.idPrefix || store !== this.store || terminal !== this.terminal) this.layout(prefix, store, terminal, idPrefix);
  }

  /** `<prefix><store>/<terminal>/<seqKey(seq)>` as bytes (the digits padded as `seqKey` pads them). */
  eventKey(prefix: string, store: string, terminal: string, seq: number): Uint8Array {
    if (prefix !== this.prefix || store !== this.store || terminal !== this.terminal) this.layout(prefix, store, terminal, this.idPrefix);
    const b = this.buf;
    const end = this.eventKeyView.byteLength;
    let v = seq;
    for (let i = end - 1; i >= end - SEQ_KEY_DIGITS; i--) {
      b[i] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    return this.eventKeyView;
  }

  /** `<idPrefix><store>/<flipId(id)>` as bytes (after `use` for the event). */
  idKey(idPrefix: string, store: string, id: string): Uint8Array {
    if (idPrefix !== this.idPrefix || store !== this.store) this.layout(this.prefix, store, this.terminal, idPrefix);
    if (FLIPPED_MAX * id.length > this.idEntryAt - this.idHeadEnd) this.layout(this.prefix, this.store, this.terminal, idPrefix, FLIPPED_MAX * id.length);
    const b = this.buf;
    let end = this.idHeadEnd;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      if (c >= FLIP_LOW && c <= FLIP_HIGH) b[end++] = FLIP_SUM - c;
      else end += b.write(flipEscape(c), end, 'latin1');
    }
    // Ids have one length (ULIDs): the view of that length is kept.
    if (this.idKeyView.byteLength !== end - this.idKeyAt) this.idKeyView = this.buf.subarray(this.idKeyAt, end);
    return this.idKeyView;
  }

  /**
   * `encodeIdEntry(terminal, seq, hash)` (after `use` for the event, which
   * put the terminal's bytes in place); `hashBytes`, when given, are the
   * hash's 32 bytes, copied instead of parsing the hex.
   */
  idEntry(terminal: string, seq: number, hash: string, hashBytes?: Uint8Array): Uint8Array {
    if (terminal !== this.terminal) this.layout(this.prefix, this.store, terminal, this.idPrefix);
    if (hashBytes?.byteLength === 32) {
      const b = this.buf;
      const at = this.idEntryAt;
      b.writeDoubleBE(seq, at);
      for (let i = 0; i < 32; i++) b[at + 8 + i] = hashBytes[i]!;
    } else writeIdEntryHead(this.buf, this.idEntryAt, seq, hash);
    return this.idEntryView;
  }

  private layout(prefix: string, store: string, terminal: string, idPrefix: string, idRoom = 160): void {
    const eventHead = `${prefix}${store}/${terminal}/`;
    const idHead = `${idPrefix}${store}/`;
    const need = 3 * eventHead.length + SEQ_KEY_DIGITS + 3 * idHead.length + Math.max(idRoom, 160) + ID_FIXED + 3 * terminal.length;
    if (need > this.buf.byteLength) this.buf = Buffer.allocUnsafe(Math.max(1024, 2 * need));
    const b = this.buf;
    const headEnd = b.write(eventHead, 0, 'utf8');
    this.eventKeyView = b.subarray(0, headEnd + SEQ_KEY_DIGITS);
    this.idKeyAt = headEnd + SEQ_KEY_DIGITS;
    this.idHeadEnd = this.idKeyAt + b.write(idHead, this.idKeyAt, 'utf8');
    this.idEntryAt = this.idHeadEnd + Math.max(idRoom, 160);
    this.idKeyView = b.subarray(0, 0);
    this.idEntryView = b.subarray(this.idEntryAt, this.idEntryAt + ID_FIXED + b.write(terminal, this.idEntryAt + ID_FIXED, 'utf8'));
    this.prefix = prefix;
    this.store = store;
    this.terminal = terminal;
    this.idPrefix = idPrefix;
  }
}

const ID_FIXED = 8 + 32;

/**
 * The id index's key for an event id, so that later ULIDs (time first) sort
 * first (see KEY_ORDER): each character c from '-' to '}' as 0xAA - c (in the
 * same span; ULIDs and ENTITY_RE's characters flip to '0' to '}', never '/'),
 * any other UTF-16 unit as '~' and its four hex digits. ASCII, one-to-one, and
 * `unflipId` gives the id back.
 */
export function flipId(id: string): string {
  // Usually every character is in the span: flipped in a buffer, made one flat string at once.
  if (id.length <= FLIP_SCRATCH.length) {
    let i = 0;
    for (; i < id.length; i++) {
      const c = id.charCodeAt(i);
      if (c < FLIP_LOW || c > FLIP_HIGH) break;
      FLIP_SCRATCH[i] = FLIP_SUM - c;
    }
    if (i === id.length) return FLIP_SCRATCH.toString('latin1', 0, i);
  }
  let out = '';
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    out += c >= FLIP_LOW && c <= FLIP_HIGH ? String.fromCharCode(FLIP_SUM - c) : flipEscape(c);
  }
  return out;
}
const FLIP_SCRATCH = Buffer.allocUnsafe(128);

/** The id `flipId` made `key` from. */
export function unflipId(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === ESCAPE) {
      out += String.fromCharCode(parseInt(key.slice(i + 1, i + 5), 16));
      i += 4;
    } else out += String.fromCharCode(FLIP_SUM - c);
  }
  return out;
}

const FLIP_LOW = 0x2d; // '-'
const FLIP_HIGH = 0x7d; // '}'
const FLIP_SUM = FLIP_LOW + FLIP_HIGH;
const ESCAPE = 0x7e; // '~', outside the flipped span
/** Most bytes `flipId` makes of one character. */
const FLIPPED_MAX = 5;
function flipEscape(c: number): string {
  return `~${c.toString(16).padStart(4, '0')}`;
}

/** `<store>/<id>` (a key of the layout before) → `<store>/<flipId(id)>`. */
function flipIdKey(key: string): string {
  const at = key.indexOf('/') + 1;
  return key.slice(0, at) + flipId(key.slice(at));
}
/** /^[0-9a-f]{64}$/ without the regex engine (it showed in the upload's profile). */
function isHex64(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Reads `encodeIdEntry`'s value. */
export function decodeIdEntry(raw: Uint8Array): EventRef {
  const b = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (b.byteLength <= ID_FIXED) throw new TillsyncError('STORAGE_FAILED', `id index entry of ${b.byteLength} bytes is too short`);
  return { seq: b.readDoubleBE(0), hash: b.toString('hex', 8, ID_FIXED), terminal: b.toString('utf8', ID_FIXED) };
}

function toStorageError(err: unknown): TillsyncError {
  if (err instanceof TillsyncError) return err;
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const text = `${e.message ?? ''} ${String(e.cause?.code ?? '')}`;
  if (/ENOSPC|No space left/i.test(text)) return new TillsyncError('DISK_FULL', 'disk full: nothing was written', { cause: err });
  if (e.code === 'LEVEL_DATABASE_NOT_OPEN') return new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed', { cause: err });
  return new TillsyncError('STORAGE_FAILED', `storage failed: ${e.message ?? String(err)}`, { cause: err });
}
