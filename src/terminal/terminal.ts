/**
 * The terminal as an in-process library: the POS functions of F3 over the local
 * event log and views. Works the same online and offline: nothing here touches
 * the network.
 *
 * Every write is one atomic, durable append group through the EventLog: the
 * promise resolves only after fsync. Business rules (stored value never below
 * zero locally, the store's offline policy, refund limits) are checked inside
 * the log's single writer against the staged state, so two concurrent sales
 * cannot both spend the same credit.
 */
import { monotonicFactory } from 'ulid';
import { TillsyncError } from '../errors.ts';
import { assertNoCardData } from '../events/card-data.ts';
import { EventLog, type Clock, type LoggedEvent } from '../events/event-log.ts';
import type { z } from 'zod';
import type { CustomerRecord, EventDraft, ItemRecord, SaleLine, StoreSettings } from '../events/event-types.ts';
import { parseWith } from '../events/validate.ts';
import { openLevel } from '../events/level-util.ts';
import { storedValueBalance, unconfirmedSpend, type SaleRecord, type StoredValue } from '../projections/reducers.ts';
import { TerminalViews } from '../projections/terminal-views.ts';
import {
  adjustInput, priceLine, quoteInput, refundInput, saleInput, saleLineInput, voidInput, voucherAmountInput,
  type RefundInput, type SaleInput,
} from './sale-input.ts';

export const DEFAULT_SETTINGS: StoreSettings = { currency: 'USD', offlineStoredValue: 'cap', offlineCap: 5_000 };

export interface TerminalOptions {
  store: string;
  terminal: string;
  clock?: Clock;
  /** True while the terminal cannot confirm stored value with the cloud (offline or local mode). */
  isOffline?: () => boolean;
  verifyOnOpen?: number;
}

export interface SaleReceipt {
  sale: string;
  seq: number;
  total: number;
  change: number;
  events: number;
}

export interface SaleQuote {
  lines: SaleLine[];
  subtotal: number;
  discount: number;
  tax: number;
  total: number;
}

export interface CustomerAccount {
  customer: CustomerRecord;
  /** What the terminal knows: the cloud's balance plus this terminal's unconfirmed deltas. */
  balance: number;
  confirmed: number;
  unconfirmed: number;
}

export class Terminal {
  readonly log: EventLog;
  readonly views: TerminalViews;
  private readonly ulid = monotonicFactory();
  private readonly clock: Clock;
  private isOffline: () => boolean;

  private constructor(log: EventLog, views: TerminalViews, opts: TerminalOptions) {
    this.log = log;
    this.views = views;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.isOffline = opts.isOffline ?? (() => true);
  }

  static async open(dir: string, opts: TerminalOptions): Promise<Terminal> {
    const db = await openLevel(dir);
    try {
      const log = await EventLog.open(db, {
        store: opts.store, terminal: opts.terminal,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.verifyOnOpen !== undefined ? { verifyOnOpen: opts.verifyOnOpen } : {}),
      });
      const views = new TerminalViews(db, opts.terminal);
      log.setParticipant(views);
      await views.load();
      return new Terminal(log, views, opts);
    } catch (err) {
      await db.close();
      // A damaged table met while loading (classic-level reads without checksum checks, so
      // only damage that breaks parsing surfaces here): the documented code, not LevelDB's.
      if ((err as { code?: string }).code === 'LEVEL_CORRUPTION') {
        throw new TillsyncError('LOG_CORRUPTED', `data folder ${dir} is corrupted: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }

  get store(): string {
    return this.log.store;
  }
  get terminal(): string {
    return this.log.terminal;
  }

  /** The replication layer tells the terminal whether it can reach the cloud. */
  setOfflineProbe(fn: () => boolean): void {
    this.isOffline = fn;
  }

  settings(): StoreSettings {
    return this.views.settings() ?? DEFAULT_SETTINGS;
  }

  // ------------------------------------------------------------------ lookups

  searchItems(query: string, limit = 20): ItemRecord[] {
    return this.views.itemIndex.search(query, clampLimit(limit)).map((h) => this.views.item(h.id)!);
  }

  /** Barcode → item, exact. */
  scan(barcode: string): ItemRecord {
    const item = this.views.itemByBarcode(barcode);
    if (!item) throw new TillsyncError('ITEM_NOT_FOUND', 'no item with this barcode'); // never echo a scan: it may be a card
    return item;
  }

  item(id: string): ItemRecord | undefined {
    return this.views.item(id);
  }

  searchCustomers(query: string, limit = 20): CustomerRecord[] {
    // A phone number typed with separators is one token of digits.
    const q = /^[\d\s()+.-]{4,}$/.test(query) ? query.replace(/\D/g, '') : query;
    return this.views.customerIndex.search(q, clampLimit(limit)).map((h) => this.views.customer(h.id)!);
  }

  customerAccount(id: string): CustomerAccount {
    const customer = this.views.customer(id);
    if (!customer) throw new TillsyncError('CUSTOMER_NOT_FOUND', `customer ${id} is not known to this terminal`);
    const rec = this.views.balanceRecord(id);
    const balance = storedValueBalance(rec);
    return { customer, balance, confirmed: rec?.cloud ?? 0, unconfirmed: balance - (rec?.cloud ?? 0) };
  }

  voucherBalance(code: string): { voucher: string; balance: number; confirmed: number } {
    const rec = this.views.voucherRecord(code);
    if (!rec) throw new TillsyncError('VOUCHER_NOT_FOUND', `voucher ${code} is not known to this terminal`);
    return { voucher: code, balance: storedValueBalance(rec), confirmed: rec.cloud };
  }

  sale(id: string): Promise<SaleRecord | undefined> {
    return this.views.sale(id);
  }

  // ------------------------------------------------------------------ writes

  /**
   * Completes a sale and its payments as ONE atomic durable append:
   * sale.completed, payment.taken per payment, and balance.delta /
   * voucher.redeemed for stored-value tenders. Payments must cover the total
   * exactly; only cash may exceed it (change is returned).
   */
  /** Prices lines from the local catalog exactly as completeSale will, without appending anything. */
  quote(raw: { lines: unknown }): SaleQuote {
    const input = parseWith(quoteInput, raw, '');
    return this.priceLines(input.lines);
  }

  private priceLines(inputs: ReadonlyArray<z.infer<typeof saleLineInput>>): SaleQuote {
    const lines = inputs.map((l) => {
      const item = this.views.item(l.item);
      if (!item) throw new TillsyncError('ITEM_NOT_FOUND', `item ${l.item} is not in the local catalog`);
      const line = priceLine(item, l);
      if (line.discount > line.qty * line.unitPrice) throw new TillsyncError('SALE_TOTAL_MISMATCH', `line ${l.item}: discount exceeds the line amount`);
      return line;
    });
    const subtotal = lines.reduce((s, l) => s + l.qty * l.unitPrice, 0);
    const discount = lines.reduce((s, l) => s + l.discount, 0);
    const tax = lines.reduce((s, l) => s + l.tax, 0);
    return { lines, subtotal, discount, tax, total: subtotal - discount + tax };
  }

  async completeSale(raw: SaleInput): Promise<SaleReceipt> {
    assertNoCardData(raw);
    const input = parseWith(saleInput, raw, '');
    if (input.customer !== undefined && !this.views.customer(input.customer)) {
      throw new TillsyncError('CUSTOMER_NOT_FOUND', `customer ${input.customer} is not known to this terminal`);
    }
    const { lines, subtotal, discount, tax, total } = this.priceLines(input.lines);

    const saleId = this.ulid(this.clock.now());
    const cash = input.payments.filter((p) => p.tender === 'cash');
    if (cash.length > 1) throw new TillsyncError('PAYMENT_MISMATCH', 'at most one cash payment per sale');
    const nonCash = input.payments.reduce((s, p) => s + (p.tender === 'cash' ? 0 : p.amount), 0);
    const remaining = total - nonCash;
    let change = 0;
    const drafts: EventDraft[] = [{
      type: 'sale.completed', id: saleId,
      body: {
        currency: this.settings().currency,
        ...(input.customer !== undefined ? { customer: input.customer } : {}),
        lines, subtotal, discount, tax, total,
      },
    }];
    const spend: Array<{ kind: 'account' | 'voucher'; key: string; amount: number }> = [];
    for (const p of input.payments) {
      switch (p.tender) {
        case 'cash': {
          if (remaining <= 0) throw new TillsyncError('PAYMENT_MISMATCH', 'nothing left for cash to pay', { details: { expected: 0, found: p.tendered } });
          if (p.tendered < remaining) throw new TillsyncError('PAYMENT_MISMATCH', 'cash tendered does not cover the rest', { details: { expected: remaining, found: p.tendered } });
          change = p.tendered - remaining;
          drafts.push({ type: 'payment.taken', body: { sale: saleId, tender: 'cash', amount: remaining, tendered: p.tendered, change } });
          break;
        }
        case 'card':
          drafts.push({ type: 'payment.taken', body: { sale: saleId, tender: 'card', amount: p.amount, card: p.card } });
          break;
        case 'account': {
          const customer = p.customer ?? input.customer;
          if (customer === undefined || !this.views.customer(customer)) {
            throw new TillsyncError('CUSTOMER_NOT_FOUND', 'an account payment needs a known customer');
          }
          drafts.push({ type: 'payment.taken', body: { sale: saleId, tender: 'account', amount: p.amount, customer } });
          drafts.push({ type: 'balance.delta', body: { customer, delta: -p.amount, reason: 'sale', sale: saleId } });
          spend.push({ kind: 'account', key: customer, amount: p.amount });
          break;
        }
        case 'voucher': {
          if (!this.views.voucherRecord(p.voucher)) throw new TillsyncError('VOUCHER_NOT_FOUND', `voucher ${p.voucher} is not known to this terminal`);
          drafts.push({ type: 'payment.taken', body: { sale: saleId, tender: 'voucher', amount: p.amount, voucher: p.voucher } });
          drafts.push({ type: 'voucher.redeemed', body: { voucher: p.voucher, amount: p.amount, sale: saleId } });
          spend.push({ kind: 'voucher', key: p.voucher, amount: p.amount });
          break;
        }
      }
    }
    if (cash.length === 0 && nonCash !== total) {
      throw new TillsyncError('PAYMENT_MISMATCH', 'payments must equal the sale total', { details: { expected: total, found: nonCash } });
    }
    if (nonCash > total) {
      throw new TillsyncError('CHANGE_NOT_CASH', 'only cash can give change', { details: { expected: total, found: nonCash } });
    }
    this.checkPolicyUpFront(spend);
    const logged = await this.log.append(drafts, { check: () => this.checkStoredValue(spend) });
    return { sale: saleId, seq: logged[0]!.seq, total, change, events: logged.length };
  }

  /** Refunds part or all of a sale; stored-value refunds credit the account or voucher back. */
  async refund(raw: RefundInput): Promise<LoggedEvent[]> {
    const input = parseWith(refundInput, raw, '');
    const sale = await this.views.sale(input.sale);
    if (!sale) throw new TillsyncError('SALE_NOT_FOUND', `sale ${input.sale} is not known to this terminal`);
    const drafts: EventDraft[] = [{
      type: 'sale.refunded',
      body: {
        sale: input.sale, amount: input.amount, tender: input.tender, reason: input.reason,
        ...(input.customer !== undefined ? { customer: input.customer } : {}),
        ...(input.voucher !== undefined ? { voucher: input.voucher } : {}),
      },
    }];
    if (input.tender === 'account') {
      const customer = input.customer ?? sale.customer ?? sale.payments.find((p) => p.customer)?.customer;
      if (customer === undefined || !this.views.customer(customer)) throw new TillsyncError('CUSTOMER_NOT_FOUND', 'a refund to account needs a known customer');
      drafts.push({ type: 'balance.delta', body: { customer, delta: input.amount, reason: 'refund', sale: input.sale } });
    } else if (input.tender === 'voucher') {
      const voucher = input.voucher ?? sale.payments.find((p) => p.voucher)?.voucher;
      if (voucher === undefined) throw new TillsyncError('VOUCHER_NOT_FOUND', 'a refund to voucher needs a voucher code');
      drafts.push({ type: 'voucher.issued', body: { voucher, amount: input.amount, reason: 'refund', sale: input.sale } });
    }
    return this.log.append(drafts, {
      check: () => {
        const now = this.views.views.sales.get(input.sale)!;
        if (now.voided) throw new TillsyncError('SALE_ALREADY_VOIDED', `sale ${input.sale} is voided`);
        if (now.refunded > now.total) {
          throw new TillsyncError('REFUND_EXCEEDS_SALE', 'refund exceeds what is left of the sale', {
            details: { expected: now.total - (now.refunded - input.amount), found: input.amount },
          });
        }
      },
    });
  }

  /** Voids a whole sale; stored value spent in it is given back. */
  async voidSale(raw: { sale: string; reason: string }): Promise<LoggedEvent[]> {
    const input = parseWith(voidInput, raw, '');
    const sale = await this.views.sale(input.sale);
    if (!sale) throw new TillsyncError('SALE_NOT_FOUND', `sale ${input.sale} is not known to this terminal`);
    const drafts: EventDraft[] = [{ type: 'sale.voided', body: { sale: input.sale, reason: input.reason } }];
    for (const p of sale.payments) {
      if (p.tender === 'account' && p.customer !== undefined) {
        drafts.push({ type: 'balance.delta', body: { customer: p.customer, delta: p.amount, reason: 'void', sale: input.sale } });
      } else if (p.tender === 'voucher' && p.voucher !== undefined) {
        drafts.push({ type: 'voucher.issued', body: { voucher: p.voucher, amount: p.amount, reason: 'void', sale: input.sale } });
      }
    }
    return this.log.append(drafts, {
      before: () => {
        const before = this.views.views.sales.get(input.sale)!;
        if (before.voided) throw new TillsyncError('SALE_ALREADY_VOIDED', `sale ${input.sale} is already voided`);
        if (before.refunded > 0) throw new TillsyncError('SALE_ALREADY_REFUNDED', `sale ${input.sale} has refunds`);
      },
    });
  }

  /** A manual change to a customer's account (positive adds credit). */
  async adjustBalance(raw: { customer: string; delta: number; note?: string }): Promise<LoggedEvent[]> {
    const input = parseWith(adjustInput, raw, '');
    if (!this.views.customer(input.customer)) throw new TillsyncError('CUSTOMER_NOT_FOUND', `customer ${input.customer} is not known to this terminal`);
    const spend = input.delta < 0 ? [{ kind: 'account' as const, key: input.customer, amount: -input.delta }] : [];
    this.checkPolicyUpFront(spend);
    return this.log.append(
      [{ type: 'balance.delta', body: { customer: input.customer, delta: input.delta, reason: 'adjustment', ...(input.note !== undefined ? { note: input.note } : {}) } }],
      { check: () => this.checkStoredValue(spend) },
    );
  }

  /** Spends value from a voucher outside a sale (e.g. a cash-out the store allows). */
  async redeemVoucher(raw: { voucher: string; amount: number }): Promise<LoggedEvent[]> {
    const input = parseWith(voucherAmountInput, raw, '');
    if (!this.views.voucherRecord(input.voucher)) throw new TillsyncError('VOUCHER_NOT_FOUND', `voucher ${input.voucher} is not known to this terminal`);
    const spend = [{ kind: 'voucher' as const, key: input.voucher, amount: input.amount }];
    this.checkPolicyUpFront(spend);
    return this.log.append([{ type: 'voucher.redeemed', body: { voucher: input.voucher, amount: input.amount } }], {
      check: () => this.checkStoredValue(spend),
    });
  }

  /** Issues (or tops up) a voucher. */
  async issueVoucher(raw: { voucher: string; amount: number }): Promise<LoggedEvent[]> {
    const input = parseWith(voucherAmountInput, raw, '');
    return this.log.append([{ type: 'voucher.issued', body: { voucher: input.voucher, amount: input.amount, reason: 'sale' } }]);
  }

  private checkPolicyUpFront(spend: ReadonlyArray<{ kind: 'account' | 'voucher' }>): void {
    if (spend.length === 0 || !this.isOffline()) return;
    if (this.settings().offlineStoredValue === 'forbid') {
      throw new TillsyncError('OFFLINE_STORED_VALUE_FORBIDDEN', 'store policy forbids account credit and vouchers offline');
    }
  }

  /** Runs inside the writer, after the group is staged: the state seen here includes it. */
  private checkStoredValue(spend: ReadonlyArray<{ kind: 'account' | 'voucher'; key: string; amount: number }>): void {
    const policy = this.settings();
    const offline = this.isOffline();
    for (const s of spend) {
      const rec: StoredValue | undefined = s.kind === 'account' ? this.views.balanceRecord(s.key) : this.views.voucherRecord(s.key);
      const after = storedValueBalance(rec);
      if (after < 0) {
        throw new TillsyncError(s.kind === 'account' ? 'INSUFFICIENT_BALANCE' : 'INSUFFICIENT_VOUCHER', `${s.kind} ${s.key} does not hold enough`, {
          details: { expected: s.amount, found: after + s.amount },
        });
      }
      if (offline && policy.offlineStoredValue === 'cap' && unconfirmedSpend(rec) > policy.offlineCap) {
        throw new TillsyncError('OFFLINE_STORED_VALUE_CAP', `over the offline cap of ${policy.offlineCap} cents for ${s.kind} ${s.key}`, {
          details: { expected: policy.offlineCap, found: unconfirmedSpend(rec) },
        });
      }
    }
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}

function clampLimit(limit: number): number {
  return Number.isInteger(limit) && limit > 0 ? Math.min(limit, 200) : 20;
}
