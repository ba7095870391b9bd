/**
 * Boundary validation: turns untrusted decoded data into typed events and
 * changes, or throws a TillsyncError with a stable code. Parse, don't cast.
 */
import { z } from 'zod';
import { TillsyncError, type ErrorCode } from '../errors.ts';
import { assertNoCardData } from './card-data.ts';
import {
  changeEnvelopeSchema,
  DOWNSTREAM_BODIES,
  envelopeSchema,
  EVENT_SCHEMA_VERSION,
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
    if (c === 'MONEY_NOT_INTEGER' || c === 'NEGATIVE_AMOUNT') return c;
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

/** Validates one downstream change from the cloud feed. */
export function parseChange(raw: unknown): Change {
  assertSafeShape(raw);
  assertNoCardData(raw);
  const env = parseWith(changeEnvelopeSchema, raw, '');
  if (!isDownstreamType(env.type)) throw new TillsyncError('UNKNOWN_EVENT_TYPE', `unknown change type "${env.type}"`);
  const body = parseWith(DOWNSTREAM_BODIES[env.type], env.body, 'body');
  return { cursor: env.cursor, type: env.type, body } as Change;
}
