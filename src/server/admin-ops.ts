/**
 * Back-office operations behind the admin API. Each mutation runs under the
 * store's lock and is one atomic commit together with the feed changes it causes.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { decodeTrusted } from '../events/codec.ts';
import { entityId, positiveCents, storeSettingsBody, voucherCode, type StoreSettings } from '../events/event-types.ts';
import { parseWith, reservedAsKey } from '../events/validate.ts';
import { hashToken, newToken } from './auth.ts';
import type { CustomerImportRow } from './import-rows.ts';
import type { ExceptionRecord, QuarantineEntry, StoreRecord, TerminalRecord } from './storage.ts';
import type { StoreLocks } from './store-locks.ts';
import { StoreTx, type ServerContext } from './store-tx.ts';
import { releaseQuarantined, type ReleasedEvent } from './quarantine-release.ts';
import { ValueLedger } from './value-ledger.ts';
import type { CustomerRecord, ItemRecord } from '../events/event-types.ts';

/** Store and terminal ids: entity ids that can also be keys (see `reservedAsKey`). */
/** A store or terminal id the back office creates: an id that is not reserved as an object key. */
export const ownerId = entityId.refine((id) => !reservedAsKey(id), { message: 'this id is reserved: it cannot be used as a key' });

export const createStoreRequest = z.strictObject({
  id: ownerId,
  name: z.string().min(1).max(200),
  currency: storeSettingsBody.shape.currency,
  offlineStoredValue: storeSettingsBody.shape.offlineStoredValue.optional(),
  offlineCap: storeSettingsBody.shape.offlineCap.optional(),
  cardOfflineWindowHours: storeSettingsBody.shape.cardOfflineWindowHours,
  /** A store for load tests only: marked at creation, never afterwards (a store with real sales cannot become one). */
  testStore: z.literal(true).optional(),
});
export const updateSettingsRequest = storeSettingsBody.partial().strict();
export const createTerminalRequest = z.strictObject({ id: ownerId, name: z.string().min(1).max(200).optional() });
export const issueVoucherRequest = z.strictObject({ code: voucherCode, amount: positiveCents });
export const resolveRequest = z.strictObject({ note: z.string().max(1000).optional() });

export class AdminOps {
  constructor(
    private readonly ctx: ServerContext,
    private readonly locks: StoreLocks,
  ) {}

  private async requireStore(store: string): Promise<StoreRecord> {
    const rec = await this.ctx.storage.getStore(store);
    if (!rec) throw new TillsyncError('STORE_NOT_FOUND', `store ${store} does not exist`);
    return rec;
  }

  private withStore<T>(store: string, task: (tx: StoreTx, rec: StoreRecord) => Promise<T>): Promise<T> {
    return this.locks.run(store, async () => {
      const rec = await this.requireStore(store);
      return task(await StoreTx.begin(this.ctx, store), rec);
    });
  }

  listStores(): Promise<StoreRecord[]> {
    return this.ctx.storage.listStores();
  }
  getStore(store: string): Promise<StoreRecord> {
    return this.requireStore(store);
  }

  /** Creates a store and publishes its settings as the first feed change. */
  createStore(body: unknown): Promise<StoreRecord> {
    const req = parseWith(createStoreRequest, body, 'body');
    const settings: StoreSettings = parseWith(storeSettingsBody, {
      currency: req.currency, offlineStoredValue: req.offlineStoredValue ?? 'allow', offlineCap: req.offlineCap ?? 0,
      ...(req.cardOfflineWindowHours !== undefined ? { cardOfflineWindowHours: req.cardOfflineWindowHours } : {}),
    }, 'body');
    return this.locks.run(req.id, async () => {
      if (await this.ctx.storage.getStore(req.id)) throw new TillsyncError('ALREADY_EXISTS', `store ${req.id} exists`, { details: { id: req.id } });
      const tx = await StoreTx.begin(this.ctx, req.id);
      const rec: StoreRecord = { id: req.id, name: req.name, settings, createdAt: tx.now, ...(req.testStore ? { testStore: true as const } : {}) };
      tx.put({ kind: 'store', store: rec });
      tx.addChange('store.settings', settings);
      await tx.commit();
      return rec;
    });
  }

  updateSettings(store: string, body: unknown): Promise<StoreRecord> {
    const patch = parseWith(updateSettingsRequest, body, 'body');
    return this.withStore(store, async (tx, rec) => {
      const settings = parseWith(storeSettingsBody, { ...rec.settings, ...patch }, 'body');
      if (isDeepStrictEqual(settings, rec.settings)) return rec;
      const next = { ...rec, settings };
      tx.put({ kind: 'store', store: next });
      tx.addChange('store.settings', settings);
      await tx.commit();
      return next;
    });
  }

  /** Each terminal with its acknowledged high-water mark (`ackSeq`, `ackHash`: what `audit --cloud` checks the stored tail against). */
  listTerminals(store: string): Promise<Array<Omit<TerminalRecord, 'tokenHash'> & { ackSeq: number; ackHash: string; quarantined: number }>> {
    return this.locks.run(store, async () => {
      await this.requireStore(store);
      const terms = await this.ctx.storage.listTerminals(store);
      return Promise.all(terms.map(async ({ tokenHash: _h, ...t }) => {
        const hw = await this.ctx.storage.getHighWater(store, t.id);
        return { ...t, ackSeq: hw.seq, ackHash: hw.hash, quarantined: hw.quarantined };
      }));
    });
  }

  /** Creates a terminal and its credential; the token is returned once and never stored. */
  createTerminal(store: string, body: unknown): Promise<{ store: string; terminal: string; token: string }> {
    const req = parseWith(createTerminalRequest, body, 'body');
    return this.withStore(store, async (tx) => {
      if (await this.ctx.storage.getTerminal(store, req.id)) {
        throw new TillsyncError('ALREADY_EXISTS', `terminal ${req.id} exists in store ${store}`, { details: { id: req.id } });
      }
      const token = newToken();
      const tokenHash = hashToken(token);
      tx.put({ kind: 'terminal', terminal: { store, id: req.id, name: req.name ?? req.id, createdAt: tx.now, tokenHash, revoked: false } });
      tx.put({ kind: 'credential', credential: { tokenHash, store, terminal: req.id, revoked: false } });
      await tx.commit();
      return { store, terminal: req.id, token };
    });
  }

  /** Re-enrolment: revokes the terminal's current credential and issues a new one; its events and seqs stay. */
  reissueToken(store: string, terminal: string): Promise<{ store: string; terminal: string; token: string }> {
    return this.withStore(store, async (tx) => {
      const t = await this.requireTerminal(store, terminal);
      const token = newToken();
      const tokenHash = hashToken(token);
      tx.put({ kind: 'credential', credential: { tokenHash: t.tokenHash, store, terminal, revoked: true } });
      tx.put({ kind: 'terminal', terminal: { ...t, tokenHash, revoked: false } });
      tx.put({ kind: 'credential', credential: { tokenHash, store, terminal, revoked: false } });
      await tx.commit();
      this.ctx.notify.credentialRevoked(store, terminal);
      return { store, terminal, token };
    });
  }

  revokeTerminal(store: string, terminal: string): Promise<{ store: string; terminal: string; revoked: true }> {
    return this.withStore(store, async (tx) => {
      const t = await this.requireTerminal(store, terminal);
      tx.put({ kind: 'terminal', terminal: { ...t, revoked: true } });
      tx.put({ kind: 'credential', credential: { tokenHash: t.tokenHash, store, terminal, revoked: true } });
      await tx.commit();
      this.ctx.notify.credentialRevoked(store, terminal);
      return { store, terminal, revoked: true };
    });
  }

  private async requireTerminal(store: string, terminal: string): Promise<TerminalRecord> {
    const t = await this.ctx.storage.getTerminal(store, terminal);
    if (!t) throw new TillsyncError('TERMINAL_NOT_FOUND', `terminal ${terminal} does not exist in store ${store}`);
    return t;
  }

  /** Upserts items; unchanged items publish nothing. */
  importItems(store: string, items: ItemRecord[]): Promise<{ imported: number; changed: number; feedHead: number }> {
    return this.withStore(store, async (tx) => {
      const existing = await this.ctx.storage.getItems(store, items.map((i) => i.id));
      let changed = 0;
      items.forEach((item, i) => {
        if (isDeepStrictEqual(existing[i], item)) return;
        changed++;
        tx.put({ kind: 'item', store, item });
        tx.addChange('item.upserted', item);
      });
      await tx.commit();
      return { imported: items.length, changed, feedHead: tx.counters.feedHead };
    });
  }

  /**
   * Upserts customers. An opening balance is a back-office delta applied only
   * when the customer is created, so importing the same file twice never
   * doubles a balance; for existing customers it is counted as skipped.
   */
  importCustomers(store: string, rows: CustomerImportRow[]): Promise<{
    imported: number; changed: number; openingBalancesApplied: number; openingBalancesSkipped: number; feedHead: number;
  }> {
    return this.withStore(store, async (tx) => {
      const existing = await this.ctx.storage.getCustomers(store, rows.map((r) => r.customer.id));
      const ledger = new ValueLedger(tx);
      await ledger.load('balance', rows.filter((r, i) => r.openingBalance !== undefined && !existing[i]).map((r) => r.customer.id));
      let changed = 0;
      let applied = 0;
      let skipped = 0;
      rows.forEach(({ customer, openingBalance }, i) => {
        const before: CustomerRecord | undefined = existing[i];
        if (!isDeepStrictEqual(before, customer)) {
          changed++;
          tx.put({ kind: 'customer', store, customer });
          tx.addChange('customer.upserted', customer);
        }
        if (openingBalance === undefined || openingBalance === 0) return;
        if (before) skipped++;
        else {
          ledger.apply('balance', customer.id, openingBalance);
          applied++;
        }
      });
      ledger.finish();
      await tx.commit();
      return { imported: rows.length, changed, openingBalancesApplied: applied, openingBalancesSkipped: skipped, feedHead: tx.counters.feedHead };
    });
  }

  removeItem(store: string, id: string): Promise<{ removed: string }> {
    return this.withStore(store, async (tx) => {
      const [item] = await this.ctx.storage.getItems(store, [id]);
      if (!item) throw new TillsyncError('ITEM_NOT_FOUND', `item ${id} does not exist`);
      tx.put({ kind: 'itemRemoved', store, id });
      tx.addChange('item.removed', { id });
      await tx.commit();
      return { removed: id };
    });
  }

  /**
   * Removes a customer from the catalog and the terminals. Its ledger (balance
   * view) is kept, made empty if it had none: terminals offline meanwhile may
   * still have spent or credited it, and such deltas are money that moved
   * (applied on upload, with an exception: value-ledger.ts).
   */
  removeCustomer(store: string, id: string): Promise<{ removed: string }> {
    return this.withStore(store, async (tx) => {
      const [[c], [view]] = await Promise.all([this.ctx.storage.getCustomers(store, [id]), this.ctx.storage.getBalances(store, [id])]);
      if (!c) throw new TillsyncError('CUSTOMER_NOT_FOUND', `customer ${id} does not exist`);
      if (!view) tx.put({ kind: 'balance', store, customer: id, view: { balance: 0, includes: {}, recentDebits: [] } });
      tx.put({ kind: 'customerRemoved', store, id });
      tx.addChange('customer.removed', { id });
      await tx.commit();
      return { removed: id };
    });
  }

  /** Issues a new voucher (a back-office delta). An existing code is refused, so a retried request never doubles it. */
  issueVoucher(store: string, body: unknown): Promise<{ voucher: string; balance: number }> {
    const req = parseWith(issueVoucherRequest, body, 'body');
    return this.withStore(store, async (tx) => {
      const ledger = new ValueLedger(tx);
      await ledger.load('voucher', [req.code]);
      if (ledger.exists('voucher', req.code)) throw new TillsyncError('ALREADY_EXISTS', `voucher ${req.code} exists`, { details: { id: req.code } });
      ledger.apply('voucher', req.code, req.amount);
      ledger.finish();
      await tx.commit();
      return { voucher: req.code, balance: ledger.balance('voucher', req.code) };
    });
  }

  async getBalance(store: string, kind: 'balance' | 'voucher', key: string): Promise<{ balance: number; includes: Record<string, number> }> {
    await this.requireStore(store);
    const [v] = kind === 'balance' ? await this.ctx.storage.getBalances(store, [key]) : await this.ctx.storage.getVouchers(store, [key]);
    if (!v) throw new TillsyncError(kind === 'balance' ? 'CUSTOMER_NOT_FOUND' : 'VOUCHER_NOT_FOUND', `${kind} ${key} not found`);
    return { balance: v.balance, includes: v.includes };
  }

  async listExceptions(store: string, status: 'open' | 'resolved' | 'all'): Promise<ExceptionRecord[]> {
    await this.requireStore(store);
    return this.ctx.storage.listExceptions(store, status);
  }

  resolveException(store: string, id: string, body: unknown): Promise<ExceptionRecord> {
    const req = parseWith(resolveRequest, body ?? {}, 'body');
    return this.withStore(store, async (tx) => {
      const e = await this.ctx.storage.getException(store, id);
      if (!e) throw new TillsyncError('EXCEPTION_NOT_FOUND', `exception ${id} not found in store ${store}`);
      if (e.status === 'resolved') return e;
      const next: ExceptionRecord = { ...e, status: 'resolved', resolvedAt: tx.now, updatedAt: tx.now, ...(req.note ? { note: req.note } : {}) };
      tx.put({ kind: 'exception', store, exception: next });
      tx.counters.openExceptions = Math.max(0, tx.counters.openExceptions - 1);
      await tx.commit();
      return next;
    });
  }

  async listQuarantine(store: string, limit: number): Promise<QuarantineEntry[]> {
    await this.requireStore(store);
    return this.ctx.storage.listQuarantine(store, limit);
  }

  /** Releases a quarantined event (and the rest of its sale group) after review: quarantine-release.ts. */
  releaseQuarantined(store: string, terminal: string, seq: number): Promise<{ released: ReleasedEvent[] }> {
    return this.withStore(store, async (tx) => {
      await this.requireTerminal(store, terminal);
      return releaseQuarantined(tx, terminal, seq);
    });
  }

  /** A terminal's stored events in seq order, for `tillsync replay --cloud` and audits. */
  async readEvents(store: string, terminal: string, from: number, limit: number): Promise<{
    events: Array<{ seq: number; hash: string; event: unknown; quarantine?: { code: string; message: string } }>;
    next: number | null;
  }> {
    await this.requireStore(store);
    await this.requireTerminal(store, terminal);
    const rows = await this.ctx.storage.readEvents(store, terminal, from, limit);
    const events = rows.map((r) => ({
      seq: r.seq, hash: r.hash, event: decodeTrusted(r.bytes), ...(r.quarantine ? { quarantine: r.quarantine } : {}),
    }));
    const last = rows[rows.length - 1];
    return { events, next: rows.length === limit && last ? last.seq + 1 : null };
  }
}
