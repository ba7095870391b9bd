/**
 * The error contract for the answers fastify gives before any route or error
 * handler runs, shared by the cloud (src/server/app.ts) and the terminal agent
 * (src/terminal/agent.ts).
 *
 * The wire module maps everything a route, hook or body parser throws to
 * `{ error: { code, message } }`. A few answers never reach it: a path with
 * malformed percent-encoding (`/v1/admin/stores/%ff%fe`), a path parameter
 * longer than the router allows, bytes the HTTP parser refuses (a bad request
 * line, oversized headers, a header timeout), and the 503 fastify writes itself
 * while closing. Each of those had fastify's own body and an undocumented code
 * (`FST_ERR_BAD_URL`, 414, ...). `errorContract()` returns the fastify options
 * that send them through the contract instead: every answer of every route is
 * `{ error: { code, message } }` with a code from src/errors.ts and its status.
 *
 * Use: `fastify({ ...errorContract(), ...rest })`. Framework errors are always
 * answered in JSON: they happen before a route (and its format) is known.
 */
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { ERRORS, TillsyncError, type ErrorCode } from '../errors.ts';

/** Longest path parameter the router matches (fastify's default): longer ones are refused as bad input. */
export const MAX_PARAM_LENGTH = 100;
/** Longest path quoted back in an error message. */
const QUOTE_CHARS = 120;

/** The contract body of an error. */
export function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** A complete raw HTTP/1.1 error answer, for sockets no fastify reply exists for (client errors, refused upgrades). */
export function rawErrorResponse(code: ErrorCode, message: string): string {
  const body = errorBody(code, message);
  const status = ERRORS[code].status;
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 507: 'Insufficient Storage',
};

/** A path for a message: bounded, and printable ASCII only (the bytes that made it bad are escaped). */
export function quotePath(path: string): string {
  const cut = path.length > QUOTE_CHARS ? `${path.slice(0, QUOTE_CHARS)}…` : path;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The code and message a framework error (raised before any route ran) is answered with. */
export function frameworkError(err: FastifyError, path: string): TillsyncError {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return new TillsyncError('VALIDATION_FAILED', `the path is not valid percent-encoded UTF-8: ${quotePath(path)}`);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new TillsyncError('VALIDATION_FAILED', `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`);
    default:
      return new TillsyncError('VALIDATION_FAILED', `the request was refused before routing (${err.code ?? 'unknown'})`);
  }
}

function sendFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const mapped = frameworkError(err, req.raw.url ?? '');
  void reply.code(mapped.status).type('application/json; charset=utf-8').send(errorBody(mapped.code, mapped.message));
}

/** What the HTTP parser refused, as a contract answer (undefined: nothing can or needs to be written). */
export function clientErrorAnswer(err: NodeJS.ErrnoException): string | undefined {
  if (err.code === 'ECONNRESET') return undefined;
  if (err.code === 'HPE_HEADER_OVERFLOW') return rawErrorResponse('PAYLOAD_TOO_LARGE', 'the request headers are too large');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return rawErrorResponse('VALIDATION_FAILED', 'the request was not received in time');
  return rawErrorResponse('VALIDATION_FAILED', 'the request is not valid HTTP');
}

function handleClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (socket.destroyed) return;
  const answer = clientErrorAnswer(err);
  // A request already being answered (bytes on the wire) gets no second answer.
  if (answer !== undefined && socket.writable && !(socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.end(answer);
  } else socket.destroy();
}

/**
 * fastify options that keep framework answers inside the contract.
 * `return503OnClosing` is off: fastify's own 503 body is not the contract, and
 * a request arriving while the server drains is answered by its route (the
 * storage or log then refuses with its documented code: STORAGE_CLOSED, LOG_CLOSED).
 */
export function errorContract(): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler' | 'return503OnClosing'> {
  return {
    frameworkErrors: sendFrameworkError as NonNullable<FastifyServerOptions['frameworkErrors']>,
    clientErrorHandler: handleClientError,
    return503OnClosing: false,
  };
}

const recorded = new WeakMap<FastifyInstance, Array<{ method: string; url: string }>>();

/**
 * Records every route registered on `app` from now on (HEAD routes fastify adds
 * are left out), so the error-contract test and the fuzzer walk all of them and
 * a new route cannot be forgotten. Returns `app`.
 */
export function recordRoutes<T extends FastifyInstance>(app: T): T {
  const list: Array<{ method: string; url: string }> = [];
  recorded.set(app, list);
  app.addHook('onRoute', (route) => {
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) if (m !== 'HEAD') list.push({ method: m, url: route.url });
  });
  return app;
}

/** The routes `recordRoutes` saw on `app`. */
export function recordedRoutes(app: FastifyInstance): Array<{ method: string; url: string }> {
  return [...(recorded.get(app) ?? [])];
}
