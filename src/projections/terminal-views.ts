/**
 * All of a terminal's views, persisted in LevelDB sublevels and kept atomically
 * in step with the event log (it is the log's CommitParticipant): an event, the
 * view changes it causes and the log head are written in one batch.
 *
 * Also: the search indexes (derived, in memory), full rebuild from history,
 * snapshots of the views with the log position they reflect, and a digest for
 * comparing two sets of views.
 */
import { createHash } from 'node:crypto';
import type { BatchWriter, CommitParticipant, EventLog } from '../events/event-log.ts';
import type { Change, CustomerRecord, EventDraft, ItemRecord, StoreSettings, TillEvent } from '../events/event-types.ts';
import { decodeTrusted, encodeCanonical } from '../events/codec.ts';
import { BIG_READS, type LevelDb, type Sublevel } from '../events/level-util.ts';
import { applyChange, applyEvent, salesReferenced, type SaleRecord, type StoredValue, type Views } from './reducers.ts';
import { TokenIndex, compactKey, normalizeText, tokenize } from './text-index.ts';
import { ViewStore, type Residency } from './view-store.ts';

const NAMESPACES: Array<[keyof Views, Residency]> = [
  ['items', 'memory'],
  ['barcodes', 'memory'],
  ['customers', 'memory'],
  ['balances', 'memory'],
  ['vouchers', 'memory'],
  ['sales', 'disk'],
  ['settings', 'memory'],
];

/** Flush rebuild work every this many events, so memory stays flat on long logs. */
const REBUILD_CHUNK = 20_000;

export interface ViewSnapshotInfo {
  /** Log seq the snapshot reflects (every event <= seq is folded in). */
  seq: number;
  /** Feed cursor the snapshot reflects. */
  feedCursor: number;
  time: number;
}

export class TerminalViews implements CommitParticipant {
  readonly views: Views;
  readonly itemIndex = new TokenIndex();
  readonly customerIndex = new TokenIndex();
  private readonly db: LevelDb;
  private readonly terminal: string;
  private readonly prefix: string;

  constructor(db: LevelDb, terminal: string, prefix = 'v') {
    this.db = db;
    this.terminal = terminal;
    this.prefix = prefix;
    const make = <V>(name: string, residency: Residency): ViewStore<V> =>
      new ViewStore<V>(name, this.sublevel(name), residency);
    this.views = Object.fromEntries(NAMESPACES.map(([name, res]) => [name, make(name, res)])) as unknown as Views;
    this.views.items.onChange((id, _before, after) => this.itemIndex.set(id, after && itemDoc(after)));
    this.views.customers.onChange((id, _before, after) => this.customerIndex.set(id, after && customerDoc(after)));
  }

  private sublevel(name: string): Sublevel {
    return this.db.sublevel(`${this.prefix}-${name}`, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
  }

  private stores(): Array<ViewStore<unknown>> {
    return Object.values(this.views) as Array<ViewStore<unknown>>;
  }

  /** Loads memory-resident views and builds the search indexes. */
  async load(): Promise<void> {
    for (const s of this.stores()) await s.load();
    this.itemIndex.clear();
    this.customerIndex.clear();
    for (const [id, item] of this.views.items.entries()) this.itemIndex.set(id, itemDoc(item));
    for (const [id, c] of this.views.customers.entries()) this.customerIndex.set(id, customerDoc(c));
  }

  // ------------------------------------------------------------ CommitParticipant

  prepare(drafts: readonly EventDraft[]): Promise<void> | undefined {
    const keys = salesReferenced(drafts);
    return keys.length > 0 ? this.views.sales.preload(keys) : undefined;
  }

  mark(): number {
    // One number for all stores: pack per-store journal lengths into a list kept aside.
    this.marks.push(this.stores().map((s) => s.mark()));
    return this.marks.length - 1;
  }
  private marks: number[][] = [];

  rollbackTo(mark: number): void {
    const m = this.marks[mark];
    if (!m) return;
    this.stores().forEach((s, i) => s.rollbackTo(m[i]!));
    this.marks.length = mark;
  }

  stageEvents(events: readonly TillEvent[]): void {
    for (const e of events) applyEvent(this.views, e);
  }

  stageChanges(changes: readonly Change[]): void {
    for (const c of changes) applyChange(this.views, c, this.terminal);
  }

  flushInto(batch: BatchWriter): void {
    for (const s of this.stores()) s.flushInto(batch);
  }

  committed(): void {
    this.marks = [];
    for (const s of this.stores()) s.committed();
  }

  aborted(): void {
    this.marks = [];
    for (const s of this.stores()) s.aborted();
  }

  // ------------------------------------------------------------ rebuild, snapshot, digest

  /** Deletes every persisted view entry (the caller then folds history back in). */
  async clear(): Promise<void> {
    for (const s of this.stores()) {
      await s.sublevel.clear();
      s.reset();
    }
    this.itemIndex.clear();
    this.customerIndex.clear();
  }

  /**
   * Rebuilds every view from history: the stored downstream changes, then the
   * retained events (starting from the latest snapshot when a prefix of the log
   * was cleaned up). Writes in chunks without fsync, then one synced marker; the
   * caller holds the log's writer (nothing else may append meanwhile).
   */
  async rebuildFrom(log: EventLog, onProgress?: (done: number, total: number) => void): Promise<{ events: number; changes: number }> {
    await this.clear();
    const snap = await this.restoreSnapshotInto(log);
    const total = log.head.seq - Math.max(log.base.seq, snap?.seq ?? 0);
    let pendingInChunk = 0;
    const flush = async (): Promise<void> => {
      const batch = this.db.batch();
      this.flushInto({ put: (sl, k, v) => batch.put(k, v, { sublevel: sl }), del: (sl, k) => batch.del(k, { sublevel: sl }) });
      await batch.write();
      this.committed();
      pendingInChunk = 0;
    };
    let changes = 0;
    // The snapshot already holds every change up to its feed cursor.
    for await (const page of log.readChanges(1000, snap?.feedCursor ?? 0)) {
      this.stageChanges(page);
      changes += page.length;
      pendingInChunk += page.length;
      if (pendingInChunk >= REBUILD_CHUNK) await flush();
    }
    let events = 0;
    const from = Math.max(log.base.seq, snap?.seq ?? 0) + 1;
    for await (const evs of log.readEvents(from, { to: log.head.seq, pageSize: 1000 })) {
      const keys = salesReferenced(evs);
      if (keys.length > 0) await this.views.sales.preload(keys);
      this.stageEvents(evs);
      events += evs.length;
      pendingInChunk += evs.length;
      if (pendingInChunk >= REBUILD_CHUNK) await flush();
      onProgress?.(events, total);
    }
    await flush();
    return { events, changes };
  }

  /**
   * Copies every view into the snapshot area with the log position it reflects.
   * Cleanup takes one before deleting a prefix of the log, so a later rebuild
   * starts from it. Call it with the log's writer idle (see TerminalViews users).
   */
  async snapshot(log: EventLog, clock: { now(): number } = { now: () => Date.now() }): Promise<ViewSnapshotInfo> {
    const snapDb = this.db.sublevel('snapshot', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    await snapDb.clear();
    let batch = this.db.batch();
    let n = 0;
    for (const s of this.stores()) {
      const it = s.sublevel.iterator(BIG_READS);
      try {
        for (;;) {
          const entries = await it.nextv(1000);
          if (entries.length === 0) break;
          for (const [k, v] of entries) batch.put(`${s.name}\u0000${k}`, v, { sublevel: snapDb });
          n += entries.length;
          if (n >= 10_000) {
            await batch.write();
            batch = this.db.batch();
            n = 0;
          }
        }
      } finally {
        await it.close();
      }
    }
    const info: ViewSnapshotInfo = { seq: log.head.seq, feedCursor: log.feedCursor, time: clock.now() };
    batch.put('\u0001info', encodeCanonical(info), { sublevel: snapDb });
    await batch.write({ sync: true });
    return info;
  }

  async snapshotInfo(): Promise<ViewSnapshotInfo | undefined> {
    const snapDb = this.db.sublevel('snapshot', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    const raw = await snapDb.get('\u0001info');
    return raw === undefined ? undefined : decodeTrusted<ViewSnapshotInfo>(raw);
  }

  /** Loads the snapshot (if any) into these (cleared) views; returns its info. */
  private async restoreSnapshotInto(log: EventLog): Promise<ViewSnapshotInfo | undefined> {
    const info = await this.snapshotInfo();
    // A snapshot is needed only when the log no longer starts at seq 1.
    if (!info || log.base.seq === 0) return undefined;
    const snapDb = this.db.sublevel('snapshot', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    const byName = new Map(this.stores().map((s) => [s.name, s]));
    const it = snapDb.iterator(BIG_READS);
    let batch = this.db.batch();
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) {
          const sep = k.indexOf('\u0000');
          const store = sep > 0 ? byName.get(k.slice(0, sep)) : undefined;
          if (store) batch.put(k.slice(sep + 1), v, { sublevel: store.sublevel });
        }
        await batch.write();
        batch = this.db.batch();
      }
    } finally {
      await it.close();
    }
    await this.load();
    return info;
  }

  /**
   * A digest per view namespace over the persisted entries (canonical bytes), so
   * two sets of views can be compared exactly. `entries` lists differing keys
   * when compared with `diffViews`.
   */
  async digest(): Promise<Record<string, { count: number; sha256: string }>> {
    const out: Record<string, { count: number; sha256: string }> = {};
    for (const s of this.stores()) {
      const h = createHash('sha256');
      let count = 0;
      for await (const [k, v] of iterate(s.sublevel)) {
        h.update(k).update('\u0000').update(encodeCanonical(decodeTrusted(v))).update('\u0001');
        count++;
      }
      out[s.name] = { count, sha256: h.digest('hex') };
    }
    return out;
  }

  // ------------------------------------------------------------ reads

  item(id: string): ItemRecord | undefined {
    return this.views.items.get(id);
  }
  itemByBarcode(code: string): ItemRecord | undefined {
    const id = this.views.barcodes.get(code.trim());
    return id === undefined ? undefined : this.views.items.get(id);
  }
  customer(id: string): CustomerRecord | undefined {
    return this.views.customers.get(id);
  }
  balanceRecord(customer: string): StoredValue | undefined {
    return this.views.balances.get(customer);
  }
  voucherRecord(code: string): StoredValue | undefined {
    return this.views.vouchers.get(code);
  }
  settings(): StoreSettings | undefined {
    return this.views.settings.get('store');
  }
  async sale(id: string): Promise<SaleRecord | undefined> {
    await this.views.sales.preload([id]);
    return this.views.sales.get(id);
  }
}

async function* iterate(sublevel: Sublevel): AsyncGenerator<[string, Uint8Array]> {
  const it = sublevel.iterator(BIG_READS);
  try {
    for (;;) {
      const entries = await it.nextv(1000);
      if (entries.length === 0) return;
      yield* entries;
    }
  } finally {
    await it.close();
  }
}

/** Compares two view sets key by key; returns up to `limit` differences. */
export async function diffViews(a: TerminalViews, b: TerminalViews, limit = 50): Promise<Array<{ view: string; key: string; problem: 'missing' | 'extra' | 'different' }>> {
  const out: Array<{ view: string; key: string; problem: 'missing' | 'extra' | 'different' }> = [];
  const bStores = new Map((Object.values(b.views) as Array<ViewStore<unknown>>).map((s) => [s.name, s]));
  for (const sa of Object.values(a.views) as Array<ViewStore<unknown>>) {
    const sb = bStores.get(sa.name)!;
    const left = new Map<string, string>();
    for await (const [k, v] of iterate(sa.sublevel)) left.set(k, Buffer.from(encodeCanonical(decodeTrusted(v))).toString('base64'));
    for await (const [k, v] of iterate(sb.sublevel)) {
      const mine = left.get(k);
      if (mine === undefined) out.push({ view: sa.name, key: k, problem: 'extra' });
      else if (mine !== Buffer.from(encodeCanonical(decodeTrusted(v))).toString('base64')) out.push({ view: sa.name, key: k, problem: 'different' });
      left.delete(k);
      if (out.length >= limit) return out;
    }
    for (const k of left.keys()) {
      out.push({ view: sa.name, key: k, problem: 'missing' });
      if (out.length >= limit) return out;
    }
  }
  return out;
}

function itemDoc(item: ItemRecord): { words: string[]; keys: string[]; sortKey: string } {
  return { words: tokenize(item.name), keys: [compactKey(item.sku)], sortKey: normalizeText(item.name) };
}

function customerDoc(c: CustomerRecord): { words: string[]; keys: string[]; sortKey: string } {
  const keys: string[] = [];
  const words = tokenize(c.name);
  if (c.phone) {
    const digits = c.phone.replace(/\D/g, '');
    // Whole number, and its last 7 and 4 digits (what a cashier is usually told).
    if (digits) keys.push(...new Set([digits, digits.slice(-10), digits.slice(-7), digits.slice(-4)]));
  }
  if (c.email) {
    keys.push(compactKey(c.email));
    words.push(...tokenize(c.email));
  }
  return { words, keys, sortKey: normalizeText(c.name) };
}
