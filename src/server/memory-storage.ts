/**
 * In-memory CloudStorage: the second implementation that keeps the seam honest,
 * and a fast backend for tests and demos. Same guarantees as the interface
 * except durability, which ends with the process.
 *
 * The shared rules (closed checks, validation, fault hooks, error codes) are
 * StorageBase's. Atomicity: a commit first copies every op (which may throw)
 * and only then applies them, which cannot fail.
 */
import { GENESIS_HASH } from '../events/codec.ts';
import type { Change, CustomerRecord, ItemRecord } from '../events/event-types.ts';
import { seqKey } from '../events/level-util.ts';
import { StorageBase } from './storage-base.ts';
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
} from './storage.ts';

interface MemEvent extends StoredEvent {
  type: string;
}

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryStorage extends StorageBase {
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
  /** `store/terminal` → id → bundle. */
  private readonly supportBundles = new Map<string, Map<string, SupportBundleRecord>>();

  constructor(opts: { faults?: StorageFaults } = {}) {
    super(opts.faults);
  }

  protected async _getStore(store: string): Promise<StoreRecord | undefined> {
    const s = this.stores.get(store);
    return s && copy(s);
  }
  protected async _listStores(): Promise<StoreRecord[]> {
    return [...this.stores.keys()].sort().map((k) => copy(this.stores.get(k)!));
  }
  protected async _getCounters(store: string): Promise<StoreCounters> {
    return copy(this.counters.get(store) ?? EMPTY_COUNTERS);
  }
  protected async _getTerminal(store: string, terminal: string): Promise<TerminalRecord | undefined> {
    const t = this.terminals.get(`${store}/${terminal}`);
    return t && copy(t);
  }
  protected async _listTerminals(store: string): Promise<TerminalRecord[]> {
    return [...this.terminals.entries()]
      .filter(([k]) => k.startsWith(`${store}/`))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, v]) => copy(v));
  }
  protected async _getCredential(tokenHash: string): Promise<CredentialRecord | undefined> {
    const c = this.credentials.get(tokenHash);
    return c && copy(c);
  }
  protected async _getHighWater(store: string, terminal: string): Promise<HighWater> {
    return copy(this.highWater.get(`${store}/${terminal}`) ?? { seq: 0, hash: GENESIS_HASH, quarantined: 0 });
  }
  protected async _getEventRefs(store: string, ids: readonly string[]): Promise<Array<EventRef | undefined>> {
    return ids.map((id) => {
      const r = this.ids.get(`${store}/${id}`);
      return r && copy(r);
    });
  }
  protected async _readEvents(store: string, terminal: string, from: number, limit: number): Promise<StoredEvent[]> {
    const m = this.events.get(`${store}/${terminal}`);
    if (!m) return [];
    const seqs = [...m.keys()].filter((s) => s >= from).sort((a, b) => a - b).slice(0, Math.max(0, limit));
    return seqs.map((s) => {
      const { type: _type, ...ev } = m.get(s)!;
      return copy(ev);
    });
  }
  protected async _listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
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
  protected async _readFeed(store: string, since: number, limit: number): Promise<Change[]> {
    const m = this.feed.get(store);
    if (!m) return [];
    return [...m.keys()].filter((c) => c > since).sort((a, b) => a - b).slice(0, Math.max(0, limit)).map((c) => copy(m.get(c)!));
  }
  protected async _getBalances(store: string, customers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.many(this.balances, store, customers);
  }
  protected async _getVouchers(store: string, vouchers: readonly string[]): Promise<Array<ValueView | undefined>> {
    return this.many(this.vouchers, store, vouchers);
  }
  protected async _getItems(store: string, ids: readonly string[]): Promise<Array<ItemRecord | undefined>> {
    return this.many(this.items, store, ids);
  }
  protected async _getCustomers(store: string, ids: readonly string[]): Promise<Array<CustomerRecord | undefined>> {
    return this.many(this.customers, store, ids);
  }
  private many<T>(map: Map<string, T>, store: string, keys: readonly string[]): Array<T | undefined> {
    return keys.map((k) => {
      const v = map.get(`${store}/${k}`);
      return v === undefined ? undefined : copy(v);
    });
  }
  protected async _getException(store: string, n: number): Promise<ExceptionRecord | undefined> {
    const e = this.exceptions.get(`${store}/exc-${n}`);
    return e && copy(e);
  }
  protected async _listExceptions(store: string): Promise<ExceptionRecord[]> {
    return [...this.exceptions.values()]
      .filter((e) => e.store === store)
      .sort((a, b) => (exceptionNumber(a.id) ?? 0) - (exceptionNumber(b.id) ?? 0))
      .map(copy);
  }

  protected async _listSupportBundles(store: string, terminal: string): Promise<SupportBundleRecord[]> {
    return [...(this.supportBundles.get(`${store}/${terminal}`)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1)).map(copy);
  }

  protected async _commit(ops: readonly WriteOp[]): Promise<void> {
    // Prepare: everything that can throw happens before anything is applied.
    const prepared = ops.map(copy);
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
      case 'supportBundle': {
        const key = `${op.bundle.store}/${op.bundle.terminal}`;
        const m = this.supportBundles.get(key) ?? new Map<string, SupportBundleRecord>();
        m.set(op.bundle.id, op.bundle);
        this.supportBundles.set(key, m);
        return;
      }
      case 'supportBundleRemoved':
        this.supportBundles.get(`${op.store}/${op.terminal}`)?.delete(op.id);
        return;
      // Added for issue 24 (quarantine review): the event stays, without its quarantine.
      case 'quarantineReleased': {
        const e = this.events.get(`${op.store}/${op.terminal}`)?.get(op.seq);
        if (e) delete e.quarantine;
        return;
      }
    }
  }

  protected async _close(): Promise<void> {}
}
