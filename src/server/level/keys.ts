/**
 * The cloud LevelDB's keys and the small binary values kept in them: which
 * sublevel holds each record kind and where it sits in the key space
 * (KEY_ORDER), the id index's flipped keys (`flipId`) and its entries
 * (`encodeIdEntry`). Pure functions; no database here.
 */
import { TillsyncError } from '../../errors.ts';
import type { EventRef } from '../storage.ts';

export const KINDS = [
  'stores', 'counters', 'terminals', 'credentials', 'highWater', 'events', 'quarantine', 'ids',
  'feed', 'balances', 'vouchers', 'items', 'customers', 'exceptions', 'supportBundles',
] as const;
export type Kind = (typeof KINDS)[number];

/**
 * Where each kind sits in the key space (a digit before its sublevel name).
 * Every commit appends to events (the bulk of the bytes) and to the smaller id
 * index and feed, and rewrites a few hot records. LevelDB moves a table down a
 * level without rewriting it only when no table below overlaps its key span;
 * otherwise it merges the two. Tables are cut by size, not by sublevel, so the
 * table holding the end of one stream also holds the start of the next: new
 * keys appended to a stream with another one after it land in that table's
 * span and rewrite it every time (with events first, every event was written
 * ~2x more by compaction from level 1 down). So the two big streams sit at the
 * two ends of the key space, growing outwards: the events last, in ascending
 * seq order, and the id index first, its keys written so that the newest ids
 * (ULIDs: time first) sort first (`flipId`). Tables of new events and of
 * new ids then overlap nothing below and move down as they are. At 1M events
 * (bench/tools/apply-cost.ts), compaction wrote 334 MB instead of 490.
 */
export const KEY_ORDER: Record<Kind, string> = {
  ids: '0', feed: '3', quarantine: '4',
  stores: '5', counters: '5', terminals: '5', credentials: '5', highWater: '5',
  balances: '5', vouchers: '5', items: '5', customers: '5', exceptions: '5', supportBundles: '5',
  events: '9',
};

/** Upper bound for a prefix range: '/' + 1 = '0'. */
export const range = (prefix: string) => ({ gt: `${prefix}/`, lt: `${prefix}0` });

/**
 * The by-id index value: `[seq: float64 BE][hash: 32 bytes][terminal: UTF-8]`
 * (41 + 1..64 bytes; the msgpack of `{ terminal, seq, hash }` with the hash in
 * hex was ~95). Kept small because the id index is the stream compaction still
 * rewrites (see KEY_ORDER). Commits write it through `EventScratch`.
 */
export function encodeIdEntry(terminal: string, seq: number, hash: string): Uint8Array {
  const b = Buffer.allocUnsafe(ID_FIXED + 3 * terminal.length);
  return b.subarray(0, writeIdEntry(b, 0, terminal, seq, hash));
}

/** Writes `encodeIdEntry`'s value at `at` (room for ID_FIXED + 3 × terminal.length bytes); answers where it ends. */
function writeIdEntry(b: Buffer, at: number, terminal: string, seq: number, hash: string): number {
  writeIdEntryHead(b, at, seq, hash);
  return at + ID_FIXED + b.write(terminal, at + ID_FIXED, 'utf8');
}

/** The fixed part of `encodeIdEntry`'s value (seq, hash) at `at`. */
export function writeIdEntryHead(b: Buffer, at: number, seq: number, hash: string): void {
  if (!isHex64(hash)) throw new Error(`event hash ${hash} is not 64 lower-case hex digits`);
  b.writeDoubleBE(seq, at);
  b.write(hash, at + 8, 32, 'hex');
}

export const ID_FIXED = 8 + 32;

/**
 * The id index's key for an event id, so that later ULIDs (time first) sort
 * first (see KEY_ORDER): each character c from '-' to '}' as 0xAA - c (in the
 * same span; ULIDs and ENTITY_RE's characters flip to '0' to '}', never '/'),
 * any other UTF-16 unit as '~' and its four hex digits. ASCII, one-to-one, and
 * `unflipId` gives the id back.
 */
export function flipId(id: string): string {
  // Usually every character is in the span: flipped in a buffer, made one flat string at once.
  if (id.length <= FLIP_SCRATCH.length) {
    let i = 0;
    for (; i < id.length; i++) {
      const c = id.charCodeAt(i);
      if (c < FLIP_LOW || c > FLIP_HIGH) break;
      FLIP_SCRATCH[i] = FLIP_SUM - c;
    }
    if (i === id.length) return FLIP_SCRATCH.toString('latin1', 0, i);
  }
  let out = '';
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    out += c >= FLIP_LOW && c <= FLIP_HIGH ? String.fromCharCode(FLIP_SUM - c) : flipEscape(c);
  }
  return out;
}
const FLIP_SCRATCH = Buffer.allocUnsafe(128);

/** The id `flipId` made `key` from. */
export function unflipId(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === ESCAPE) {
      out += String.fromCharCode(parseInt(key.slice(i + 1, i + 5), 16));
      i += 4;
    } else out += String.fromCharCode(FLIP_SUM - c);
  }
  return out;
}

export const FLIP_LOW = 0x2d; // '-'
export const FLIP_HIGH = 0x7d; // '}'
export const FLIP_SUM = FLIP_LOW + FLIP_HIGH;
const ESCAPE = 0x7e; // '~', outside the flipped span
/** Most bytes `flipId` makes of one character. */
export const FLIPPED_MAX = 5;
export function flipEscape(c: number): string {
  return `~${c.toString(16).padStart(4, '0')}`;
}

/** `<store>/<id>` (an id key of layout version 1) → `<store>/<flipId(id)>`. */
export function flipIdKey(key: string): string {
  const at = key.indexOf('/') + 1;
  return key.slice(0, at) + flipId(key.slice(at));
}
/** /^[0-9a-f]{64}$/ without the regex engine (it showed in the upload's profile). */
function isHex64(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Reads `encodeIdEntry`'s value. */
export function decodeIdEntry(raw: Uint8Array): EventRef {
  const b = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (b.byteLength <= ID_FIXED) throw new TillsyncError('STORAGE_FAILED', `id index entry of ${b.byteLength} bytes is too short`);
  return { seq: b.readDoubleBE(0), hash: b.toString('hex', 8, ID_FIXED), terminal: b.toString('utf8', ID_FIXED) };
}

