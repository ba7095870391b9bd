/**
 * CloudStorage on LevelDB (classic-level), the cloud's default backend.
 *
 * One database, one sublevel per record kind; keys are `store/...` with
 * zero-padded seqs and cursors so byte order is numeric order (entity ids
 * cannot contain '/'). Records are msgpack; event bytes are stored exactly as
 * received. A commit is ONE chained batch written with `sync: true`
 * (chained, because an array batch with options is 4-5x slower: PERF-NOTES),
 * so LevelDB's write-ahead log gives atomicity and crash safety.
 */
import { TillsyncError } from '../errors.ts';
import { decodeTrusted, encodeCanonical, GENESIS_HASH, sha256Hex } from '../events/codec.ts';
import type { Change, CustomerRecord, ItemRecord } from '../events/event-types.ts';
import { BIG_READS, openLevel, seqKey, type Bytes, type LevelDb, type Sublevel } from '../events/level-util.ts';
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

/** Upper bound for a prefix range: '/' + 1 = '0'. */
const range = (prefix: string) => ({ gt: `${prefix}/`, lt: `${prefix}0` });

export class LevelStorage implements CloudStorage {
  private readonly db: LevelDb;
  private readonly subs: Record<Kind, Sublevel>;
  private readonly faults: StorageFaults;

  private constructor(db: LevelDb, faults: StorageFaults) {
    this.db = db;
    this.faults = faults;
    const subs = {} as Record<Kind, Sublevel>;
    for (const k of KINDS) subs[k] = db.sublevel(k, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    this.subs = subs;
  }

  /** Opens (creating if needed) the cloud database in `location`. */
  static async open(location: string, opts: { faults?: StorageFaults } = {}): Promise<LevelStorage> {
    return new LevelStorage(await openLevel(location), opts.faults ?? {});
  }

  private async get<T>(kind: Kind, key: string): Promise<T | undefined> {
    try {
      const raw = await this.subs[kind].get(key);
      return raw === undefined ? undefined : decodeTrusted<T>(raw);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  private async getMany<T>(kind: Kind, keys: readonly string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return [];
    try {
      const raws = await this.subs[kind].getMany(keys as string[]);
      return raws.map((raw) => (raw === undefined ? undefined : decodeTrusted<T>(raw)));
    } catch (err) {
      throw toStorageError(err);
    }
  }

  private async scan(kind: Kind, opts: { gt?: string; gte?: string; lt?: string; lte?: string }, limit: number): Promise<Array<[string, Bytes]>> {
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
  getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    return this.getMany('ids', ids.map((id) => `${store}/${id}`));
  }

  async readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]> {
    const prefix = `${store}/${terminal}`;
    const bounds = { gte: `${prefix}/${seqKey(Math.max(1, from))}`, lt: `${prefix}0` };
    const rows = await this.scan('events', bounds, limit);
    if (rows.length === 0) return [];
    const last = rows[rows.length - 1]![0];
    const quarantined = new Map<string, QuarantineValue>();
    for (const [k, v] of await this.scan('quarantine', { gte: bounds.gte, lte: last }, Number.MAX_SAFE_INTEGER)) {
      quarantined.set(k, decodeTrusted<QuarantineValue>(v));
    }
    return rows.map(([k, bytes]) => {
      const ev = decodeTrusted<{ id: string; seq: number }>(bytes);
      const q = quarantined.get(k);
      const out: StoredEvent = {
        store, terminal, seq: Number(k.slice(prefix.length + 1)), id: ev.id, hash: sha256Hex(bytes), bytes,
        indexById: q?.indexById ?? true,
      };
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
    const batch = this.db.batch();
    try {
      ops.forEach((op, i) => {
        this.faults.beforeOp?.(op, i);
        for (const [kind, key, value] of this.entries(op)) {
          if (value === undefined) batch.del(key, { sublevel: this.subs[kind] });
          else batch.put(key, value, { sublevel: this.subs[kind] });
        }
      });
    } catch (err) {
      await batch.close().catch(() => {});
      throw new TillsyncError('STORAGE_FAILED', `commit failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    try {
      await batch.write({ sync: true });
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** The (sublevel, key, value) writes of one op; value undefined = delete. */
  private entries(op: WriteOp): Array<[Kind, string, Bytes | undefined]> {
    const enc = encodeCanonical;
    switch (op.kind) {
      case 'store':
        return [['stores', op.store.id, enc(op.store)]];
      case 'counters':
        return [['counters', op.store, enc(op.counters)]];
      case 'terminal':
        return [['terminals', `${op.terminal.store}/${op.terminal.id}`, enc(op.terminal)]];
      case 'credential':
        return [['credentials', op.credential.tokenHash, enc(op.credential)]];
      case 'highWater':
        return [['highWater', `${op.store}/${op.terminal}`, enc(op.highWater)]];
      case 'event': {
        const e = op.event;
        const key = `${e.store}/${e.terminal}/${seqKey(e.seq)}`;
        if (!e.indexById && !e.quarantine) throw new Error('an event left out of the id index must be quarantined');
        const out: Array<[Kind, string, Bytes | undefined]> = [['events', key, e.bytes]];
        if (e.indexById) out.push(['ids', `${e.store}/${e.id}`, enc({ terminal: e.terminal, seq: e.seq, hash: e.hash } satisfies EventRef)]);
        if (e.quarantine) {
          out.push(['quarantine', key, enc({
            id: e.id, type: op.type, code: e.quarantine.code, message: e.quarantine.message, indexById: e.indexById,
          } satisfies QuarantineValue)]);
        }
        return out;
      }
      case 'feed':
        return [['feed', `${op.store}/${seqKey(op.change.cursor)}`, enc(op.change)]];
      case 'balance':
        return [['balances', `${op.store}/${op.customer}`, enc(op.view)]];
      case 'voucher':
        return [['vouchers', `${op.store}/${op.voucher}`, enc(op.view)]];
      case 'item':
        return [['items', `${op.store}/${op.item.id}`, enc(op.item)]];
      case 'itemRemoved':
        return [['items', `${op.store}/${op.id}`, undefined]];
      case 'customer':
        return [['customers', `${op.store}/${op.customer.id}`, enc(op.customer)]];
      case 'customerRemoved':
        return [['customers', `${op.store}/${op.id}`, undefined]];
      case 'exception': {
        const n = exceptionNumber(op.exception.id);
        if (n === undefined) throw new Error(`bad exception id ${op.exception.id}`);
        return [['exceptions', `${op.store}/${seqKey(n)}`, enc(op.exception)]];
      }
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function toStorageError(err: unknown): TillsyncError {
  if (err instanceof TillsyncError) return err;
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const text = `${e.message ?? ''} ${String(e.cause?.code ?? '')}`;
  if (/ENOSPC|No space left/i.test(text)) return new TillsyncError('DISK_FULL', 'disk full: nothing was written', { cause: err });
  if (e.code === 'LEVEL_DATABASE_NOT_OPEN') return new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed', { cause: err });
  return new TillsyncError('STORAGE_FAILED', `storage failed: ${e.message ?? String(err)}`, { cause: err });
}
