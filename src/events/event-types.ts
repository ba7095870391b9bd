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

export const EVENT_SCHEMA_VERSION = 1;

const code = (c: string) => ({ params: { code: c } });

/** Integer cents; any sign. */
export const cents = z.number().refine(Number.isSafeInteger, code('MONEY_NOT_INTEGER'));
/** Integer cents, >= 0. */
export const nonNegativeCents = cents.refine((v) => v >= 0, code('NEGATIVE_AMOUNT'));
/** Integer cents, > 0. */
export const positiveCents = cents.refine((v) => v > 0, code('NEGATIVE_AMOUNT'));
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
  qty: positiveInt,
  unitPrice: nonNegativeCents,
  discount: nonNegativeCents,
  tax: nonNegativeCents,
});

export const saleCompletedBody = z.strictObject({
  currency,
  customer: entityId.optional(),
  lines: z.array(saleLine).min(1).max(500),
  subtotal: nonNegativeCents,
  discount: nonNegativeCents,
  tax: nonNegativeCents,
  total: nonNegativeCents,
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
  barcodes: z.array(z.string().regex(/^[0-9A-Za-z-]{4,32}$/)).max(16),
  price: nonNegativeCents,
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
export const balanceStateBody = z.strictObject({ customer: entityId, balance: cents, includes: includesSchema });
export const voucherStateBody = z.strictObject({ voucher: voucherCode, balance: cents, includes: includesSchema });

/** Per-store policy the terminal enforces while offline (F11). */
export const OFFLINE_STORED_VALUE = ['allow', 'cap', 'forbid'] as const;
export const storeSettingsBody = z.strictObject({
  currency,
  offlineStoredValue: z.enum(OFFLINE_STORED_VALUE),
  /** With 'cap': most a customer account or voucher may spend offline, unconfirmed by the cloud, in cents. */
  offlineCap: nonNegativeCents,
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
