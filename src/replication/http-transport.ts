/**
 * `CloudTransport` over HTTP (Node's fetch) and WebSocket (`ws`).
 *
 * Bodies are msgpack both ways (`application/msgpack`; a JSON answer is also
 * read, e.g. from a proxy or an error handler). Each event travels as the msgpack
 * `bin` of its canonical bytes, so the cloud hashes exactly what the terminal
 * hashed. Every answer is size-bounded, decoded with the untrusted decoder and
 * validated with the protocol schemas; anything else becomes CLOUD_BAD_RESPONSE.
 */
import { Encoder } from '@msgpack/msgpack';
import WebSocket from 'ws';
import type { z } from 'zod';
import { decodeUntrusted } from '../events/codec.ts';
import { cloudDayAnswer } from '../events/day-summary.ts';
import { assertSafeShape } from '../events/validate.ts';
import { abortedError, CloudError, fromHttpStatus, toCloudError } from './cloud-error.ts';
import {
  checkResponse,
  feedPage,
  ownEventsPage,
  supportBundleAnswer,
  LIMITS,
  PROTOCOL_VERSION,
  serverMessage,
  storeDigest,
  syncState,
  uploadResponse,
  WS_CLOSE,
  type CheckResponse,
  type FeedPage,
  type OwnEventsPage,
  type StoreDigest,
  type SyncState,
  type UploadResponse,
} from './protocol.ts';
import { formatTerminalReport, REPORT_HEADER, type TerminalReportFields } from './terminal-report.ts';
import { systemTimers, type TimerHandle, type Timers } from './timers.ts';
import type { CheckEntry, CloudTransport, RequestOptions, StreamHandlers, Subscription } from './transport.ts';

export interface HttpTransportOptions {
  /** The cloud's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The terminal's bearer token. */
  token: string;
  /** Per-request timeout covering connect, upload and the whole answer (default 30 s). */
  timeoutMs?: number;
  /** Largest answer read, bytes (default 16 MiB). */
  maxResponseBytes?: number;
  /** A stream with no frame and no ping for this long is half-open: drop it (default 75 s). */
  streamIdleMs?: number;
  timers?: Timers;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** What the terminal holds, sent with every request as `x-tillsync-report` (terminal-report.ts); none when absent. */
  report?: () => TerminalReportFields | undefined;
}

const MSGPACK = 'application/msgpack';

export class HttpTransport implements CloudTransport {
  private readonly base: string;
  private token: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly streamIdleMs: number;
  private readonly timers: Timers;
  private readonly fetchImpl: typeof fetch;
  private readonly encoder = new Encoder({ ignoreUndefined: true });
  private report: (() => TerminalReportFields | undefined) | undefined;

  constructor(opts: HttpTransportOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 16 * 1024 * 1024;
    this.streamIdleMs = opts.streamIdleMs ?? 75_000;
    this.timers = opts.timers ?? systemTimers;
    this.fetchImpl = opts.fetch ?? fetch;
    this.report = opts.report;
  }

  /** Sets what the terminal reports about itself with each request (see HttpTransportOptions.report). */
  setReport(report: () => TerminalReportFields | undefined): void {
    this.report = report;
  }

  setCredential(token: string): void {
    this.token = token;
  }

  upload(events: readonly Uint8Array[], opts: RequestOptions = {}): Promise<UploadResponse> {
    return this.request('POST', '/v1/events', { v: PROTOCOL_VERSION, events }, uploadResponse, opts);
  }

  check(events: readonly CheckEntry[], opts: RequestOptions = {}): Promise<CheckResponse> {
    return this.request('POST', '/v1/events/check', { v: PROTOCOL_VERSION, events }, checkResponse, opts);
  }

  feed(since: number, limit: number, opts: RequestOptions = {}): Promise<FeedPage> {
    const qs = `since=${encodeURIComponent(since)}&limit=${encodeURIComponent(limit)}`;
    return this.request('GET', `/v1/feed?${qs}`, undefined, feedPage, opts);
  }

  syncState(opts: RequestOptions = {}): Promise<SyncState> {
    return this.request('GET', '/v1/sync-state', undefined, syncState, opts);
  }

  /** GET /v1/digest: the store's feed head and the digest of its downloaded data there (full resync). */
  digest(opts: RequestOptions = {}): Promise<StoreDigest> {
    return this.request('GET', '/v1/digest', undefined, storeDigest, opts);
  }

  /** GET /v1/events: this terminal's own events as the cloud stores them (recovery). */
  ownEvents(from: number, limit: number, opts: RequestOptions = {}): Promise<OwnEventsPage> {
    const qs = `from=${encodeURIComponent(from)}&limit=${encodeURIComponent(limit)}`;
    return this.request('GET', `/v1/events?${qs}`, undefined, ownEventsPage, opts);
  }

  /** GET /v1/days/:day: the cloud's summary of one business day of this terminal (end-of-day close). */
  day(day: string, q: { timeZone: string; from: number; to: number }, opts: RequestOptions = {}): Promise<z.infer<typeof cloudDayAnswer>> {
    const qs = `tz=${encodeURIComponent(q.timeZone)}&from=${q.from}&to=${q.to}&hashes=1`;
    return this.request('GET', `/v1/days/${encodeURIComponent(day)}?${qs}`, undefined, cloudDayAnswer, opts);
  }

  /** POST /v1/support-bundles: a support bundle for support to read on the cloud's dashboard. */
  sendSupportBundle(bundle: Record<string, unknown>, opts: RequestOptions = {}): Promise<z.infer<typeof supportBundleAnswer>> {
    return this.request('POST', '/v1/support-bundles', { v: 1, bundle }, supportBundleAnswer, opts);
  }

  private async request<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: S,
    opts: RequestOptions,
  ): Promise<z.infer<S>> {
    const outer = opts.signal;
    if (outer?.aborted) throw abortedError('aborted');
    const ctl = new AbortController();
    let timedOut = false;
    const timer = this.timers.setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error('timeout'));
    }, this.timeoutMs);
    const onAbort = (): void => ctl.abort(outer?.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: MSGPACK };
      const report = this.report?.();
      if (report) headers[REPORT_HEADER] = formatTerminalReport(report);
      let payload: Uint8Array | undefined;
      if (body !== undefined) {
        headers['content-type'] = MSGPACK;
        payload = this.encoder.encode(body).slice();
      }
      const res = await this.fetchImpl(`${this.base}${path}`, {
        method,
        headers,
        ...(payload ? { body: payload } : {}),
        signal: ctl.signal,
      });
      const raw = await readLimited(res, this.maxResponseBytes);
      const decoded = decodeBody(raw, res.headers.get('content-type'));
      if (!res.ok) {
        throw fromHttpStatus(res.status, decoded.ok ? decoded.value : undefined, retryAfter(res.headers.get('retry-after')));
      }
      if (!decoded.ok) {
        throw new CloudError('CLOUD_BAD_RESPONSE', `${method} ${path}: ${decoded.reason}`, { kind: 'retry', httpStatus: res.status });
      }
      const parsed = schema.safeParse(decoded.value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CloudError('CLOUD_BAD_RESPONSE', `${method} ${path}: answer does not match the protocol at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? ''}`, {
          kind: 'retry',
          httpStatus: res.status,
        });
      }
      return parsed.data as z.infer<S>;
    } catch (err) {
      if (outer?.aborted) throw abortedError('aborted');
      if (timedOut) {
        throw new CloudError('CLOUD_UNREACHABLE', `${method} ${path}: no answer within ${this.timeoutMs} ms`, {
          kind: 'retry',
          cause: err,
          details: { reason: 'timeout' },
        });
      }
      throw toCloudError(err, `${method} ${path}`);
    } finally {
      this.timers.clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }

  subscribe(handlers: StreamHandlers): Subscription {
    const url = `${this.base.replace(/^http/, 'ws')}/v1/stream`;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.token}` },
      maxPayload: LIMITS.maxFrameBytes,
      handshakeTimeout: this.timeoutMs,
    });
    let ended = false;
    let failure: CloudError | undefined;
    let idle: TimerHandle | undefined;
    const armIdle = (): void => {
      if (idle !== undefined) this.timers.clearTimeout(idle);
      idle = this.timers.setTimeout(() => {
        failure ??= new CloudError('CLOUD_UNREACHABLE', `stream silent for ${this.streamIdleMs} ms`, { kind: 'retry', details: { reason: 'timeout' } });
        ws.terminate();
      }, this.streamIdleMs);
    };
    const finish = (code: number, reason: string): void => {
      if (idle !== undefined) this.timers.clearTimeout(idle);
      if (ended) return;
      ended = true;
      const error = failure ?? closeCodeError(code, reason);
      handlers.onClose?.({ code, reason, ...(error ? { error } : {}) });
    };

    ws.on('open', () => {
      armIdle();
      if (!ended) handlers.onOpen?.();
    });
    ws.on('ping', armIdle);
    ws.on('message', (data, isBinary) => {
      armIdle();
      if (ended) return;
      const msg = parseFrame(data, isBinary);
      if (!msg) {
        failure = new CloudError('CLOUD_BAD_RESPONSE', 'stream sent a frame outside the protocol', { kind: 'retry' });
        ws.close(WS_CLOSE.badFrame, 'bad frame');
        return;
      }
      handlers.onMessage(msg);
    });
    ws.on('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on('end', () => {
        const decoded = decodeBody(new Uint8Array(Buffer.concat(chunks)), res.headers['content-type'] ?? null);
        failure = fromHttpStatus(res.statusCode ?? 0, decoded.ok ? decoded.value : undefined);
        req.destroy();
        finish(res.statusCode === 401 ? WS_CLOSE.unauthorized : res.statusCode === 403 ? WS_CLOSE.forbidden : 1006, `HTTP ${res.statusCode ?? 0}`);
      });
      res.on('error', () => finish(1006, 'upgrade answer failed'));
    });
    ws.on('error', (err) => {
      failure ??= toCloudError(err, 'stream');
    });
    ws.on('close', (code, reason) => finish(code, reason.toString('utf8')));

    return {
      close: () => {
        ended = true;
        if (idle !== undefined) this.timers.clearTimeout(idle);
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000, 'bye');
      },
    };
  }
}

async function readLimited(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > max) {
    await res.body?.cancel();
    throw new CloudError('CLOUD_BAD_RESPONSE', `answer of ${declared} bytes exceeds ${max}`, { kind: 'retry', httpStatus: res.status });
  }
  if (!res.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) throw new CloudError('CLOUD_BAD_RESPONSE', `answer exceeds ${max} bytes`, { kind: 'retry', httpStatus: res.status });
    parts.push(chunk);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

function decodeBody(raw: Uint8Array, contentType: string | null): Decoded {
  if (raw.byteLength === 0) return { ok: false, reason: 'empty answer' };
  try {
    if (contentType !== null && /json/i.test(contentType)) {
      const value: unknown = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
      assertSafeShape(value);
      return { ok: true, value };
    }
    return { ok: true, value: decodeUntrusted(raw) };
  } catch (err) {
    return { ok: false, reason: `unreadable answer (${err instanceof Error ? err.message : String(err)})` };
  }
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const secs = Number(header);
  return Number.isFinite(secs) && secs >= 0 ? Math.min(secs, 3600) * 1000 : undefined;
}

function parseFrame(data: WebSocket.RawData, isBinary: boolean): z.infer<typeof serverMessage> | undefined {
  if (isBinary) return undefined;
  try {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const value: unknown = JSON.parse(text);
    assertSafeShape(value);
    const parsed = serverMessage.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function closeCodeError(code: number, reason: string): CloudError | undefined {
  if (code === WS_CLOSE.unauthorized) {
    const revoked = /REVOKED/i.test(reason);
    return new CloudError(revoked ? 'CREDENTIAL_REVOKED' : 'UNAUTHORIZED', `stream closed: ${reason || 'unauthorized'}`, { kind: 'refusal', remoteCode: revoked ? 'CREDENTIAL_REVOKED' : 'UNAUTHORIZED' });
  }
  if (code === WS_CLOSE.forbidden) return new CloudError('FORBIDDEN', `stream closed: ${reason || 'forbidden'}`, { kind: 'refusal' });
  if (code === 1000) return undefined;
  return new CloudError('CLOUD_UNREACHABLE', `stream closed (${code}${reason ? ` ${reason}` : ''})`, { kind: 'retry' });
}
