/**
 * Pure reducers: how each upstream event and downstream change changes the
 * terminal's views. They read and write only through the `Views` stores (which
 * stage, so a refused group leaves no trace) and never look at clocks or I/O.
 *
 * Order independence: balances and vouchers are folded so that "all changes,
 * then all events" equals any interleaving the terminal saw live (see
 * docs/design.md). That is what makes a rebuild equal incremental application.
 */
import { TillsyncError } from '../errors.ts';
import type { Change, CustomerRecord, ItemRecord, StoreSettings, TillEvent, Tender } from '../events/event-types.ts';
import type { ViewStore } from './view-store.ts';

/**
 * Stored value (a customer account or a voucher) as the terminal knows it:
 * the cloud's confirmed balance, the highest of this terminal's seqs it includes,
 * and this terminal's own deltas the cloud has not yet included.
 */
export interface StoredValue {
  cloud: number;
  included: number;
  pending: Array<[seq: number, delta: number]>;
}

export function storedValueBalance(v: StoredValue | undefined): number {
  if (!v) return 0;
  let sum = v.cloud;
  for (const [, d] of v.pending) sum += d;
  return sum;
}

/** Sum of this terminal's unconfirmed spending (negative deltas), as a positive number. */
export function unconfirmedSpend(v: StoredValue | undefined): number {
  if (!v) return 0;
  let spent = 0;
  for (const [, d] of v.pending) if (d < 0) spent -= d;
  return spent;
}

export interface SalePayment {
  tender: Tender;
  amount: number;
  customer?: string;
  voucher?: string;
}

export interface SaleRecord {
  seq: number;
  time: number;
  total: number;
  refunded: number;
  voided: boolean;
  customer?: string;
  payments: SalePayment[];
}

export interface Views {
  items: ViewStore<ItemRecord>;
  barcodes: ViewStore<string>;
  customers: ViewStore<CustomerRecord>;
  balances: ViewStore<StoredValue>;
  vouchers: ViewStore<StoredValue>;
  sales: ViewStore<SaleRecord>;
  settings: ViewStore<StoreSettings>;
}

const EMPTY: StoredValue = { cloud: 0, included: 0, pending: [] };

function addDelta(store: ViewStore<StoredValue>, key: string, seq: number, delta: number): void {
  const rec = store.get(key) ?? EMPTY;
  if (seq <= rec.included) return; // the cloud balance already includes it
  // A plain copy: this runs for every stored-value event, and immer's draft costs ~10% of a rebuild.
  store.put(key, { ...rec, pending: [...rec.pending, [seq, delta]] });
}

/**
 * The cloud's `includes` for a terminal never decreases along the feed (it is
 * that terminal's acknowledged high-water seq), which is what makes this fold
 * order-independent.
 */
function setCloudState(store: ViewStore<StoredValue>, key: string, balance: number, included: number): void {
  const rec = store.get(key) ?? EMPTY;
  // A plain copy, as in addDelta: this runs for every balance and voucher state
  // the feed brings (every terminal gets every one), and an immer draft here
  // was ~6% of a terminal's CPU with 50 terminals syncing.
  const pending = rec.pending.some(([s]) => s <= included) ? rec.pending.filter(([s]) => s > included) : rec.pending;
  if (rec.cloud === balance && rec.included === included && pending === rec.pending && store.has(key)) return;
  store.put(key, { cloud: balance, included, pending });
}

function requireSale(views: Views, sale: string): SaleRecord {
  const rec = views.sales.get(sale);
  if (!rec) throw new TillsyncError('SALE_NOT_FOUND', `sale ${sale} is not known to this terminal`, { details: { sale } });
  return rec;
}

export function applyEvent(views: Views, event: TillEvent): void {
  switch (event.type) {
    case 'sale.completed': {
      const b = event.body;
      views.sales.put(event.id, {
        seq: event.seq, time: event.time, total: b.total, refunded: 0, voided: false,
        ...(b.customer !== undefined ? { customer: b.customer } : {}),
        payments: [],
      });
      return;
    }
    case 'payment.taken': {
      const b = event.body;
      const sale = requireSale(views, b.sale);
      const payment: SalePayment = {
        tender: b.tender, amount: b.amount,
        ...(b.tender === 'account' ? { customer: b.customer } : {}),
        ...(b.tender === 'voucher' ? { voucher: b.voucher } : {}),
      };
      views.sales.put(b.sale, { ...sale, payments: [...sale.payments, payment] });
      return;
    }
    case 'sale.refunded': {
      const sale = requireSale(views, event.body.sale);
      views.sales.put(event.body.sale, { ...sale, refunded: sale.refunded + event.body.amount });
      return;
    }
    case 'sale.voided': {
      const sale = requireSale(views, event.body.sale);
      views.sales.put(event.body.sale, { ...sale, voided: true });
      return;
    }
    case 'balance.delta':
      addDelta(views.balances, event.body.customer, event.seq, event.body.delta);
      return;
    case 'voucher.issued':
      addDelta(views.vouchers, event.body.voucher, event.seq, event.body.amount);
      return;
    case 'voucher.redeemed':
      addDelta(views.vouchers, event.body.voucher, event.seq, -event.body.amount);
      return;
  }
}

export function applyChange(views: Views, change: Change, terminal: string): void {
  switch (change.type) {
    case 'item.upserted': {
      const item = change.body;
      const old = views.items.get(item.id);
      if (old) for (const code of old.barcodes) if (views.barcodes.get(code) === item.id) views.barcodes.del(code);
      views.items.put(item.id, item);
      for (const code of item.barcodes) views.barcodes.put(code, item.id);
      return;
    }
    case 'item.removed': {
      const old = views.items.get(change.body.id);
      if (!old) return;
      for (const code of old.barcodes) if (views.barcodes.get(code) === old.id) views.barcodes.del(code);
      views.items.del(old.id);
      return;
    }
    case 'customer.upserted':
      views.customers.put(change.body.id, change.body);
      return;
    case 'customer.removed':
      views.customers.del(change.body.id);
      return;
    case 'balance.state':
      setCloudState(views.balances, change.body.customer, change.body.balance, ownSeq(change.body.includes, terminal));
      return;
    case 'voucher.state':
      setCloudState(views.vouchers, change.body.voucher, change.body.balance, ownSeq(change.body.includes, terminal));
      return;
    case 'store.settings':
      views.settings.put('store', change.body);
      return;
  }
}

/** Keys of disk-resident views that staging these events will read. */
export function salesReferenced(events: ReadonlyArray<{ type: string; body: unknown; id?: string | undefined }>): string[] {
  const out: string[] = [];
  // A sale completed earlier in the same list is staged, not on disk: no lookup.
  const created = new Set<string>();
  for (const e of events) {
    if (e.type === 'sale.completed' && e.id !== undefined) created.add(e.id);
    else if (e.type === 'payment.taken' || e.type === 'sale.refunded' || e.type === 'sale.voided') {
      const sale = (e.body as { sale?: unknown }).sale;
      if (typeof sale === 'string' && !created.has(sale)) out.push(sale);
    }
  }
  return out;
}

/** A terminal's entry of `includes`, own keys only (a terminal may be named `valueOf`). */
function ownSeq(includes: Readonly<Record<string, number>>, terminal: string): number {
  return Object.hasOwn(includes, terminal) ? includes[terminal]! : 0;
}
