/**
 * The minimum receive rate of an admitted upload body (issue 15, 1.4).
 *
 * An admitted body holds part of the shared upload budget (body-budget.ts)
 * until it is fully received. A client that declares 8 MiB and sends a byte a
 * second would hold it for days; the read timeout alone (30 s) still lets one
 * credential reconnect and hold it again and again. So once admitted, a body
 * must keep arriving: after `graceMs`, at least `minBytesPerSecond` on average
 * since admission. A slower body is cut: its request fails with
 * UPLOAD_TOO_SLOW (408, `Connection: close`), which releases its budget at once.
 * Progress is read from the socket's byte counter, so the body stream itself
 * is not touched (fastify reads it as usual).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TillsyncError } from '../errors.ts';

export interface ReceiveRateOptions {
  /** Bytes per second an admitted body must average once the grace is over. */
  minBytesPerSecond: number;
  /** Time after admission before the rate is enforced, ms. */
  graceMs: number;
  /** How often progress is checked, ms. Default min(graceMs, 1000). */
  checkMs?: number;
}

/** Defaults: 4 KiB/s (a 32 kbit/s link) after 3 s. A byte-a-second trickle is cut within ~4 s. */
export const DEFAULT_RECEIVE_RATE: ReceiveRateOptions = { minBytesPerSecond: 4096, graceMs: 3000 };

/**
 * Watches the body of `req` from now on; returns the function that stops
 * watching (call it once the body is received). Also stops when the answer
 * is done or the connection closes.
 */
export function watchReceiveRate(req: FastifyRequest, reply: FastifyReply, opts: ReceiveRateOptions, now: () => number = Date.now): () => void {
  const socket = req.raw.socket;
  const startBytes = socket.bytesRead;
  const start = now();
  const timer = setInterval(() => {
    const elapsed = now() - start;
    if (elapsed <= opts.graceMs) return;
    const received = socket.bytesRead - startBytes;
    if (received >= (opts.minBytesPerSecond * (elapsed - opts.graceMs)) / 1000) return;
    stop();
    if (reply.sent || socket.destroyed) return;
    // The answer closes the connection: the rest of the body is never read.
    void reply.header('connection', 'close');
    req.raw.emit('error', new TillsyncError('UPLOAD_TOO_SLOW', `upload body arrived at less than ${opts.minBytesPerSecond} bytes/s: cut`, {
      details: { receivedBytes: received, elapsedMs: elapsed, minBytesPerSecond: opts.minBytesPerSecond },
    }));
  }, Math.max(10, opts.checkMs ?? Math.min(opts.graceMs, 1000)));
  timer.unref();
  const stop = () => clearInterval(timer);
  reply.raw.once('close', stop);
  return stop;
}
