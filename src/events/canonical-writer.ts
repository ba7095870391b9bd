/**
 * A faster writer of the canonical msgpack form: the exact bytes that
 * @msgpack/msgpack's `Encoder({ sortKeys: true, ignoreUndefined: true })`
 * makes, for the values events and records are made of (plain objects,
 * arrays, strings, numbers, booleans, null, undefined, Uint8Array).
 *
 * Why: encoding is the largest CPU cost of an append. This writer hands out
 * views of a shared slab instead of a copy per value, writes map keys from a
 * cache of their encoded bytes (the same few dozen keys repeat in every event),
 * ASCII strings with a plain loop, and sorts the small key lists by insertion
 * (the built-in sort's setup cost more than the rest of a map).
 *
 * Anything it does not handle exactly like the library (other objects, Dates,
 * typed arrays other than Uint8Array, strings with lone surrogates, depth over
 * the library's limit) makes `writeCanonical` return undefined, and the caller
 * uses the library encoder for the whole value. A seeded test compares both
 * on fixture events and random values (test/events/canonical-writer.test.ts).
 */

const MAX_DEPTH = 100; // the library's default maxDepth
const KEY_CACHE_LIMIT = 1024;

class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('not handled by the fast writer');

/*
 * Values are written straight into a slab (like Node's Buffer pool) and handed
 * out as views of it: no copy per value. A slab is replaced when full; views
 * of the old one keep it alive until they are gone. `start` is where the value
 * being written begins, `pos` the write position.
 */
const SLAB = 64 * 1024;
let buf = newSlab(SLAB);
let start = 0;
let pos = 0;
const keyCache = new Map<string, Uint8Array>();

function newSlab(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size));
}

function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  const written = pos - start;
  const next = newSlab(Math.max(SLAB, (written + n) * 2));
  buf.copy(next, 0, start, pos);
  buf = next;
  start = 0;
  pos = written;
}

function writeUint(v: number): void {
  ensure(9);
  if (v < 0x80) buf[pos++] = v;
  else if (v < 0x100) {
    buf[pos++] = 0xcc;
    buf[pos++] = v;
  } else if (v < 0x10000) {
    buf[pos++] = 0xcd;
    pos = buf.writeUInt16BE(v, pos);
  } else if (v < 0x100000000) {
    buf[pos++] = 0xce;
    pos = buf.writeUInt32BE(v, pos);
  } else {
    buf[pos++] = 0xcf;
    pos = buf.writeUInt32BE(Math.floor(v / 0x100000000), pos);
    pos = buf.writeUInt32BE(v >>> 0, pos);
  }
}

function writeNegInt(v: number): void {
  ensure(9);
  if (v >= -0x20) buf[pos++] = 0xe0 | (v + 0x20);
  else if (v >= -0x80) {
    buf[pos++] = 0xd0;
    pos = buf.writeInt8(v, pos);
  } else if (v >= -0x8000) {
    buf[pos++] = 0xd1;
    pos = buf.writeInt16BE(v, pos);
  } else if (v >= -0x80000000) {
    buf[pos++] = 0xd2;
    pos = buf.writeInt32BE(v, pos);
  } else {
    // int 64 as the library writes it: high word floor(v / 2^32), low word v >>> 0
    buf[pos++] = 0xd3;
    pos = buf.writeInt32BE(Math.floor(v / 0x100000000), pos);
    pos = buf.writeUInt32BE(v >>> 0, pos);
  }
}

function writeNumber(v: number): void {
  if (Number.isSafeInteger(v)) {
    if (v >= 0) writeUint(v);
    else writeNegInt(v);
    return;
  }
  ensure(9);
  buf[pos++] = 0xcb;
  pos = buf.writeDoubleBE(v, pos);
}

function writeStrHeader(byteLength: number): void {
  if (byteLength < 32) buf[pos++] = 0xa0 + byteLength;
  else if (byteLength < 0x100) {
    buf[pos++] = 0xd9;
    buf[pos++] = byteLength;
  } else if (byteLength < 0x10000) {
    buf[pos++] = 0xda;
    pos = buf.writeUInt16BE(byteLength, pos);
  } else {
    buf[pos++] = 0xdb;
    pos = buf.writeUInt32BE(byteLength, pos);
  }
}

function writeString(s: string): void {
  const n = s.length;
  ensure(5 + n * 3);
  const at = pos;
  if (n < 0x100) {
    // Optimistic ASCII: header sized by the string's length, bytes by a loop.
    pos += n < 32 ? 1 : 2;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        pos = at;
        writeNonAscii(s);
        return;
      }
      buf[pos++] = c;
    }
    if (n < 32) buf[at] = 0xa0 + n;
    else {
      buf[at] = 0xd9;
      buf[at + 1] = n;
    }
    return;
  }
  writeNonAscii(s);
}

/** ES2024, in Node 20; the project's lib setting is older. */
type WellFormedCheck = { isWellFormed(): boolean };

/** Any string: well-formed UTF-16 has one UTF-8 form, the library's; lone surrogates go to the library. */
function writeNonAscii(s: string): void {
  if (!(s as unknown as WellFormedCheck).isWellFormed()) throw UNSUPPORTED;
  const byteLength = Buffer.byteLength(s, 'utf8');
  ensure(5 + byteLength);
  writeStrHeader(byteLength);
  pos += buf.write(s, pos, byteLength, 'utf8');
}

function writeKey(k: string): void {
  let bytes = keyCache.get(k);
  if (bytes === undefined) {
    const offset = pos - start; // writeString may move the value to a new slab
    writeString(k);
    bytes = new Uint8Array(buf.subarray(start + offset, pos)); // a copy: the cache outlives the slab
    if (keyCache.size < KEY_CACHE_LIMIT) keyCache.set(k, bytes);
    return;
  }
  const n = bytes.length;
  ensure(n);
  for (let i = 0; i < n; i++) buf[pos + i] = bytes[i]!;
  pos += n;
}

function writeContainerHeader(n: number, fix: number, b16: number, b32: number): void {
  ensure(5);
  if (n < 16) buf[pos++] = fix + n;
  else if (n < 0x10000) {
    buf[pos++] = b16;
    pos = buf.writeUInt16BE(n, pos);
  } else {
    buf[pos++] = b32;
    pos = buf.writeUInt32BE(n, pos);
  }
}

/**
 * In place, in the order of `Array.prototype.sort()` without a comparator
 * (UTF-16 code units, which is what `<` compares for strings). Insertion sort:
 * maps here are small and often already in order, where it is linear and far
 * cheaper than the built-in sort's setup.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 32) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
}

function writeValue(v: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw UNSUPPORTED;
  switch (typeof v) {
    case 'string':
      writeString(v);
      return;
    case 'number':
      writeNumber(v);
      return;
    case 'boolean':
      ensure(1);
      buf[pos++] = v ? 0xc3 : 0xc2;
      return;
    case 'undefined':
      ensure(1);
      buf[pos++] = 0xc0;
      return;
    case 'object':
      break;
    default:
      throw UNSUPPORTED;
  }
  if (v === null) {
    ensure(1);
    buf[pos++] = 0xc0;
    return;
  }
  if (Array.isArray(v)) {
    writeContainerHeader(v.length, 0x90, 0xdc, 0xdd);
    for (let i = 0; i < v.length; i++) writeValue(v[i], depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Object.prototype || proto === null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length > 1) sortKeys(keys);
    let n = 0;
    for (let i = 0; i < keys.length; i++) if (o[keys[i]!] !== undefined) n++;
    writeContainerHeader(n, 0x80, 0xde, 0xdf);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const x = o[k];
      if (x === undefined) continue;
      writeKey(k);
      writeValue(x, depth + 1);
    }
    return;
  }
  if (v instanceof Uint8Array) {
    const size = v.byteLength;
    ensure(5 + size);
    if (size < 0x100) {
      buf[pos++] = 0xc4;
      buf[pos++] = size;
    } else if (size < 0x10000) {
      buf[pos++] = 0xc5;
      pos = buf.writeUInt16BE(size, pos);
    } else {
      buf[pos++] = 0xc6;
      pos = buf.writeUInt32BE(size, pos);
    }
    buf.set(v, pos);
    pos += size;
    return;
  }
  throw UNSUPPORTED;
}

/**
 * The canonical bytes of `value` as a new Uint8Array, or undefined when the
 * value holds something this writer leaves to the library.
 */
export function writeCanonical(value: unknown): Uint8Array | undefined {
  start = pos;
  try {
    writeValue(value, 1);
  } catch (err) {
    pos = start;
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
  const out = new Uint8Array(buf.buffer, start, pos - start);
  start = pos;
  return out;
}
