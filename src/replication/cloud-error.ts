/**
 * How the sync worker tells failures apart. Every failure a transport reports is
 * a `CloudError` with one of four kinds:
 *
 *   retry   — the cloud may answer next time: network error, timeout, dropped
 *             connection, 5xx, 429, an unreadable response. Back off and retry.
 *   refusal — the cloud answered and said no (4xx other than SEQ_GAP and 429):
 *             a revoked or unknown credential (401), forbidden (403), bad request
 *             (400), a broken chain. Retrying cannot help: stop and show it.
 *   gap     — 409 SEQ_GAP: the cloud expects `expectedSeq` next; resend from there.
 *   aborted — we aborted it ourselves (stop, restart, watchdog).
 */
import { z } from 'zod';
import { ERRORS, TillsyncError, type ErrorCode } from '../errors.ts';

export type FailureKind = 'retry' | 'refusal' | 'gap' | 'aborted';

export interface CloudErrorOptions {
  kind: FailureKind;
  cause?: unknown;
  /** HTTP status of the cloud's answer, when there was one. */
  httpStatus?: number;
  /** The code the cloud sent, even when this terminal does not know it. */
  remoteCode?: string;
  /** For `gap`: the seq the cloud expects next. */
  expectedSeq?: number;
  /** For `retry`: the cloud asked to wait this long (Retry-After). */
  retryAfterMs?: number;
  details?: Record<string, unknown>;
}

export class CloudError extends TillsyncError {
  readonly kind: FailureKind;
  readonly httpStatus: number | undefined;
  readonly remoteCode: string | undefined;
  readonly expectedSeq: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, opts: CloudErrorOptions) {
    super(code, message, {
      ...(opts.cause !== undefined ? { cause: opts.cause } : {}),
      ...(opts.details !== undefined ? { details: opts.details } : {}),
    });
    this.name = 'CloudError';
    this.kind = opts.kind;
    this.httpStatus = opts.httpStatus;
    this.remoteCode = opts.remoteCode;
    this.expectedSeq = opts.expectedSeq;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** A revoked or unknown credential: only a new token helps. */
  get isAuth(): boolean {
    return this.code === 'CREDENTIAL_REVOKED' || this.code === 'UNAUTHORIZED';
  }
}

/** The cloud's error body: `{ error: { code, message, details? } }`. */
export const errorBody = z.object({
  error: z.object({
    code: z.string().max(64),
    message: z.string().max(10_000).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

function isKnownCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/**
 * Classifies an HTTP error answer. `body` is the decoded response body (or
 * undefined when it could not be read).
 */
export function fromHttpStatus(status: number, body: unknown, retryAfterMs?: number): CloudError {
  const parsed = errorBody.safeParse(body);
  const remote = parsed.success ? parsed.data.error : undefined;
  const message = `cloud answered ${status}${remote ? ` ${remote.code}: ${remote.message ?? ''}` : ''}`;
  const common = {
    httpStatus: status,
    ...(remote ? { remoteCode: remote.code } : {}),
    ...(remote?.details ? { details: remote.details } : {}),
  };
  if (status >= 500 || status === 429 || status === 408) {
    const code: ErrorCode = remote && isKnownCode(remote.code) ? remote.code : 'CLOUD_UNREACHABLE';
    return new CloudError(code, message, { kind: 'retry', ...common, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  if (status === 409 && remote?.code === 'SEQ_GAP') {
    const expected = remote.details?.expectedSeq;
    if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 1) {
      return new CloudError('SEQ_GAP', message, { kind: 'gap', expectedSeq: expected, ...common });
    }
    return new CloudError('CLOUD_BAD_RESPONSE', `${message} (without a valid details.expectedSeq)`, { kind: 'retry', ...common });
  }
  let code: ErrorCode;
  if (remote && isKnownCode(remote.code)) code = remote.code;
  else if (status === 401) code = 'UNAUTHORIZED';
  else if (status === 403) code = 'FORBIDDEN';
  else if (status === 404) code = 'NOT_FOUND';
  else code = 'CLOUD_REFUSED';
  return new CloudError(code, message, { kind: 'refusal', ...common });
}

/** Wraps anything thrown while talking to the cloud into a CloudError. */
export function toCloudError(err: unknown, what: string): CloudError {
  if (err instanceof CloudError) return err;
  if (err instanceof TillsyncError) {
    // A local failure (e.g. the log could not write a page): retry later.
    return new CloudError(err.code, err.message, { kind: 'retry', cause: err, ...(err.details ? { details: err.details } : {}) });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new CloudError('CLOUD_UNREACHABLE', `${what}: ${msg}`, { kind: 'retry', cause: err, details: { reason: 'network' } });
}

export function abortedError(reason: string): CloudError {
  return new CloudError('SYNC_ABORTED', `sync ${reason}`, { kind: 'aborted' });
}
