/**
 * Which event ids a store may already hold: a Bloom filter over the store's
 * by-id index (level-storage.ts), so that the id of a NEW event, which is
 * almost never held, is not looked up on disk. An upload looks up every id
 * of its batch (a resent event to tell a duplicate from a conflict, a new one
 * so that no id is stored twice); with LevelDB each lookup of an absent id
 * still reads a filter block of every table that might hold it, and its
 * misses count towards LevelDB's seek-triggered compactions.
 *
 * Guarantees: no false negatives. `mayHold` answers false only for an id that
 * was never `add`ed and is not in the index the filter was `load`ed from;
 * until `loaded()` is called, and once the filter has reached its memory
 * limit, it answers true for every id (look it up). False positives (~0.5%
 * of new ids with 1M held) cost a lookup, nothing else.
 *
 * Speed: every segment is asked about a new id, and in a filter of megabytes
 * each probe is a cache miss, so the segments are split block Bloom filters
 * (as Parquet's: the 8 bits of an id in one 32-byte block, one per word) and
 * grow four times at a step: a new id costs one miss per segment, and 1M ids
 * need 5 segments. With 1M ids held: ~390 ns per lookup of a new id, of
 * which ~180 hash it, against ~600 with 8 bits spread over each of 9
 * doubling segments (the adds cost ~280 ns either way).
 *
 * Memory: segments of at least 12 bits per id (rounded up to a power of two:
 * 16), the first for 4096 ids (8 KiB), each next one for four times as many
 * (a store of 1M ids has 5 of them, ~2.7 MiB; the sixth, from 1.36M ids,
 * adds 8 MiB); past MAX_BYTES in all the filter stops growing and answers
 * true from then on.
 */

const BITS_PER_ID = 12;
/** Each segment is this many times the size of the one before. */
const GROWTH = 4;
/** Parquet's split block Bloom filter salts: bit i of a block is word i's bit (h2 × SALT[i]) >>> 27. */
const SALT = new Int32Array([0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31]);
/** Small, so that a cloud of many small stores pays little: 8 KiB each. */
const FIRST_CAPACITY = 1 << 12;
/** Per store. */
const MAX_BYTES = 64 * 1024 * 1024;

/** A split block Bloom filter: h1 picks a block of 8 words, h2 one bit in each. */
class Segment {
  readonly words: Int32Array;
  /** Blocks - 1 (a power of two). */
  readonly blockMask: number;
  count = 0;
  constructor(readonly capacity: number) {
    const bits = capacity * BITS_PER_ID; // a power of two times 12: round up to a power of two
    const size = 2 ** Math.ceil(Math.log2(bits));
    this.words = new Int32Array(size / 32);
    this.blockMask = size / 256 - 1;
  }
  add(h1: number, h2: number): void {
    const w = this.words;
    const at = (h1 & this.blockMask) << 3;
    for (let i = 0; i < 8; i++) w[at + i]! |= 1 << (Math.imul(h2, SALT[i]!) >>> 27);
    this.count++;
  }
  has(h1: number, h2: number): boolean {
    const w = this.words;
    const at = (h1 & this.blockMask) << 3;
    for (let i = 0; i < 8; i++) if ((w[at + i]! & (1 << (Math.imul(h2, SALT[i]!) >>> 27))) === 0) return false;
    return true;
  }
}

export class IdFilter {
  private readonly segments: Segment[] = [new Segment(FIRST_CAPACITY)];
  private bytes = this.segments[0]!.words.byteLength;
  private isLoaded = false;
  private isFull = false;

  constructor(private readonly maxBytes = MAX_BYTES) {}

  /** Ids added so far (tests, logs). */
  get size(): number {
    return this.segments.reduce((n, s) => n + s.count, 0);
  }

  /** True once loaded and while within its memory limit: its false answers can be trusted. */
  get usable(): boolean {
    return this.isLoaded && !this.isFull;
  }

  /** Every id of the index has been added (the load scan is done). */
  loaded(): void {
    this.isLoaded = true;
  }

  add(id: string): void {
    if (this.isFull) return;
    let seg = this.segments[this.segments.length - 1]!;
    if (seg.count >= seg.capacity) {
      const next = new Segment(seg.capacity * GROWTH);
      if (this.bytes + next.words.byteLength > this.maxBytes) {
        this.isFull = true;
        return;
      }
      this.segments.push(next);
      this.bytes += next.words.byteLength;
      seg = next;
    }
    hash2(id);
    seg.add(h1, h2);
  }

  /** False only for an id that is certainly not held (see the guarantees above). */
  mayHold(id: string): boolean {
    if (!this.usable) return true;
    hash2(id);
    for (const s of this.segments) if (s.has(h1, h2)) return true;
    return false;
  }
}

/** The two hashes of the last `hash2` (double hashing: bit i = h1 + i * h2; h2 odd). */
let h1 = 0;
let h2 = 1;
/** Two FNV-1a hashes of the UTF-16 code units (different offset bases) in one pass, each with murmur3's final avalanche. */
function hash2(s: string): void {
  let a = 0x811c9dc5 | 0;
  let b = 0x5bd1e995 | 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  h1 = fmix(a);
  h2 = fmix(b ^ 0x9e3779b9) | 1;
}
function fmix(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
