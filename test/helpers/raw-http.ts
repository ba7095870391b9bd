/**
 * Raw HTTP/1.1 over a TCP socket, for requests no HTTP client would send:
 * bytes that are not valid percent-encoding or not ASCII in the path, broken
 * request lines, oversized headers, lying Content-Lengths, trickled bodies.
 * Every call has its own deadline and says what did not happen.
 */
import { connect, type Socket } from 'node:net';
import { decode } from '@msgpack/msgpack';
import { ERRORS } from '../../src/errors.ts';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses one HTTP/1.1 response (Content-Length, chunked, or to the end of the connection). */
export function parseResponse(data: Buffer): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = data.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = data.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const nl = body.indexOf('\r\n', pos);
      if (nl < 0) break;
      const size = parseInt(body.subarray(pos, nl).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(nl + 2, nl + 2 + size));
      pos = nl + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  return { status: Number(m[1]), headers, body };
}

/**
 * Sends `request` (the whole request, bytes as given) on a fresh connection and
 * reads the answer until the server closes it or the answer is complete.
 * Resolves undefined when the server closed the connection without an answer.
 */
export function rawRequest(port: number, request: Buffer | string, timeoutMs = 10_000): Promise<RawResponse | undefined> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (v: RawResponse | undefined, err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(v);
    };
    const timer = setTimeout(() => finish(undefined, new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(String(request).slice(0, 80))}`)), timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const r = parseResponse(all);
      // Complete when its declared length has arrived (the server may keep the connection open).
      if (r && r.headers['content-length'] !== undefined && r.body.length >= Number(r.headers['content-length'])) finish(r);
    });
    socket.on('error', () => finish(parseResponse(Buffer.concat(chunks))));
    socket.on('close', () => finish(parseResponse(Buffer.concat(chunks))));
  });
}

/** A request line + headers for `method path` (path bytes as given, latin1), with an optional body. */
export function requestBytes(method: string, path: string | Buffer, headers: Record<string, string> = {}, body?: Buffer | string): Buffer {
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h = { host: '127.0.0.1', connection: 'close', ...(b ? { 'content-length': String(b.length) } : {}), ...headers };
  const head = Buffer.concat([
    Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(path) ? path : Buffer.from(path, 'latin1'), Buffer.from(' HTTP/1.1\r\n', 'latin1'),
    Buffer.from(Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join(''), 'latin1'), Buffer.from('\r\n'),
  ]);
  return b ? Buffer.concat([head, b]) : head;
}

/** The body of an answer: msgpack or JSON by its content type; raw text otherwise. */
export function answerBody(res: RawResponse): unknown {
  const ct = res.headers['content-type'] ?? '';
  try {
    if (ct.startsWith('application/msgpack')) return decode(res.body);
    if (ct.startsWith('application/json')) return JSON.parse(res.body.toString('utf8'));
  } catch {
    return undefined;
  }
  return res.body.toString('latin1');
}

/**
 * Why a failure breaks the error contract, or undefined when it keeps it: a body
 * that is not `{ error: { code, message } }`, a code not in src/errors.ts, or a
 * status other than the code's. (Whether a 5xx is acceptable is the caller's call.)
 */
export function contractViolation(status: number, body: unknown): string | undefined {
  if (status < 400) return undefined;
  const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') return `status ${status} without {error:{code,message}}`;
  if (!Object.hasOwn(ERRORS, e.code)) return `undocumented code ${e.code}`;
  const want = ERRORS[e.code as keyof typeof ERRORS].status;
  if (want !== status) return `${e.code} answered with ${status}, registry says ${want}`;
  return undefined;
}
