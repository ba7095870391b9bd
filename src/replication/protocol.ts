/**
 * The terminal ⇄ cloud wire protocol, as data. Both sides import these schemas;
 * the cloud validates every request with them and the terminal validates every
 * response with them.
 *
 * PROTOCOL_VERSION history:
 *   1 — upload batches of canonical event bytes, paged feed by cursor, WebSocket
 *       "feed advanced" notifications, check endpoint for force-resync dry runs.
 *
 * Transport: HTTP, bodies in msgpack (`application/msgpack`) or JSON
 * (`application/json`); the response uses the request's format (GET: `Accept`).
 * Auth: `Authorization: Bearer <token>`; a terminal token is bound to one store
 * and one terminal, which come from the token and never from the body.
 *
 * Routes (all under /v1):
 *   POST /v1/events          UploadRequest  → UploadResponse
 *   POST /v1/events/check    CheckRequest   → CheckResponse   (F9 dry run)
 *   GET  /v1/feed?since=N&limit=M            → FeedPage
 *   GET  /v1/sync-state                      → SyncState
 *   GET  /v1/events?from=N&limit=M           → OwnEventsPage (recovery)
 *   GET  /v1/stream          WebSocket; server → client text frames ServerMessage
 */
import { z } from 'zod';
import { entityId, ulidString } from '../events/event-types.ts';

export const PROTOCOL_VERSION = 1;

export const LIMITS = {
  /** Largest request body the cloud accepts, bytes. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Most events in one upload batch. */
  maxBatchEvents: 5000,
  /** Largest single event, bytes. */
  maxEventBytes: 64 * 1024,
  /** Most changes in one feed page. */
  maxFeedPage: 5000,
  /** WebSocket maxPayload, bytes. */
  maxFrameBytes: 64 * 1024,
} as const;

/**
 * Upload: events of the authenticated terminal in ascending seq order.
 * msgpack: `events` holds each event's canonical bytes (bin) exactly as the
 * terminal stored and hashed them. JSON: `events` holds event objects; the cloud
 * canonicalises them.
 */
export const uploadRequestMsgpack = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  events: z.array(z.instanceof(Uint8Array)).max(LIMITS.maxBatchEvents),
});
export const uploadRequestJson = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  events: z.array(z.unknown()).max(LIMITS.maxBatchEvents),
});

/**
 * The cloud's answer to an upload. Every event of the batch is accounted for in
 * exactly one of accepted / duplicates / quarantined / conflicts.
 * `ackSeq` is the terminal's contiguous high-water seq as stored by the cloud
 * after this batch: every seq <= ackSeq is stored (accepted or quarantined).
 */
export const uploadResponse = z.strictObject({
  ackSeq: z.number().int().nonnegative(),
  accepted: z.number().int().nonnegative(),
  duplicates: z.number().int().nonnegative(),
  quarantined: z.number().int().nonnegative(),
  conflicts: z.array(z.strictObject({ id: ulidString, seq: z.number().int(), code: z.string() })),
});
export type UploadResponse = z.infer<typeof uploadResponse>;

/**
 * Errors specific to upload come as the usual error body with these codes:
 *   SEQ_GAP (409)        details: { expectedSeq } — resend from expectedSeq.
 *   CHAIN_BROKEN (409)   details: { seq, expected, found } — prev hash mismatch.
 *   EVENT_CONFLICT       is NEVER an error status: it travels in a 200 answer. A
 *                        resent seq whose stored event has other content is listed
 *                        in `conflicts` (not stored; the stored one is kept). A new
 *                        seq whose id another event already holds is stored for the
 *                        chain, quarantined with code EVENT_CONFLICT and counted in
 *                        `quarantined` (it shows in the admin quarantine listing).
 */

/** F9 dry run: which of these (seq, id, hash) the cloud has, lacks, or holds with different content. */
export const checkRequest = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  events: z
    .array(z.strictObject({ seq: z.number().int().positive(), id: ulidString, hash: z.string().regex(/^[0-9a-f]{64}$/) }))
    .max(LIMITS.maxBatchEvents),
});
export const checkResponse = z.strictObject({
  have: z.number().int().nonnegative(),
  lack: z.number().int().nonnegative(),
  different: z.number().int().nonnegative(),
  /** seqs whose stored content differs (at most 100 listed). */
  differentSeqs: z.array(z.number().int()),
});
export type CheckResponse = z.infer<typeof checkResponse>;

/**
 * A page of the store's downstream feed: changes with cursor > since, ascending.
 * In `balance.state` / `voucher.state` changes, `includes` holds only the asking
 * terminal's entry (or none when the balance includes none of its events).
 */
export const feedPage = z.strictObject({
  changes: z.array(z.unknown()), // each validated with parseChange by the terminal
  cursor: z.number().int().nonnegative(), // last cursor in this page (or `since` if empty)
  head: z.number().int().nonnegative(), // the store's latest cursor
});
export type FeedPage = { changes: unknown[]; cursor: number; head: number };

/** What the cloud knows about the authenticated terminal. */
export const syncState = z.strictObject({
  store: entityId,
  terminal: entityId,
  ackSeq: z.number().int().nonnegative(),
  /** Hash of the event at ackSeq: a terminal holding another event there is a stale copy (restored backup). */
  ackHash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  feedHead: z.number().int().nonnegative(),
  openExceptions: z.number().int().nonnegative(),
  quarantined: z.number().int().nonnegative(),
});
export type SyncState = z.infer<typeof syncState>;

const digestPart = z.strictObject({ count: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
/** GET /v1/digest: the feed head and, per kind, what a terminal holds after downloading up to it (full resync). */
export const storeDigest = z.strictObject({
  head: z.number().int().nonnegative(),
  digest: z.strictObject({ items: digestPart, customers: digestPart, balances: digestPart, vouchers: digestPart }),
});
export type StoreDigest = z.infer<typeof storeDigest>;

/**
 * GET /v1/events?from=N&limit=M: the terminal's own stored events (recovery
 * after a lost log tail or a restored backup), canonical bytes, ascending seq.
 */
/** POST /v1/support-bundles answer: the id the cloud gave the bundle, when it arrived, its size. */
export const supportBundleAnswer = z.strictObject({ id: z.string().max(64), received: z.number().int(), bytes: z.number().int() });

export const ownEventsPage = z.strictObject({
  events: z.array(z.instanceof(Uint8Array)).max(LIMITS.maxBatchEvents),
  next: z.number().int().positive().nullable(),
  ackSeq: z.number().int().nonnegative(),
});
export type OwnEventsPage = z.infer<typeof ownEventsPage>;

/** Server → terminal WebSocket messages (JSON text frames). */
export const serverMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hello'), v: z.literal(PROTOCOL_VERSION), feedHead: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal('feed'), head: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal('exceptions'), open: z.number().int().nonnegative() }),
]);
export type ServerMessage = z.infer<typeof serverMessage>;

/** WebSocket close codes the cloud uses. */
export const WS_CLOSE = {
  unauthorized: 4401,
  forbidden: 4403,
  badFrame: 4400,
  tooLarge: 1009,
} as const;
