/**
 * CloudStorage on LevelDB (classic-level), the cloud's default backend: the
 * reads and the commit. The shared rules (closed checks, validation, fault
 * hooks, error codes) are StorageBase's; the jobs this class puts together
 * each live in their own module beside it:
 *
 * - keys.ts: one sublevel per record kind, keys `store/...` with zero-padded
 *   seqs and cursors so byte order is numeric order (entity ids cannot contain
 *   '/'), where each kind sits in the key space (KEY_ORDER), the id index's
 *   keys and 41-byte entries.
 * - layout.ts: the layout's version number and the steps between versions,
 *   run on open.
 * - event-run.ts: a commit's consecutive events of one terminal as one entry.
 * - event-scratch.ts: a commit's event keys and id entries written into one
 *   reused buffer.
 * - commit-batches.ts: the reused native write batches (classic-level's
 *   implementer methods: the version is pinned).
 * - hot-records.ts: the small records uploads read, kept in memory.
 * - id-filters.ts: the per-store filters that spare by-id lookups of new ids.
 *
 * Records are msgpack; event bytes are stored exactly as received. A commit is
 * ONE batch written with `sync: true`, so LevelDB's write-ahead log gives
 * atomicity and crash safety.
 *
 * Hot path (upload): batch keys are prefixed by hand with the sublevel's prefix
 * (the `{ sublevel }` option costs several µs per op: abstract-level copies the
 * options into every op), by-id lookups go to the root db with prefixed keys in
 * one `getMany`, and ids of new events are not looked up at all when the
 * store's id filter says they are certainly not held.
 */
import { TillsyncError } from '../../errors.ts';
import { decodeTrusted, encodeCanonical, GENESIS_HASH, sha256Hex } from '../../events/codec.ts';
import type { Change, CustomerRecord, ItemRecord } from '../../events/event-types.ts';
import { BIG_READS, openLevel, sealWriteAheadLog, seqKey, type Bytes, type LevelDb, type LevelTuning, type Sublevel } from '../../events/level-util.ts';
import { StorageBase } from '../storage-base.ts';
import {
  EMPTY_COUNTERS,
  exceptionNumber,
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
} from '../storage.ts';
import { CommitBatches, type CommitBatch } from './commit-batches.ts';
import { EventRun, readRun } from './event-run.ts';
import { EventScratch } from './event-scratch.ts';
import { HOT_KINDS, HotRecords } from './hot-records.ts';
import { IdFilters } from './id-filters.ts';
import { decodeIdEntry, flipId, KEY_ORDER, KINDS, range, type Kind } from './keys.ts';
import { upgradeLayout } from './layout.ts';

interface QuarantineValue {
  id: string;
  type: string;
  code: string;
  message: string;
  indexById: boolean;
}

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

export interface OpenOptions {
  faults?: StorageFaults;
  /** Defaults to CLOUD_TUNING. */
  tuning?: LevelTuning;
  /** Progress of bringing an older layout version up to date (see layout.ts): entries moved so far. */
  onMigrate?: (moved: number) => void;
}

export class LevelStorage extends StorageBase {
  private readonly db: LevelDb;
  private readonly subs: Record<Kind, Sublevel>;
  private readonly batches: CommitBatches;
  private readonly scratch = new EventScratch();
  private readonly run = new EventRun();
  private readonly idFilters: IdFilters;
  private readonly hot = new HotRecords();
  /** A write failed: the write-ahead log may end in a torn record; sealed before the next commit (level-util.ts). */
  private walSuspect = false;
  private sealing: Promise<void> | undefined;
  /** Ids looked up on disk so far (tests: what the id filter spares). */
  idLookups = 0;

  private constructor(db: LevelDb, faults: StorageFaults) {
    super(faults);
    this.db = db;
    const subs = {} as Record<Kind, Sublevel>;
    for (const k of KINDS) subs[k] = db.sublevel(`${KEY_ORDER[k]}${k}`, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    this.subs = subs;
    this.batches = new CommitBatches(db);
    this.idFilters = new IdFilters(subs.ids);
  }

  /** Opens (creating if needed) the cloud database in `location`, bringing its layout up to date. */
  static async open(location: string, opts: OpenOptions = {}): Promise<LevelStorage> {
    const s = new LevelStorage(await openLevel(location, opts.tuning ?? CLOUD_TUNING), opts.faults ?? {});
    try {
      await upgradeLayout(s.db, s.subs, opts.onMigrate);
    } catch (err) {
      await s.db.close();
      throw s.storageError(err);
    }
    return s;
  }

  /** Hot-record reads answered from memory so far (tests). */
  get hotHits(): number {
    return this.hot.hits;
  }

  /** Whether commits write through classic-level's native batch methods (the fast path; tests). */
  get batchStats(): { made: number; native: number } {
    return { made: this.batches.made, native: this.batches.madeNative };
  }

  /** Test seam: resolves once the store's id filter is loaded (or its load failed). */
  idFilterLoaded(store: string): Promise<void> {
    return this.idFilters.loaded(store);
  }

  protected override _mapError(err: unknown): TillsyncError | undefined {
    if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN') return new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed', { cause: err });
    return undefined;
  }

  private async get<T>(kind: Kind, key: string): Promise<T | undefined> {
    const hot = HOT_KINDS.has(kind);
    const full = this.subs[kind].prefix + key;
    if (hot) {
      const kept = this.hot.lookup(full);
      if (kept !== undefined) return kept === null ? undefined : decodeTrusted<T>(kept);
    }
    const epoch = this.hot.epoch();
    const raw = await this.subs[kind].get(key);
    if (hot) this.hot.fill(full, raw, epoch);
    return raw === undefined ? undefined : decodeTrusted<T>(raw);
  }

  private async getMany<T>(kind: Kind, keys: readonly string[]): Promise<Array<T | undefined>> {
    const out = new Array<T | undefined>(keys.length).fill(undefined);
    const hot = HOT_KINDS.has(kind);
    const prefix = this.subs[kind].prefix;
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const kept = hot ? this.hot.lookup(prefix + keys[i]!) : undefined;
      if (kept === undefined) missing.push(i);
      else if (kept !== null) out[i] = decodeTrusted<T>(kept);
    }
    if (missing.length === 0) return out;
    const epoch = this.hot.epoch();
    const raws = await this.subs[kind].getMany(missing.map((i) => keys[i]!));
    for (let j = 0; j < missing.length; j++) {
      const raw = raws[j];
      const i = missing[j]!;
      if (hot) this.hot.fill(prefix + keys[i]!, raw, epoch);
      if (raw !== undefined) out[i] = decodeTrusted<T>(raw);
    }
    return out;
  }

  private async scan(kind: Kind, opts: { gt?: string; gte?: string; lt?: string; lte?: string; reverse?: boolean }, limit: number): Promise<Array<[string, Bytes]>> {
    if (limit <= 0) return [];
    const it = this.subs[kind].iterator({ ...opts, limit, ...BIG_READS });
    try {
      const out: Array<[string, Bytes]> = [];
      for (;;) {
        const page = await it.nextv(Math.min(1000, limit - out.length));
        if (page.length === 0) return out;
        for (const e of page) out.push(e);
        if (out.length >= limit) return out;
      }
    } finally {
      await it.close().catch(() => {});
    }
  }

  protected _getStore(store: string): Promise<StoreRecord | undefined> {
    return this.get('stores', store);
  }
  protected async _listStores(): Promise<StoreRecord[]> {
    return (await this.scan('stores', {}, Number.MAX_SAFE_INTEGER)).map(([, v]) => decodeTrusted<StoreRecord>(v));
  }
  protected async _getCounters(store: string): Promise<StoreCounters> {
    return (await this.get<StoreCounters>('counters', store)) ?? { ...EMPTY_COUNTERS };
  }
  protected _getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined> {
    return this.get('terminals', `${store}/${terminal}`);
  }
  protected async _listTerminals(store: string): Promise<TerminalRecord[]> {
    return (await this.scan('terminals', range(store), Number.MAX_SAFE_INTEGER)).map(([, v]) => decodeTrusted<TerminalRecord>(v));
  }
  protected _getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    return this.get('credentials', tokenHash);
  }
  protected async _getHighWater(store: string, terminal: string): Promise<HighWater> {
    return (await this.get<HighWater>('highWater', `${store}/${terminal}`)) ?? { seq: 0, hash: GENESIS_HASH, quarantined: 0 };
  }
  protected async _getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    const out = new Array<EventRef | undefined>(ids.length).fill(undefined);
    // Only the ids the store's filter may hold go to disk.
    const filter = this.idFilters.of(store);
    const asked: number[] = [];
    for (let i = 0; i < ids.length; i++) if (filter.mayHold(ids[i]!)) asked.push(i);
    if (asked.length === 0) return out;
    const prefix = `${this.subs.ids.prefix}${store}/`;
    const keys = new Array<string>(asked.length);
    for (let j = 0; j < asked.length; j++) keys[j] = prefix + flipId(ids[asked[j]!]!);
    this.idLookups += keys.length;
    const raws = await this.db.getMany(keys);
    for (let j = 0; j < raws.length; j++) {
      const raw = raws[j];
      if (raw !== undefined) out[asked[j]!] = decodeIdEntry(raw);
    }
    return out;
  }

  protected async _readEvents(store: string, terminal: string, first: number, limit: number): Promise<StoredEvent[]> {
    const prefix = `${store}/${terminal}/`;
    const end = `${store}/${terminal}0`;
    // The entry holding `first` is the last one keyed at or before it (an entry holds one event or a run: see EventRun).
    const [holder] = await this.scan('events', { gte: prefix, lte: prefix + seqKey(first), reverse: true }, 1);
    const events: Array<{ seq: number; bytes: Bytes }> = [];
    const it = this.subs.events.iterator({ gte: holder?.[0] ?? prefix + seqKey(first), lt: end, ...BIG_READS });
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

  protected async _listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
    const rows = await this.scan('quarantine', range(store), limit);
    return rows.map(([k, v]) => {
      const [, terminal, seq] = k.split('/');
      const q = decodeTrusted<QuarantineValue>(v);
      return { terminal: terminal!, seq: Number(seq), id: q.id, type: q.type, code: q.code, message: q.message };
    });
  }

  protected async _readFeed(store: string, since: number, limit: number): Promise<Change[]> {
    const rows = await this.scan('feed', { gt: `${store}/${seqKey(since)}`, lt: `${store}0` }, limit);
    return rows.map(([, v]) => decodeTrusted<Change>(v));
  }

  protected _getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.getMany('balances', customers.map((c) => `${store}/${c}`));
  }
  protected _getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.getMany('vouchers', vouchers.map((c) => `${store}/${c}`));
  }
  protected _getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.getMany('items', ids.map((c) => `${store}/${c}`));
  }
  protected _getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>> {
    return this.getMany('customers', ids.map((c) => `${store}/${c}`));
  }
  protected _getException(store: string, n: number): Promise<ExceptionRecord | undefined> {
    return this.get('exceptions', `${store}/${seqKey(n)}`);
  }
  protected async _listExceptions(store: string): Promise<ExceptionRecord[]> {
    const rows = await this.scan('exceptions', range(store), Number.MAX_SAFE_INTEGER);
    return rows.map(([, v]) => decodeTrusted<ExceptionRecord>(v));
  }
  protected async _listSupportBundles(store: string, terminal: string): Promise<SupportBundleRecord[]> {
    const rows = await this.scan('supportBundles', range(`${store}/${terminal}`), Number.MAX_SAFE_INTEGER);
    return rows.map(([, v]) => decodeTrusted<SupportBundleRecord>(v));
  }

  /** One seal for every commit waiting on it; until one succeeds (room on the disk), commits fail with its error. */
  private sealed(): Promise<void> {
    this.sealing ??= sealWriteAheadLog(this.db)
      .then(() => {
        this.walSuspect = false;
      })
      .finally(() => {
        this.sealing = undefined;
      });
    return this.sealing;
  }

  protected async _commit(ops: readonly WriteOp[]): Promise<void> {
    if (this.db.status !== 'open') throw new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed');
    // A failed write may have torn the write-ahead log: no commit goes in behind it (level-util.ts).
    if (this.walSuspect) await this.sealed();
    const batch = this.batches.take();
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
      for (let i = 0; i < ops.length; i++) this.write(ops[i]!, put, batch);
      this.putRun(batch);
    } catch (err) {
      run.clear();
      await this.batches.retire(batch);
      throw new TillsyncError('STORAGE_FAILED', `commit failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    try {
      await batch.write();
    } catch (err) {
      // Whether the write reached the disk is not known: what memory holds of its keys goes.
      for (let i = 0; i < hotWrites.length; i += 2) this.hot.forget(hotWrites[i] as string);
      this.walSuspect = true;
      throw err;
    } finally {
      this.hot.commitEnded();
      await this.batches.retire(batch);
    }
    for (let i = 0; i < hotWrites.length; i += 2) this.hot.written(hotWrites[i] as string, hotWrites[i + 1] as Bytes | undefined);
  }

  /** Puts the events gathered in `this.run` (if any) as one entry under the first one's key, and empties the run. */
  private putRun(batch: CommitBatch): void {
    const run = this.run;
    if (run.count === 0) return;
    batch.put(this.scratch.eventKey(this.subs.events.prefix, run.store, run.terminal, run.first), run.value());
    run.clear();
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
        const scratch = this.scratch;
        if (!this.run.continuedBy(e)) this.putRun(batch);
        this.run.add(e);
        scratch.use(this.subs.events.prefix, this.subs.ids.prefix, e.store, e.terminal);
        if (e.indexById) {
          this.idFilters.of(e.store).add(e.id);
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
      case 'exception':
        // The base checked the id.
        return put('exceptions', `${op.store}/${seqKey(exceptionNumber(op.exception.id)!)}`, enc(op.exception));
      case 'quarantineReleased':
        // The quarantine record goes; the event stays as it was stored.
        return put('quarantine', `${op.store}/${op.terminal}/${seqKey(op.seq)}`, undefined);
      case 'supportBundle':
        return put('supportBundles', `${op.bundle.store}/${op.bundle.terminal}/${op.bundle.id}`, enc(op.bundle));
      case 'supportBundleRemoved':
        return put('supportBundles', `${op.store}/${op.terminal}/${op.id}`, undefined);
    }
  }

  protected async _close(): Promise<void> {
    this.batches.clear();
    this.hot.clear();
    await this.db.close();
  }
}
