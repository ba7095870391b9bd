/**
 * Boundary validation: turns untrusted decoded data into typed events and
 * changes, or throws a TillsyncError with a stable code. Parse, don't cast.
 */
import { z } from 'zod';
import { TillsyncError, type ErrorCode } from '../errors.ts';
import { assertNoCardData, containsCardNumber, CVV_KEYS, PAN_KEYS } from './card-data.ts';
import {
  changeEnvelopeSchema,
  DOWNSTREAM_BODIES,
  envelopeSchema,
  EVENT_SCHEMA_VERSION,
  MAX_QTY,
  MONEY_LIMITS,
  UPSTREAM_BODIES,
  ulidString,
  type Change,
  type DownstreamType,
  type EventDraft,
  type TillEvent,
  type UpstreamType,
} from './event-types.ts';

const eventTime = z.number().int().nonnegative();
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const MAX_NESTING = 12;

/**
 * Rejects forbidden keys and excessive nesting, iteratively (a hostile payload
 * cannot overflow the stack here). JSON.parse creates own "__proto__" keys;
 * msgpack refuses them while decoding; both end here.
 */
export function assertSafeShape(value: unknown, maxDepth = MAX_NESTING): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) continue;
    if (depth >= maxDepth) throw new TillsyncError('NESTING_TOO_DEEP', `nesting deeper than ${maxDepth}`);
    if (Array.isArray(v)) {
      for (const x of v) stack.push([x, depth + 1]);
    } else {
      for (const k of Object.keys(v)) {
        if (FORBIDDEN_KEYS.has(k)) throw new TillsyncError('FORBIDDEN_KEY', `key "${k}" is not accepted`);
        stack.push([(v as Record<string, unknown>)[k], depth + 1]);
      }
    }
  }
}

function issueCode(issue: z.core.$ZodIssue): ErrorCode {
  if (issue.code === 'unrecognized_keys') return 'UNKNOWN_FIELD';
  if (issue.code === 'custom') {
    const c = (issue.params as { code?: string } | undefined)?.code;
    if (c === 'MONEY_NOT_INTEGER' || c === 'NEGATIVE_AMOUNT' || c === 'AMOUNT_TOO_LARGE' || c === 'FULL_CARD_NUMBER') return c;
  }
  return 'VALIDATION_FAILED';
}

/** Runs a zod schema; failures become a TillsyncError naming the first bad path. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [where, ...issue.path.map(String)].filter(Boolean).join('.');
  const c = issueCode(issue);
  const extra = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
  throw new TillsyncError(c, `${path}: ${issue.message}${extra}`, { details: { path } });
}

function isUpstreamType(t: string): t is UpstreamType {
  return Object.hasOwn(UPSTREAM_BODIES, t);
}
function isDownstreamType(t: string): t is DownstreamType {
  return Object.hasOwn(DOWNSTREAM_BODIES, t);
}

/** Business consistency that a schema cannot express. */
export function checkEventConsistency(event: TillEvent): void {
  if (event.type === 'sale.completed') {
    const b = event.body;
    let subtotal = 0;
    let discount = 0;
    let tax = 0;
    for (const line of b.lines) {
      subtotal += line.qty * line.unitPrice;
      discount += line.discount;
      tax += line.tax;
      if (line.discount > line.qty * line.unitPrice) {
        throw new TillsyncError('SALE_TOTAL_MISMATCH', `line ${line.item}: discount exceeds the line amount`);
      }
    }
    if (subtotal !== b.subtotal || discount !== b.discount || tax !== b.tax || b.total !== subtotal - discount + tax) {
      throw new TillsyncError('SALE_TOTAL_MISMATCH', 'sale totals do not add up from its lines', {
        details: { expected: { subtotal, discount, tax, total: subtotal - discount + tax }, found: { subtotal: b.subtotal, discount: b.discount, tax: b.tax, total: b.total } },
      });
    }
    if (!Number.isSafeInteger(subtotal)) throw new TillsyncError('MONEY_NOT_INTEGER', 'sale subtotal overflows');
  } else if (event.type === 'payment.taken' && event.body.tender === 'cash') {
    const b = event.body;
    if (b.tendered - b.change !== b.amount) {
      throw new TillsyncError('PAYMENT_MISMATCH', 'cash amount must equal tendered minus change', {
        details: { expected: b.tendered - b.change, found: b.amount },
      });
    }
  }
}

/**
 * Validates one upstream event (any source). Order matters: card data first,
 * so a PAN is reported as such even where the field itself is also unknown.
 */
export function parseEvent(raw: unknown): TillEvent {
  return fastEvent(raw) ?? fullEvent(raw);
}

function fullEvent(raw: unknown): TillEvent {
  assertSafeShape(raw);
  assertNoCardData(raw);
  const env = parseWith(envelopeSchema, raw, '');
  if (env.v !== EVENT_SCHEMA_VERSION) {
    throw new TillsyncError('UNSUPPORTED_SCHEMA_VERSION', `event schema version ${String(env.v)} is not supported`, {
      details: { expected: EVENT_SCHEMA_VERSION, found: env.v },
    });
  }
  if (!isUpstreamType(env.type)) throw new TillsyncError('UNKNOWN_EVENT_TYPE', `unknown event type "${env.type}"`);
  const body = parseWith(UPSTREAM_BODIES[env.type], env.body, 'body');
  // Rebuild in a fixed key order so the canonical encoding never depends on the sender.
  const event = {
    id: env.id, type: env.type, v: env.v, store: env.store, terminal: env.terminal,
    seq: env.seq, time: env.time, prev: env.prev, body,
  } as TillEvent;
  checkEventConsistency(event);
  return event;
}

/**
 * Validates what a caller hands to the log: the type, the body (with card data,
 * shape and consistency checks) and the optional id and time. The log makes the
 * rest of the envelope itself (store, terminal, seq, prev, v), so an event built
 * from a validated draft is a valid event without parsing it again.
 */
export function parseDraft(draft: { type: unknown; body: unknown; id?: unknown; time?: unknown }): EventDraft {
  return fastDraft(draft) ?? fullDraft(draft);
}

function fullDraft(draft: { type: unknown; body: unknown; id?: unknown; time?: unknown }): EventDraft {
  assertSafeShape(draft);
  assertNoCardData(draft.body);
  const type = draft.type;
  if (typeof type !== 'string' || !isUpstreamType(type)) throw new TillsyncError('UNKNOWN_EVENT_TYPE', `unknown event type "${String(type)}"`);
  const body = parseWith(UPSTREAM_BODIES[type], draft.body, 'body');
  const out = { type, body } as EventDraft;
  if (draft.id !== undefined) out.id = parseWith(ulidString, draft.id, 'id');
  if (draft.time !== undefined) out.time = parseWith(eventTime, draft.time, 'time');
  // Consistency rules look only at type and body.
  checkEventConsistency(out as unknown as TillEvent);
  return out;
}

/**
 * The schema-only paths, without the fast paths in front of them. Only for
 * tests that check the fast paths accept, refuse and return exactly the same.
 */
export const fullPathsForTests = { parseEvent: fullEvent, parseDraft: fullDraft, parseChange: fullChange } as const;

/** Validates one downstream change from the cloud feed. */
export function parseChange(raw: unknown): Change {
  return fastChange(raw) ?? fullChange(raw);
}

function fullChange(raw: unknown): Change {
  assertSafeShape(raw);
  assertNoCardData(raw);
  const env = parseWith(changeEnvelopeSchema, raw, '');
  if (!isDownstreamType(env.type)) throw new TillsyncError('UNKNOWN_EVENT_TYPE', `unknown change type "${env.type}"`);
  const body = parseWith(DOWNSTREAM_BODIES[env.type], env.body, 'body');
  return { cursor: env.cursor, type: env.type, body } as Change;
}

// ---------------------------------------------------------------- fast path

/*
 * `fastEvent` accepts only what `parseEvent`'s full path (shape, card data,
 * zod, version, type, body, consistency) accepts, and returns the same value
 * (same keys in the same order: zod's shape order, absent optionals absent).
 * Anything else, or anything it is not sure about, returns undefined and the
 * full path runs, so every error code and its order are unchanged. It is
 * deliberately stricter than zod where that is simpler (plain objects only,
 * safe integers only). The cloud's upload reads the same schemas straight off
 * an event's bytes (src/server/event-scan.ts): a change here is a change there.
 */
type Obj = Record<string, unknown>;
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;
/** An entity id (stores, terminals, items, customers), as the fast paths check it. */
export const ENTITY_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const VOUCHER_RE = /^[A-Za-z0-9-]{4,40}$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const CURRENCY_RE = /^[A-Z]{3}$/;
const TOKEN_RE = /^[A-Za-z0-9_:.-]{4,128}$/;
const LAST4_RE = /^\d{4}$/;
const AUTH_RE = /^[A-Za-z0-9]{1,12}$/;
const BRANDS = new Set(['visa', 'mastercard', 'amex', 'discover', 'interac', 'other']);
const TENDER_SET = new Set(['cash', 'card', 'account', 'voucher']);
const REASONS = new Set(['sale', 'refund', 'void', 'adjustment']);

function plain(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}
function keyCount(o: Obj): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}
/** A string matching `re` that the card-data guard lets through (only for keys it does not exempt). */
function str(v: unknown, re: RegExp): v is string {
  return typeof v === 'string' && re.test(v) && !containsCardNumber(v);
}
function text(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 200 && !containsCardNumber(v);
}
function ulid(v: unknown): v is string {
  return typeof v === 'string' && ULID_RE.test(v) && !containsCardNumber(v);
}
function nonNeg(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
function pos(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}
/** Money (or a quantity) in 0..max. */
function upTo(v: unknown, max: number): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
}
/** Money (or a quantity) in 1..max. */
function posUpTo(v: unknown, max: number): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= max;
}
const PRICE = MONEY_LIMITS.price;
const AMOUNT = MONEY_LIMITS.amount;
const SALE = MONEY_LIMITS.sale;

function fastSaleLine(l: unknown): Obj | undefined {
  if (!plain(l) || keyCount(l) !== 6) return undefined;
  const { item, name, qty, unitPrice, discount, tax } = l;
  if (!str(item, ENTITY_RE) || !text(name) || !posUpTo(qty, MAX_QTY) || !upTo(unitPrice, PRICE) || !upTo(discount, SALE) || !upTo(tax, SALE)) return undefined;
  return { item, name, qty, unitPrice, discount, tax };
}

function fastBody(type: string, b: unknown): Obj | undefined {
  if (!plain(b)) return undefined;
  const n = keyCount(b);
  switch (type) {
    case 'sale.completed': {
      const { currency, customer, lines, subtotal, discount, tax, total } = b;
      if (n !== (customer === undefined ? 6 : 7)) return undefined;
      if (!str(currency, CURRENCY_RE) || (customer !== undefined && !str(customer, ENTITY_RE))) return undefined;
      if (!Array.isArray(lines) || lines.length < 1 || lines.length > 500) return undefined;
      if (!upTo(subtotal, SALE) || !upTo(discount, SALE) || !upTo(tax, SALE) || !upTo(total, SALE)) return undefined;
      const outLines = new Array<Obj>(lines.length);
      for (let i = 0; i < lines.length; i++) {
        const l = fastSaleLine(lines[i]);
        if (!l) return undefined;
        outLines[i] = l;
      }
      return customer === undefined
        ? { currency, lines: outLines, subtotal, discount, tax, total }
        : { currency, customer, lines: outLines, subtotal, discount, tax, total };
    }
    case 'payment.taken': {
      const { sale, tender, amount } = b;
      if (!ulid(sale) || !posUpTo(amount, AMOUNT)) return undefined;
      if (tender === 'cash') {
        const { tendered, change } = b;
        if (n !== 5 || !posUpTo(tendered, AMOUNT) || !upTo(change, AMOUNT)) return undefined;
        return { sale, tender, amount, tendered, change };
      }
      if (tender === 'card') {
        const card = b.card;
        if (n !== 4 || !plain(card) || keyCount(card) !== 4) return undefined;
        const { token, brand, last4, authCode } = card;
        if (!str(token, TOKEN_RE) || typeof brand !== 'string' || !BRANDS.has(brand) || !str(last4, LAST4_RE) || !str(authCode, AUTH_RE)) return undefined;
        return { sale, tender, amount, card: { token, brand, last4, authCode } };
      }
      if (tender === 'account') {
        const customer = b.customer;
        if (n !== 4 || !str(customer, ENTITY_RE)) return undefined;
        return { sale, tender, amount, customer };
      }
      if (tender === 'voucher') {
        const voucher = b.voucher;
        if (n !== 4 || !str(voucher, VOUCHER_RE)) return undefined;
        return { sale, tender, amount, voucher };
      }
      return undefined;
    }
    case 'sale.refunded': {
      const { sale, amount, tender, customer, voucher, reason } = b;
      if (n !== 4 + (customer === undefined ? 0 : 1) + (voucher === undefined ? 0 : 1)) return undefined;
      if (!ulid(sale) || !posUpTo(amount, AMOUNT) || typeof tender !== 'string' || !TENDER_SET.has(tender) || !text(reason)) return undefined;
      if (customer !== undefined && !str(customer, ENTITY_RE)) return undefined;
      if (voucher !== undefined && !str(voucher, VOUCHER_RE)) return undefined;
      const out: Obj = { sale, amount, tender };
      if (customer !== undefined) out.customer = customer;
      if (voucher !== undefined) out.voucher = voucher;
      out.reason = reason;
      return out;
    }
    case 'sale.voided': {
      const { sale, reason } = b;
      if (n !== 2 || !ulid(sale) || !text(reason)) return undefined;
      return { sale, reason };
    }
    case 'balance.delta': {
      const { customer, delta, reason, sale, note } = b;
      if (n !== 3 + (sale === undefined ? 0 : 1) + (note === undefined ? 0 : 1)) return undefined;
      if (!str(customer, ENTITY_RE) || !Number.isSafeInteger(delta) || delta === 0 || Math.abs(delta as number) > AMOUNT || typeof reason !== 'string' || !REASONS.has(reason)) return undefined;
      if (sale !== undefined && !ulid(sale)) return undefined;
      if (note !== undefined && !text(note)) return undefined;
      const out: Obj = { customer, delta, reason };
      if (sale !== undefined) out.sale = sale;
      if (note !== undefined) out.note = note;
      return out;
    }
    case 'voucher.issued': {
      const { voucher, amount, reason, sale } = b;
      if (n !== (sale === undefined ? 3 : 4)) return undefined;
      if (!str(voucher, VOUCHER_RE) || !posUpTo(amount, AMOUNT) || typeof reason !== 'string' || !REASONS.has(reason)) return undefined;
      if (sale !== undefined && !ulid(sale)) return undefined;
      return sale === undefined ? { voucher, amount, reason } : { voucher, amount, reason, sale };
    }
    case 'voucher.redeemed': {
      const { voucher, amount, sale } = b;
      if (n !== (sale === undefined ? 2 : 3)) return undefined;
      if (!str(voucher, VOUCHER_RE) || !posUpTo(amount, AMOUNT)) return undefined;
      if (sale !== undefined && !ulid(sale)) return undefined;
      return sale === undefined ? { voucher, amount } : { voucher, amount, sale };
    }
    default:
      return undefined;
  }
}

/** The fast path of `parseEvent`: the same event, or undefined (then the full path decides). */
function fastEvent(raw: unknown): TillEvent | undefined {
  if (!plain(raw) || keyCount(raw) !== 9) return undefined;
  const { id, type, v, store, terminal, seq, time, prev } = raw;
  if (v !== EVENT_SCHEMA_VERSION || typeof type !== 'string' || !isUpstreamType(type)) return undefined;
  if (!ulid(id) || !str(store, ENTITY_RE) || !str(terminal, ENTITY_RE) || !pos(seq) || !nonNeg(time)) return undefined;
  if (typeof prev !== 'string' || !HASH_RE.test(prev)) return undefined; // key prev: exempt from the card guard
  const body = fastBody(type, raw.body);
  if (body === undefined) return undefined;
  const event = { id, type, v, store, terminal, seq, time, prev, body } as TillEvent;
  try {
    checkEventConsistency(event);
  } catch {
    return undefined;
  }
  return event;
}

/**
 * The fast path of `parseChange` for the changes the feed is mostly made of,
 * `balance.state`, `voucher.state` and `customer.upserted`: the same change, or
 * undefined (then the full path decides). `includes` keys must also be names
 * the card-data guard and the shape guard have no opinion on.
 */
function fastChange(raw: unknown): Change | undefined {
  if (!plain(raw) || keyCount(raw) !== 3) return undefined;
  const { cursor, type, body } = raw;
  if (!pos(cursor) || !plain(body)) return undefined;
  if (type === 'customer.upserted') {
    const customer = fastCustomer(body);
    return customer && ({ cursor, type, body: customer } as Change);
  }
  if (keyCount(body) !== 3) return undefined;
  const { balance, includes } = body;
  if (!Number.isSafeInteger(balance) || Math.abs(balance as number) > MONEY_LIMITS.balance || !plain(includes)) return undefined;
  let subject: Obj;
  if (type === 'balance.state') {
    if (!str(body.customer, ENTITY_RE)) return undefined;
    subject = { customer: body.customer };
  } else if (type === 'voucher.state') {
    if (!str(body.voucher, VOUCHER_RE)) return undefined;
    subject = { voucher: body.voucher };
  } else return undefined;
  const inc: Record<string, number> = {};
  for (const k in includes) {
    const v = includes[k];
    if (!ENTITY_RE.test(k) || containsCardNumber(k) || GUARDED_KEYS.has(k.toLowerCase()) || !nonNeg(v)) return undefined;
    inc[k] = v;
  }
  return { cursor, type, body: { ...subject, balance, includes: inc } } as Change;
}
/** A customer record (what a new terminal downloads thousands of), or undefined. */
function fastCustomer(b: Obj): Obj | undefined {
  const { id, name, phone, email } = b;
  if (keyCount(b) !== 2 + (phone === undefined ? 0 : 1) + (email === undefined ? 0 : 1)) return undefined;
  if (!entityUnderId(id) || !text(name) || name.length === 0) return undefined;
  if (phone !== undefined && !(typeof phone === 'string' && phone.length <= 32 && !containsCardNumber(phone))) return undefined;
  if (email !== undefined && !(typeof email === 'string' && email.length <= 200 && !containsCardNumber(email))) return undefined;
  const out: Obj = { id, name };
  if (phone !== undefined) out.phone = phone;
  if (email !== undefined) out.email = email;
  return out;
}
/** An entity id under the key `id` (the card-data guard checks ids like any string). */
function entityUnderId(v: unknown): v is string {
  return typeof v === 'string' && ENTITY_RE.test(v) && !containsCardNumber(v);
}

/** Keys the shape guard refuses or the card-data guard looks at (lower case): the full path judges them. */
const GUARDED_KEYS = new Set([...FORBIDDEN_KEYS, ...CVV_KEYS, ...PAN_KEYS]);

/**
 * An id that cannot also be a key: terminal ids are the keys of a balance's
 * `includes`, and a key the shape or card-data guard refuses (`__proto__`,
 * `constructor`, `cvv`, ...) would make every feed page holding it unreadable.
 * The cloud refuses such ids for stores and terminals when they are created.
 */
export function reservedAsKey(id: string): boolean {
  return GUARDED_KEYS.has(id.toLowerCase());
}

/**
 * The fast path of `parseDraft`: the same draft, or undefined (then the full
 * path decides). Consistency errors are thrown from here directly: the full
 * path would accept everything else the fast path accepted and then throw the
 * same error from the same check.
 */
function fastDraft(draft: unknown): EventDraft | undefined {
  if (!plain(draft)) return undefined;
  const { type, body, id, time } = draft;
  if (keyCount(draft) !== 2 + (id === undefined ? 0 : 1) + (time === undefined ? 0 : 1)) return undefined;
  if (typeof type !== 'string' || !isUpstreamType(type)) return undefined;
  if ((id !== undefined && !ulid(id)) || (time !== undefined && !nonNeg(time))) return undefined;
  const fastBodyValue = fastBody(type, body);
  if (fastBodyValue === undefined) return undefined;
  const out = { type, body: fastBodyValue } as EventDraft;
  if (id !== undefined) out.id = id as string;
  if (time !== undefined) out.time = time as number;
  checkEventConsistency(out as unknown as TillEvent);
  return out;
}
