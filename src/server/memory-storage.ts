/**
 * In-memory CloudStorage: the second implementation that keeps the seam honest,
 * and a fast backend for tests and demos. Same guarantees as the interface
 * except durability, which ends with the process.
 *
 * Atomicity: a commit first prepares every op (running the fault hook and
 * copying each value, either of which may throw) and only then applies them,
 * which cannot fail.
 */
import { TillsyncError } from '../errors.ts';
import { GENESIS_HASH } from '../events/codec.ts';
import type { Change, CustomerRecord, ItemRecord } from '../events/event-types.ts';
import { seqKey } from '../events/level-util.ts';
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

interface MemEvent extends StoredEvent {
  type: string;
}

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryStorage implements CloudStorage {
  private readonly stores = new Map<string, StoreRecord>();
  private readonly counters = new Map<string, StoreCounters>();
  private readonly terminals = new Map<string, TerminalRecord>();
  private readonly credentials = new Map<string, CredentialRecord>();
  private readonly highWater = new Map<string, HighWater>();
  /** `${store}/${terminal}` → seq → event */
  private readonly events = new Map<string, Map<number, MemEvent>>();
  private readonly ids = new Map<string, EventRef>();
  private readonly feed = new Map<string, Map<number, Change>>();
  private readonly balances = new Map<string, ValueView>();
  private readonly vouchers = new Map<string, ValueView>();
  private readonly items = new Map<string, ItemRecord>();
  private readonly customers = new Map<string, CustomerRecord>();
  private readonly exceptions = new Map<string, ExceptionRecord>();
  private closed = false;
  private readonly faults: StorageFaults;

  constructor(opts: { faults?: StorageFaults } = {}) {
    this.faults = opts.faults ?? {};
  }

  private open(): void {
    if (this.closed) throw new TillsyncError('STORAGE_CLOSED', 'cloud storage is closed');
  }

  async getStore(store: string): Promise<StoreRecord | undefined> {
    this.open();
    const s = this.stores.get(store);
    return s && copy(s);
  }
  async listStores(): Promise<StoreRecord[]> {
    this.open();
    return [...this.stores.keys()].sort().map((k) => copy(this.stores.get(k)!));
  }
  async getCounters(store: string): Promise<StoreCounters> {
    this.open();
    return copy(this.counters.get(store) ?? EMPTY_COUNTERS);
  }
  async getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined> {
    this.open();
    const t = this.terminals.get(`${store}/${terminal}`);
    return t && copy(t);
  }
  async listTerminals(store: string): Promise<TerminalRecord[]> {
    this.open();
    return [...this.terminals.entries()]
      .filter(([k]) => k.startsWith(`${store}/`))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, v]) => copy(v));
  }
  async getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    this.open();
    const c = this.credentials.get(tokenHash);
    return c && copy(c);
  }
  async getHighWater(store: string, terminal: string): Promise<HighWater> {
    this.open();
    return copy(this.highWater.get(`${store}/${terminal}`) ?? { seq: 0, hash: GENESIS_HASH, quarantined: 0 });
  }
  async getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    this.open();
    return ids.map((id) => {
      const r = this.ids.get(`${store}/${id}`);
      return r && copy(r);
    });
  }
  async readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]> {
    this.open();
    const m = this.events.get(`${store}/${terminal}`);
    if (!m) return [];
    const seqs = [...m.keys()].filter((s) => s >= from).sort((a, b) => a - b).slice(0, Math.max(0, limit));
    return seqs.map((s) => {
      const { type: _type, ...ev } = m.get(s)!;
      return copy(ev);
    });
  }
  async listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
    this.open();
    const out: Array<QuarantineEntry & { key: string }> = [];
    for (const [k, m] of this.events) {
      if (!k.startsWith(`${store}/`)) continue;
      for (const e of m.values()) {
        if (e.quarantine) {
          out.push({
            key: `${e.terminal}/${seqKey(e.seq)}`, terminal: e.terminal, seq: e.seq, id: e.id, type: e.type,
            code: e.quarantine.code, message: e.quarantine.message,
          });
        }
      }
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out.slice(0, Math.max(0, limit)).map(({ key: _key, ...q }) => q);
  }
  async readFeed(store: string, since: number, limit: number): Promise<Change[]> {
    this.open();
    const m = this.feed.get(store);
    if (!m) return [];
    return [...m.keys()].filter((c) => c > since).sort((a, b) => a - b).slice(0, Math.max(0, limit)).map((c) => copy(m.get(c)!));
  }
  async getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.many(this.balances, store, customers);
  }
  async getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.many(this.vouchers, store, vouchers);
  }
  async getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.many(this.items, store, ids);
  }
  async getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>> {
    return this.many(this.customers, store, ids);
  }
  private many<T>(map: Map<string, T>, store: string, keys: readonly string[]): Array<T | undefined> {
    this.open();
    return keys.map((k) => {
      const v = map.get(`${store}/${k}`);
      return v === undefined ? undefined : copy(v);
    });
  }
  async getException(store: string, id: string): Promise<ExceptionRecord | undefined> {
    this.open();
    const e = this.exceptions.get(`${store}/${id}`);
    return e && copy(e);
  }
  async listExceptions(store: string, status: 'open' | 'resolved' | 'all'): Promise<ExceptionRecord[]> {
    this.open();
    return [...this.exceptions.values()]
      .filter((e) => e.store === store && (status === 'all' || e.status === status))
      .sort((a, b) => (exceptionNumber(a.id) ?? 0) - (exceptionNumber(b.id) ?? 0))
      .map(copy);
  }

  async commit(ops: readonly WriteOp[]): Promise<void> {
    this.open();
    // Prepare: everything that can throw happens before anything is applied.
    const prepared: WriteOp[] = [];
    try {
      ops.forEach((op, i) => {
        this.faults.beforeOp?.(op, i);
        if (op.kind === 'event' && !op.event.indexById && !op.event.quarantine) {
          throw new Error('an event left out of the id index must be quarantined');
        }
        prepared.push(copy(op));
      });
    } catch (err) {
      throw new TillsyncError('STORAGE_FAILED', `commit failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    for (const op of prepared) this.apply(op);
  }

  private apply(op: WriteOp): void {
    switch (op.kind) {
      case 'store':
        this.stores.set(op.store.id, op.store);
        return;
      case 'counters':
        this.counters.set(op.store, op.counters);
        return;
      case 'terminal':
        this.terminals.set(`${op.terminal.store}/${op.terminal.id}`, op.terminal);
        return;
      case 'credential':
        this.credentials.set(op.credential.tokenHash, op.credential);
        return;
      case 'highWater':
        this.highWater.set(`${op.store}/${op.terminal}`, op.highWater);
        return;
      case 'event': {
        const e = op.event;
        const key = `${e.store}/${e.terminal}`;
        let m = this.events.get(key);
        if (!m) this.events.set(key, (m = new Map()));
        m.set(e.seq, { ...e, type: op.type });
        if (e.indexById) this.ids.set(`${e.store}/${e.id}`, { terminal: e.terminal, seq: e.seq, hash: e.hash });
        return;
      }
      case 'feed': {
        let m = this.feed.get(op.store);
        if (!m) this.feed.set(op.store, (m = new Map()));
        m.set(op.change.cursor, op.change);
        return;
      }
      case 'balance':
        this.balances.set(`${op.store}/${op.customer}`, op.view);
        return;
      case 'voucher':
        this.vouchers.set(`${op.store}/${op.voucher}`, op.view);
        return;
      case 'item':
        this.items.set(`${op.store}/${op.item.id}`, op.item);
        return;
      case 'itemRemoved':
        this.items.delete(`${op.store}/${op.id}`);
        return;
      case 'customer':
        this.customers.set(`${op.store}/${op.customer.id}`, op.customer);
        return;
      case 'customerRemoved':
        this.customers.delete(`${op.store}/${op.id}`);
        return;
      case 'exception':
        this.exceptions.set(`${op.store}/${op.exception.id}`, op.exception);
        return;
      // Added for issue 24 (quarantine review): the event stays, without its quarantine.
      case 'quarantineReleased': {
        const e = this.events.get(`${op.store}/${op.terminal}`)?.get(op.seq);
        if (e) delete e.quarantine;
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
