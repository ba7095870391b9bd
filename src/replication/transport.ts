/**
 * The terminal's view of the cloud. The sync loops see only this interface;
 * `HttpTransport` implements it over HTTP + WebSocket, tests use fakes.
 *
 * Guarantees every implementation gives:
 * - Every answer is validated against the protocol schemas before it is
 *   returned: a caller never sees an unchecked shape (feed changes are still
 *   `unknown` here and are validated with `parseChange` by the download loop).
 * - Every failure rejects with a `CloudError` whose `kind` says whether to retry
 *   (`retry`), stop (`refusal`), resend from `expectedSeq` (`gap`) or that the
 *   caller aborted it (`aborted`). Nothing else is ever thrown.
 * - A request honours `signal`: once it aborts, the request is torn down and the
 *   promise rejects with kind `aborted` promptly. Each request also has its own
 *   timeout (kind `retry`, code CLOUD_UNREACHABLE, details.reason 'timeout').
 * - An upload is at-least-once: the cloud commits a batch atomically, but the
 *   answer may be lost; resending is always safe (duplicates are reported).
 */
import type { CheckResponse, FeedPage, ServerMessage, SyncState, UploadResponse } from './protocol.ts';
import type { CloudError } from './cloud-error.ts';

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface CheckEntry {
  seq: number;
  id: string;
  hash: string;
}

export interface StreamHandlers {
  /** A validated server message. */
  onMessage(msg: ServerMessage): void;
  /** The socket is open (the server's `hello` follows). */
  onOpen?(): void;
  /**
   * The subscription ended (never called after `close()` by the caller).
   * `error` tells why when it was not a clean close: a refusal (401/403) or a
   * retryable failure.
   */
  onClose?(info: { code: number; reason: string; error?: CloudError }): void;
}

export interface Subscription {
  /** Closes the socket; no handler is called afterwards. */
  close(): void;
}

export interface CloudTransport {
  /** POST /v1/events: the events' canonical bytes, ascending seq, contiguous. */
  upload(events: readonly Uint8Array[], opts?: RequestOptions): Promise<UploadResponse>;
  /** POST /v1/events/check (F9 dry run). */
  check(events: readonly CheckEntry[], opts?: RequestOptions): Promise<CheckResponse>;
  /** GET /v1/feed: changes with cursor > since, at most `limit`. */
  feed(since: number, limit: number, opts?: RequestOptions): Promise<FeedPage>;
  /** GET /v1/sync-state. */
  syncState(opts?: RequestOptions): Promise<SyncState>;
  /** WebSocket /v1/stream. */
  subscribe(handlers: StreamHandlers): Subscription;
  /** Replaces the credential for every later request and subscription. */
  setCredential(token: string): void;
}
