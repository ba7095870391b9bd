/**
 * msgpack codec for disk and wire.
 *
 * - `encodeCanonical` sorts map keys, so one event has exactly one byte form;
 *   its SHA-256 is the event's hash and the next event's `prev`.
 * - `decodeUntrusted` is for anything from outside the process (HTTP bodies,
 *   WebSocket frames, files): explicit limits on string, binary, array and map
 *   lengths; `__proto__` keys are refused by the decoder itself; nesting and the
 *   other forbidden keys are checked by `assertSafeShape` afterwards (the decoder
 *   is iterative, so depth cannot overflow the stack while decoding).
 * - `decodeTrusted` reads our own records back from LevelDB; integrity there is
 *   guarded by the hash chain, not by these limits.
 *
 * Encoder/Decoder instances are reused (much faster than the bare functions).
 * `encodeCanonical` writes with the faster canonical-writer.ts when it can and
 * with the library's sorting encoder otherwise: the same bytes either way.
 */
import { hash } from 'node:crypto';
import { Decoder, DecodeError, Encoder } from '@msgpack/msgpack';
import { TillsyncError } from '../errors.ts';
import { writeCanonical } from './canonical-writer.ts';
import { assertSafeShape } from './validate.ts';

export const LIMITS = {
  maxStrLength: 64 * 1024,
  maxBinLength: 1024 * 1024,
  maxArrayLength: 10_000,
  maxMapLength: 256,
  maxExtLength: 0,
} as const;

export const GENESIS_HASH = '0'.repeat(64);

const canonicalEncoder = new Encoder({ sortKeys: true, ignoreUndefined: true });
const untrustedDecoder = new Decoder(LIMITS);
const trustedDecoder = new Decoder();

/**
 * The canonical bytes of `value`. Usually a view of a shared 64 KiB slab
 * (canonical-writer.ts): never transfer or detach its `.buffer`, which other
 * values share, and `slice()` a copy of anything small kept for long (a kept
 * view keeps its whole slab alive).
 */
export function encodeCanonical(value: unknown): Uint8Array {
  return writeCanonical(value) ?? canonicalEncoder.encode(value);
}

export function decodeTrusted<T = unknown>(bytes: Uint8Array): T {
  return trustedDecoder.decode(bytes) as T;
}

/** Decodes bytes from outside; throws MSGPACK_MALFORMED / PAYLOAD_TOO_LARGE / FORBIDDEN_KEY / NESTING_TOO_DEEP. */
export function decodeUntrusted(bytes: Uint8Array, limits?: { maxBytes?: number; maxDepth?: number }): unknown {
  if (limits?.maxBytes !== undefined && bytes.byteLength > limits.maxBytes) {
    throw new TillsyncError('PAYLOAD_TOO_LARGE', `payload of ${bytes.byteLength} bytes exceeds ${limits.maxBytes}`);
  }
  let value: unknown;
  try {
    value = untrustedDecoder.decode(bytes);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/__proto__/.test(msg)) throw new TillsyncError('FORBIDDEN_KEY', 'key "__proto__" is not accepted', { cause: err });
    if (err instanceof DecodeError && /Max length exceeded/.test(msg)) {
      throw new TillsyncError('PAYLOAD_TOO_LARGE', msg, { cause: err });
    }
    throw new TillsyncError('MSGPACK_MALFORMED', `malformed msgpack: ${msg}`, { cause: err });
  }
  assertSafeShape(value, limits?.maxDepth);
  return value;
}

/** SHA-256 as lowercase hex, in one native call (no Hash object per event). */
export function sha256Hex(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex');
}
