/**
 * Reads an event's type off the tail of its canonical bytes, without decoding.
 * `type` and `v` are the envelope's last two keys (keys sort body, id, prev,
 * seq, store, terminal, time, type, v), so a canonical event ends with the
 * bytes `"type", "<type>", "v", EVENT_SCHEMA_VERSION`. A few byte compares per
 * event: cheap enough for the upload hot path (the cloud's event-scan.ts reads
 * the type the same way).
 */
import { EVENT_SCHEMA_VERSION } from './event-types.ts';

/** A short ASCII key or word as canonical msgpack bytes: fixstr header + ASCII. */
const fixstr = (s: string): number[] => [0xa0 | s.length, ...Buffer.from(s, 'latin1')];

/** The last bytes of every canonical event of `type`. */
export function typeTail(type: string): Uint8Array {
  return Uint8Array.from([...fixstr('type'), ...fixstr(type), ...fixstr('v'), EVENT_SCHEMA_VERSION]);
}

/** Whether the canonical bytes `b` end with `tail` (see `typeTail`). */
export function endsWith(b: Uint8Array, tail: Uint8Array): boolean {
  const at = b.byteLength - tail.byteLength;
  if (at < 0) return false;
  for (let i = tail.byteLength - 1; i >= 0; i--) if (b[at + i] !== tail[i]) return false;
  return true;
}

const PAYMENT = typeTail('payment.taken');
const DELTA = typeTail('balance.delta');
const REDEEMED = typeTail('voucher.redeemed');

/**
 * Whether a cut between the adjacent events `a` and `b` (canonical bytes)
 * could fall inside a sale's atomic group (SPEC: sale.completed, its
 * payment.taken events, each stored-value payment directly followed by its
 * balance.delta / voucher.redeemed — the cloud's `saleGroupEnd`). Judged by
 * type alone, so it errs toward "inside" (a lone delta right after a payment
 * is kept with it); keeping two groups together is harmless, splitting one is not.
 */
export function continuesGroup(a: Uint8Array, b: Uint8Array): boolean {
  if (endsWith(b, PAYMENT)) return true;
  return (endsWith(b, DELTA) || endsWith(b, REDEEMED)) && endsWith(a, PAYMENT);
}
