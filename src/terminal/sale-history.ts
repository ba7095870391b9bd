/**
 * The till's recent sales (issue 22, item 5): the newest sales this terminal
 * made, read from its own log, newest first, with what a receipt needs (lines,
 * totals, payments) and what happened since (refunded, voided, uploaded).
 *
 * The log is read backwards in windows, so a page costs the events of its own
 * sales, whatever the log's length. Payments are appended in the same group as
 * their sale, after it, so reading backwards meets every payment before its
 * sale. Refund and void state comes from the sales view (it folds them in).
 * Sales older than the log's base were cleaned up (the cloud keeps them): the
 * page says so instead of ending silently.
 *
 * Card payments show the brand and last 4 digits only: the processor token
 * and authorisation code stay in the log.
 */
import type { EventLog } from '../events/event-log.ts';
import type { PaymentBody, SaleLine } from '../events/event-types.ts';
import type { SaleRecord } from '../projections/reducers.ts';

export interface SalePaymentSummary {
  tender: PaymentBody['tender'];
  amount: number;
  tendered?: number;
  change?: number;
  brand?: string;
  last4?: string;
  customer?: string;
  voucher?: string;
}

export interface SaleSummary {
  id: string;
  seq: number;
  time: number;
  currency: string;
  customer?: string;
  lines: SaleLine[];
  subtotal: number;
  discount: number;
  tax: number;
  total: number;
  payments: SalePaymentSummary[];
  refunded: number;
  voided: boolean;
  /** The cloud acknowledged it. */
  uploaded: boolean;
}

export interface SaleHistoryPage {
  sales: SaleSummary[];
  /** Pass as `before` for the next (older) page; null when the kept log is exhausted. */
  next: number | null;
  /** Events up to this seq were cleaned up from this terminal (0 = none): older sales are only on the cloud. */
  cleanedUpTo: number;
}

export interface SaleHistoryDeps {
  log: EventLog;
  sale(id: string): Promise<SaleRecord | undefined>;
  ackSeq(): Promise<number>;
}

export const MAX_HISTORY_PAGE = 100;
const WINDOW = 256;

function paymentSummary(p: PaymentBody): SalePaymentSummary {
  switch (p.tender) {
    case 'cash': return { tender: 'cash', amount: p.amount, tendered: p.tendered, change: p.change };
    case 'card': return { tender: 'card', amount: p.amount, brand: p.card.brand, last4: p.card.last4 };
    case 'account': return { tender: 'account', amount: p.amount, customer: p.customer };
    case 'voucher': return { tender: 'voucher', amount: p.amount, voucher: p.voucher };
  }
}

/** Up to `limit` sales with seq < `before` (default: all), newest first. */
export async function recentSales(deps: SaleHistoryDeps, opts: { limit: number; before?: number }): Promise<SaleHistoryPage> {
  const { log } = deps;
  const limit = Math.min(Math.max(1, opts.limit), MAX_HISTORY_PAGE);
  const base = log.base.seq;
  const found: Array<Omit<SaleSummary, 'refunded' | 'voided' | 'uploaded'>> = [];
  const payments = new Map<string, SalePaymentSummary[]>();
  let to = Math.min(log.head.seq, (opts.before ?? Number.MAX_SAFE_INTEGER) - 1);
  let next: number | null = null;
  while (to > base && found.length < limit) {
    const from = Math.max(base + 1, to - WINDOW + 1);
    const window = [];
    for await (const page of log.readEvents(from, { to, pageSize: WINDOW })) window.push(...page);
    for (let i = window.length - 1; i >= 0; i--) {
      const e = window[i]!;
      if (e.type === 'payment.taken') {
        const list = payments.get(e.body.sale) ?? [];
        list.unshift(paymentSummary(e.body));
        payments.set(e.body.sale, list);
      } else if (e.type === 'sale.completed') {
        const b = e.body;
        found.push({
          id: e.id, seq: e.seq, time: e.time, currency: b.currency,
          ...(b.customer !== undefined ? { customer: b.customer } : {}),
          lines: b.lines, subtotal: b.subtotal, discount: b.discount, tax: b.tax, total: b.total,
          payments: payments.get(e.id) ?? [],
        });
        payments.delete(e.id);
        if (found.length === limit) {
          next = e.seq > base + 1 ? e.seq : null;
          break;
        }
      }
    }
    to = from - 1;
  }
  const ack = await deps.ackSeq();
  const sales: SaleSummary[] = [];
  for (const s of found) {
    const state = await deps.sale(s.id);
    sales.push({ ...s, refunded: state?.refunded ?? 0, voided: state?.voided ?? false, uploaded: s.seq <= ack });
  }
  return { sales, next, cleanedUpTo: base };
}
