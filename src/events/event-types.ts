/**
 * The event model (SPEC §4), as schemas. These schemas are the only way data
 * enters tillsync: terminal API, cloud upload (msgpack and JSON), downstream
 * feed, imports. Objects are strict (an unknown field is refused, never stripped),
 * numbers are never coerced, money is integer cents.
 *
 * Upstream events are made on a terminal and form its hash chain. Downstream
 * changes are made by the cloud and carry the cloud feed cursor.
 *
 * Schema history:
 *   v1 — first version.
 */
import { z } from 'zod';
import { barcodeString } from './card-data.ts';

export const EVENT_SCHEMA_VERSION = 1;

const code = (c: string) => ({ params: { code: c } });

/**
 * Upper bounds of money fields, in cents (README "Card data and limits"). All
 * are below 10^12, so no money field can hold a 13–19-digit card number;
 * anything above is refused with AMOUNT_TOO_LARGE.
 */
export const MONEY_LIMITS = {
  /** An item's price and a sale line's unit price: 100,000.00. */
  price: 10_000_000,
  /** Payment, tendered, change, refund, balance adjustment, voucher amount, opening balance, offline cap: 10,000,000.00. */
  amount: 1_000_000_000,
  /** A sale's subtotal, discount, tax and total, and a line's discount and tax: 1,000,000,000.00. */
  sale: 100_000_000_000,
  /** A balance the cloud reports (balance.state, voucher.state), either sign. */
  balance: 999_999_999_999,
} as const;
/** Most units on one sale line. */
export const MAX_QTY = 10_000;

const integerCents = z.number().refine(Number.isSafeInteger, code('MONEY_NOT_INTEGER'));
const atMost = (max: number) => (v: number) => Math.abs(v) <= max;
/** Integer cents, any sign, |v| <= `max`. */
export const centsUpTo = (max: number) => integerCents.refine(atMost(max), code('AMOUNT_TOO_LARGE'));
/** Integer cents >= 0, <= `max`. */
export const nonNegativeCentsUpTo = (max: number) => integerCents.refine((v) => v >= 0, code('NEGATIVE_AMOUNT')).refine(atMost(max), code('AMOUNT_TOO_LARGE'));
/** Integer cents > 0, <= `max`. */
export const positiveCentsUpTo = (max: number) => integerCents.refine((v) => v > 0, code('NEGATIVE_AMOUNT')).refine(atMost(max), code('AMOUNT_TOO_LARGE'));
/** Integer cents; any sign; at most MONEY_LIMITS.amount either way. */
export const cents = centsUpTo(MONEY_LIMITS.amount);
/** Integer cents, >= 0, at most MONEY_LIMITS.amount. */
export const nonNegativeCents = nonNegativeCentsUpTo(MONEY_LIMITS.amount);
/** Integer cents, > 0, at most MONEY_LIMITS.amount. */
export const positiveCents = positiveCentsUpTo(MONEY_LIMITS.amount);
const priceCents = nonNegativeCentsUpTo(MONEY_LIMITS.price);
const saleCents = nonNegativeCentsUpTo(MONEY_LIMITS.sale);
const balanceCents = centsUpTo(MONEY_LIMITS.balance);
const positiveInt = z.number().int().refine((v) => v > 0, code('NEGATIVE_AMOUNT'));

/** Identifiers for stores, terminals, items, customers: short, printable, no separators we use in keys. */
export const entityId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);
export const ulidString = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/);
export const voucherCode = z.string().regex(/^[A-Za-z0-9-]{4,40}$/);
const hashHex = z.string().regex(/^[0-9a-f]{64}$/);
const currency = z.string().regex(/^[A-Z]{3}$/);
const shortText = z.string().max(200);

// ---------------------------------------------------------------- upstream bodies

export const saleLine = z.strictObject({
  item: entityId,
  name: shortText,
  qty: positiveInt.refine((v) => v <= MAX_QTY, code('AMOUNT_TOO_LARGE')),
  unitPrice: priceCents,
  discount: saleCents,
  tax: saleCents,
});

export const saleCompletedBody = z.strictObject({
  currency,
  customer: entityId.optional(),
  lines: z.array(saleLine).min(1).max(500),
  subtotal: saleCents,
  discount: saleCents,
  tax: saleCents,
  total: saleCents,
});

export const cardDetails = z.strictObject({
  token: z.string().regex(/^[A-Za-z0-9_:.-]{4,128}$/),
  brand: z.enum(['visa', 'mastercard', 'amex', 'discover', 'interac', 'other']),
  last4: z.string().regex(/^\d{4}$/),
  authCode: z.string().regex(/^[A-Za-z0-9]{1,12}$/),
});

export const TENDERS = ['cash', 'card', 'account', 'voucher'] as const;
export type Tender = (typeof TENDERS)[number];

export const paymentBody = z.discriminatedUnion('tender', [
  z.strictObject({ sale: ulidString, tender: z.literal('cash'), amount: positiveCents, tendered: positiveCents, change: nonNegativeCents }),
  z.strictObject({ sale: ulidString, tender: z.literal('card'), amount: positiveCents, card: cardDetails }),
  z.strictObject({ sale: ulidString, tender: z.literal('account'), amount: positiveCents, customer: entityId }),
  z.strictObject({ sale: ulidString, tender: z.literal('voucher'), amount: positiveCents, voucher: voucherCode }),
]);

export const saleRefundedBody = z.strictObject({
  sale: ulidString,
  amount: positiveCents,
  tender: z.enum(TENDERS),
  customer: entityId.optional(),
  voucher: voucherCode.optional(),
  reason: shortText,
});

export const saleVoidedBody = z.strictObject({ sale: ulidString, reason: shortText });

export const BALANCE_REASONS = ['sale', 'refund', 'void', 'adjustment'] as const;
export const balanceDeltaBody = z.strictObject({
  customer: entityId,
  delta: cents.refine((v) => v !== 0, code('VALIDATION_FAILED')),
  reason: z.enum(BALANCE_REASONS),
  sale: ulidString.optional(),
  note: shortText.optional(),
});

export const voucherIssuedBody = z.strictObject({
  voucher: voucherCode,
  amount: positiveCents,
  reason: z.enum(['sale', 'refund', 'void', 'adjustment']),
  sale: ulidString.optional(),
});

export const voucherRedeemedBody = z.strictObject({
  voucher: voucherCode,
  amount: positiveCents,
  sale: ulidString.optional(),
});

export const UPSTREAM_BODIES = {
  'sale.completed': saleCompletedBody,
  'payment.taken': paymentBody,
  'sale.refunded': saleRefundedBody,
  'sale.voided': saleVoidedBody,
  'balance.delta': balanceDeltaBody,
  'voucher.issued': voucherIssuedBody,
  'voucher.redeemed': voucherRedeemedBody,
} as const;

export type UpstreamType = keyof typeof UPSTREAM_BODIES;
export const UPSTREAM_TYPES = Object.keys(UPSTREAM_BODIES) as UpstreamType[];
export type UpstreamBody<T extends UpstreamType> = z.infer<(typeof UPSTREAM_BODIES)[T]>;

/** The envelope without its body; the body is checked by type. */
export const envelopeSchema = z.strictObject({
  id: ulidString,
  type: z.string(),
  v: z.number(),
  store: entityId,
  terminal: entityId,
  seq: positiveInt,
  time: z.number().int().nonnegative(),
  prev: hashHex,
  body: z.unknown(),
});

type EnvelopeOf<T extends UpstreamType> = {
  id: string;
  type: T;
  v: number;
  store: string;
  terminal: string;
  seq: number;
  time: number;
  prev: string;
  body: UpstreamBody<T>;
};

/** A validated upstream event. The union narrows on `type`. */
export type TillEvent = { [T in UpstreamType]: EnvelopeOf<T> }[UpstreamType];
export type SaleCompleted = EnvelopeOf<'sale.completed'>;
export type SaleLine = z.infer<typeof saleLine>;
export type PaymentBody = z.infer<typeof paymentBody>;
export type CardDetails = z.infer<typeof cardDetails>;

/** What a caller hands to the log: the log fills seq, prev (and time, id if absent). */
export type EventDraft = { [T in UpstreamType]: { type: T; body: UpstreamBody<T>; id?: string; time?: number } }[UpstreamType];

// ---------------------------------------------------------------- downstream changes

export const itemUpsertedBody = z.strictObject({
  id: entityId,
  sku: z.string().min(1).max(64),
  name: z.string().min(1).max(200),
  barcodes: z.array(barcodeString).max(16),
  price: priceCents,
  taxRate: z.number().int().min(0).max(10_000), // basis points
});
export const customerUpsertedBody = z.strictObject({
  id: entityId,
  name: z.string().min(1).max(200),
  phone: z.string().max(32).optional(),
  email: z.string().max(200).optional(),
});
export const removedBody = z.strictObject({ id: entityId });
/** The cloud's balance and which of each terminal's seqs it includes. */
export const includesSchema = z.record(entityId, z.number().int().nonnegative());
export const balanceStateBody = z.strictObject({ customer: entityId, balance: balanceCents, includes: includesSchema });
export const voucherStateBody = z.strictObject({ voucher: voucherCode, balance: balanceCents, includes: includesSchema });

/** Per-store policy the terminal enforces while offline (F11). */
export const OFFLINE_STORED_VALUE = ['allow', 'cap', 'forbid'] as const;
export const storeSettingsBody = z.strictObject({
  currency,
  offlineStoredValue: z.enum(OFFLINE_STORED_VALUE),
  /** With 'cap': most a customer account or voucher may spend offline, unconfirmed by the cloud, in cents. */
  offlineCap: nonNegativeCents,
  /**
   * The card processor's offline window, in hours (1–720; absent: 24): a card
   * payment taken offline must reach the processor within it. The terminal
   * counts down to it from its oldest card payment the cloud does not have.
   */
  cardOfflineWindowHours: z.number().int().min(1).max(720).optional(),
});
export type StoreSettings = z.infer<typeof storeSettingsBody>;

export const DOWNSTREAM_BODIES = {
  'store.settings': storeSettingsBody,
  'item.upserted': itemUpsertedBody,
  'item.removed': removedBody,
  'customer.upserted': customerUpsertedBody,
  'customer.removed': removedBody,
  'balance.state': balanceStateBody,
  'voucher.state': voucherStateBody,
} as const;

export type DownstreamType = keyof typeof DOWNSTREAM_BODIES;
export const DOWNSTREAM_TYPES = Object.keys(DOWNSTREAM_BODIES) as DownstreamType[];
export type DownstreamBody<T extends DownstreamType> = z.infer<(typeof DOWNSTREAM_BODIES)[T]>;
export type Change = { [T in DownstreamType]: { cursor: number; type: T; body: DownstreamBody<T> } }[DownstreamType];
export type ItemRecord = z.infer<typeof itemUpsertedBody>;
export type CustomerRecord = z.infer<typeof customerUpsertedBody>;

export const changeEnvelopeSchema = z.strictObject({ cursor: positiveInt, type: z.string(), body: z.unknown() });
