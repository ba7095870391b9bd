/**
 * What a POS front end sends to complete a sale, refund, void or adjust a
 * balance, and how a sale's lines are priced from the local catalog.
 * Strict schemas: unknown fields are refused, money is integer cents.
 */
import { z } from 'zod';
import { cardDetails, entityId, nonNegativeCents, positiveCents, ulidString, voucherCode, type ItemRecord, type SaleLine } from '../events/event-types.ts';

export const saleLineInput = z.strictObject({
  item: entityId,
  qty: z.number().int().positive().max(100_000),
  /** Line discount in cents (not per unit). */
  discount: nonNegativeCents.optional(),
  /** Price override in cents per unit (e.g. a manager's price); default: the catalog price. */
  unitPrice: nonNegativeCents.optional(),
});

export const paymentInput = z.discriminatedUnion('tender', [
  /** Cash: what the customer handed over; change is computed. */
  z.strictObject({ tender: z.literal('cash'), tendered: positiveCents }),
  z.strictObject({ tender: z.literal('card'), amount: positiveCents, card: cardDetails }),
  /** Account credit: the sale's customer unless `customer` is given. */
  z.strictObject({ tender: z.literal('account'), amount: positiveCents, customer: entityId.optional() }),
  z.strictObject({ tender: z.literal('voucher'), amount: positiveCents, voucher: voucherCode }),
]);

export const saleInput = z.strictObject({
  lines: z.array(saleLineInput).min(1).max(500),
  customer: entityId.optional(),
  payments: z.array(paymentInput).min(1).max(10),
});
export type SaleInput = z.input<typeof saleInput>;
export const quoteInput = z.strictObject({ lines: z.array(saleLineInput).min(1).max(500) });
export type PaymentInput = z.infer<typeof paymentInput>;

export const refundInput = z.strictObject({
  sale: ulidString,
  amount: positiveCents,
  tender: z.enum(['cash', 'card', 'account', 'voucher']),
  customer: entityId.optional(),
  voucher: voucherCode.optional(),
  reason: z.string().max(200),
});
export type RefundInput = z.input<typeof refundInput>;

export const voidInput = z.strictObject({ sale: ulidString, reason: z.string().max(200) });
export const adjustInput = z.strictObject({
  customer: entityId,
  delta: z.number().refine((v) => Number.isSafeInteger(v) && v !== 0, { params: { code: 'MONEY_NOT_INTEGER' } }),
  note: z.string().max(200).optional(),
});
export const voucherAmountInput = z.strictObject({ voucher: voucherCode, amount: positiveCents });

/** Tax on a line's net amount, rounded half up to the cent; rate in basis points. */
export function lineTax(net: number, taxRateBp: number): number {
  return Math.floor((net * taxRateBp + 5_000) / 10_000);
}

export function priceLine(item: ItemRecord, input: z.infer<typeof saleLineInput>): SaleLine {
  const unitPrice = input.unitPrice ?? item.price;
  const discount = input.discount ?? 0;
  const net = unitPrice * input.qty - discount;
  return { item: item.id, name: item.name, qty: input.qty, unitPrice, discount, tax: lineTax(Math.max(0, net), item.taxRate) };
}
