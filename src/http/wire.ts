/**
 * HTTP wire format: body parsing (msgpack, JSON, CSV for imports), response
 * encoding by content negotiation, and the mapping of every failure to
 * `{ error: { code, message, details? } }` with the status from src/errors.ts.
 *
 * fastify's own parsers are removed: JSON goes through a nesting pre-scan (so a
 * hostile `[[[[...` cannot cost stack or time) and `assertSafeShape`
 * (`__proto__`, `constructor`, `prototype` refused); msgpack through
 * `decodeUntrusted`. Route schemas are zod, validated by `parseWith`
 * (route-schemas.ts), so nothing is stripped or coerced by ajv.
 *
 * A shared room: the cloud (src/server) and the terminal agent (src/terminal)
 * both speak this wire format, and neither of them imports the other.
 */
import { Encoder } from '@msgpack/msgpack';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, TillsyncError, isTillsyncError, type ErrorCode } from '../errors.ts';
import { assertNoCardData, holdsCardNumber } from '../events/card-data.ts';
import { decodeUntrusted } from '../events/codec.ts';
import { assertSafeShape, MAX_NESTING } from '../events/validate.ts';
import { LIMITS } from '../replication/protocol.ts';

export const MSGPACK = 'application/msgpack';
/** Imports may be larger than upload batches (a 100k-item catalog). */
export const IMPORT_BODY_LIMIT = 64 * 1024 * 1024;
const responseEncoder = new Encoder({ ignoreUndefined: true });

/** Throws NESTING_TOO_DEEP when brackets outside strings nest deeper than `max`. */
export function assertJsonDepth(text: string, max = MAX_NESTING): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) throw new TillsyncError('NESTING_TOO_DEEP', `nesting deeper than ${max}`);
    } else if (c === 93 || c === 125) depth--;
  }
}

export function parseJsonText(text: string): unknown {
  assertJsonDepth(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TillsyncError('JSON_MALFORMED', `malformed JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  assertSafeShape(value);
  return value;
}

export interface WireOptions {
  /** Maps an error of this server's own storage (LevelDB codes) to its documented code, before the generic mapping. */
  storageError?: (err: { code?: unknown }) => TillsyncError | undefined;
}

export function registerWire(app: FastifyInstance, opts: WireOptions = {}): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJsonText((body as Buffer).toString('utf8')));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, decodeUntrusted(body as Buffer, { maxBytes: LIMITS.maxBodyBytes }));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  // The card-data guard, for every route: params, query and a decoded body
  // (raw upload bytes are scanned by the upload itself; a route with
  // `config.cardData: 'rows'`, an import, checks each row and reports it by line).
  app.addHook('preValidation', async (req) => {
    assertNoCardData(req.params);
    assertNoCardData(req.query);
    const b = req.body;
    const perRow = (req.routeOptions.config as { cardData?: string } | undefined)?.cardData === 'rows';
    if (!perRow && b !== null && typeof b === 'object' && !(b instanceof Uint8Array)) assertNoCardData(b);
  });

  // Every answer names its request: a user quoting it finds the log lines (http/logging.ts).
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });

  app.setNotFoundHandler((req, reply) => {
    sendError(req, reply, new TillsyncError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`));
  });
  app.setErrorHandler((err: FastifyError | TillsyncError, req, reply) => {
    const mapped = (!isTillsyncError(err) && opts.storageError?.(err as { code?: unknown })) || toTillsyncError(err);
    if (mapped.status >= 500) {
      const stack = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
      if (holdsCardNumber(stack)) req.log.error({ code: mapped.code }, 'request failed (message withheld: it held a card-number-like digit run)');
      else req.log.error({ err }, 'request failed');
    }
    sendError(req, reply, mapped);
  });
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'JSON_MALFORMED',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
};

export function toTillsyncError(err: unknown): TillsyncError {
  if (isTillsyncError(err)) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  const code = e.code !== undefined ? FASTIFY_CODES[e.code] : undefined;
  if (code) return new TillsyncError(code, e.message ?? code, { cause: err });
  // Any other client error fastify raises (aborted body, bad header...) is bad input.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new TillsyncError(e.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED', e.message ?? 'bad request', { cause: err });
  }
  return new TillsyncError('INTERNAL_ERROR', 'internal error', { cause: err });
}

/** msgpack when the request body was msgpack or the client accepts it; JSON otherwise. */
export function wantsMsgpack(req: FastifyRequest): boolean {
  const ct = req.headers['content-type'];
  if (typeof ct === 'string' && ct.startsWith(MSGPACK)) return true;
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes(MSGPACK) && !/application\/json/.test(accept.split(MSGPACK)[0] ?? '');
}

export function send(req: FastifyRequest, reply: FastifyReply, payload: unknown, status = 200): FastifyReply {
  reply.code(status);
  if (wantsMsgpack(req)) {
    // Copy: the reused encoder may hand back a view over its own buffer.
    return reply.type(MSGPACK).send(Buffer.from(responseEncoder.encode(payload)));
  }
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(payload));
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * Details with every SHA-256 digest (64 lowercase hex) left out, for the card check:
 * a digest's digits are not a card notation, and a random digest may hold a 13-19-digit
 * run that passes Luhn (CHAIN_BROKEN's expected/found were then withheld, by chance).
 * A client-chosen digest-shaped value reaches only that client, in its own answer.
 */
function withoutDigests(v: unknown): unknown {
  if (typeof v === 'string') return HEX_DIGEST.test(v) ? '' : v;
  if (Array.isArray(v)) return v.map(withoutDigests);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutDigests(x)]));
  return v;
}

/** Sends an error; a message or details that may hold a card number (echoed input) are withheld. */
export function sendError(req: FastifyRequest, reply: FastifyReply, err: TillsyncError): FastifyReply {
  const status = ERRORS[err.code].status;
  const retry = err.details?.retryAfterSeconds;
  if (typeof retry === 'number' && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(retry));
  // A server error names its request id: the log lines of that request carry it too.
  const requestId = status >= 500 ? { requestId: String(req.id) } : {};
  const body = err.toJSON();
  if (holdsCardNumber(body.error.message) || holdsCardNumber(withoutDigests(body.error.details))) {
    return send(req, reply, { error: { code: err.code, message: `${err.code}: message withheld (it held a card-number-like digit run)`, ...requestId } }, status);
  }
  return send(req, reply, { error: { ...body.error, ...requestId } }, status);
}
