/**
 * Verifies the checksums LevelDB stores in its files, from outside LevelDB.
 *
 * Why: classic-level opens LevelDB without `paranoid_checks` and reads without
 * `verify_checksums` (neither is exposed by its binding), so a flipped byte in a
 * table's index block is parsed as if it were good and the keys behind it read
 * as missing (a sale answers SALE_NOT_FOUND), and a damaged write-ahead-log
 * block is dropped at the next open. This module reads the files themselves:
 *
 * - every table file (`*.ldb`, `*.sst`): the footer's magic, then the CRC32C of
 *   the index block, the meta-index block, every block the meta-index names
 *   (the bloom filter) and every data block the index names;
 * - every write-ahead-log file (`*.log`): the CRC32C of every record.
 *
 * It only reads. Files that compaction removes while it runs are skipped.
 * Formats: LevelDB's doc/table_format.md and doc/log_format.md.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ChecksumProblem {
  file: string;
  /** Byte offset of the damaged block or record. */
  offset: number;
  reason: string;
}

export interface ChecksumReport {
  tables: number;
  blocks: number;
  logRecords: number;
  problems: ChecksumProblem[];
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), as LevelDB computes it. */
export function crc32c(buf: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function unmask(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

class Cursor {
  constructor(readonly buf: Uint8Array, public pos = 0) {}
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  }
}

interface Handle {
  offset: number;
  size: number;
}

const TABLE_MAGIC = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
const FOOTER_BYTES = 48;

/** A block's contents if its trailer's checksum matches (decompressed when snappy). */
function readBlock(file: Uint8Array, h: Handle): Uint8Array {
  if (h.offset + h.size + 5 > file.length) throw new Error('block handle points past the end of the file');
  const contents = file.subarray(h.offset, h.offset + h.size);
  const type = file[h.offset + h.size]!;
  const stored = new DataView(file.buffer, file.byteOffset + h.offset + h.size + 1, 4).getUint32(0, true);
  const actual = crc32c(file.subarray(h.offset, h.offset + h.size + 1));
  if (unmask(stored) !== actual) throw new Error('block checksum mismatch');
  if (type === 0) return contents;
  if (type === 1) return snappyDecompress(contents);
  throw new Error(`unknown block compression ${type}`);
}

/** The values (block handles) of a block's entries. */
function blockValues(block: Uint8Array): Uint8Array[] {
  if (block.length < 4) throw new Error('block too short');
  const view = new DataView(block.buffer, block.byteOffset, block.length);
  const restarts = view.getUint32(block.length - 4, true);
  const end = block.length - 4 - restarts * 4;
  if (end < 0) throw new Error('bad restart count');
  const out: Uint8Array[] = [];
  const c = new Cursor(block.subarray(0, end));
  while (c.pos < end) {
    c.varint(); // shared key bytes
    const nonShared = c.varint();
    const valueLen = c.varint();
    c.pos += nonShared;
    if (c.pos + valueLen > end) throw new Error('entry past the end of the block');
    out.push(block.subarray(c.pos, c.pos + valueLen));
    c.pos += valueLen;
  }
  return out;
}

function handleOf(bytes: Uint8Array): Handle {
  const c = new Cursor(bytes);
  return { offset: c.varint(), size: c.varint() };
}

/**
 * The index block of a table file, entry by entry (diagnostics and tests):
 * each entry's full key and where its non-shared key bytes lie in the file,
 * when the index block is stored uncompressed (else undefined).
 */
export function tableIndexEntries(file: Uint8Array): Array<{ key: Buffer; keyAt: number; keyBytes: number; block: Handle }> | undefined {
  const footer = new Cursor(file.subarray(file.length - FOOTER_BYTES));
  footer.varint();
  footer.varint();
  const index = { offset: footer.varint(), size: footer.varint() };
  if (file[index.offset + index.size] !== 0) return undefined;
  const block = file.subarray(index.offset, index.offset + index.size);
  const restarts = new DataView(block.buffer, block.byteOffset, block.length).getUint32(block.length - 4, true);
  const end = block.length - 4 - restarts * 4;
  const c = new Cursor(block.subarray(0, end));
  const out: Array<{ key: Buffer; keyAt: number; keyBytes: number; block: Handle }> = [];
  let last = Buffer.alloc(0);
  while (c.pos < end) {
    const shared = c.varint();
    const nonShared = c.varint();
    const valueLen = c.varint();
    const key = Buffer.concat([last.subarray(0, shared), block.subarray(c.pos, c.pos + nonShared)]);
    out.push({ key, keyAt: index.offset + c.pos, keyBytes: nonShared, block: handleOf(block.subarray(c.pos + nonShared, c.pos + nonShared + valueLen)) });
    last = key;
    c.pos += nonShared + valueLen;
  }
  return out;
}

/** Checks one table file; returns the number of blocks verified. */
export function checkTable(name: string, file: Uint8Array, problems: ChecksumProblem[]): number {
  if (file.length < FOOTER_BYTES) {
    problems.push({ file: name, offset: 0, reason: 'table file shorter than its footer' });
    return 0;
  }
  const footer = file.subarray(file.length - FOOTER_BYTES);
  if (!Buffer.from(footer.subarray(40)).equals(TABLE_MAGIC)) {
    problems.push({ file: name, offset: file.length - FOOTER_BYTES, reason: 'bad table magic number' });
    return 0;
  }
  let blocks = 0;
  const c = new Cursor(footer);
  let meta: Handle;
  let index: Handle;
  try {
    meta = { offset: c.varint(), size: c.varint() };
    index = { offset: c.varint(), size: c.varint() };
  } catch {
    problems.push({ file: name, offset: file.length - FOOTER_BYTES, reason: 'unreadable table footer' });
    return 0;
  }
  const check = (h: Handle, what: string): Uint8Array | undefined => {
    try {
      const b = readBlock(file, h);
      blocks++;
      return b;
    } catch (err) {
      problems.push({ file: name, offset: h.offset, reason: `${what}: ${(err as Error).message}` });
      return undefined;
    }
  };
  const metaBlock = check(meta, 'meta-index block');
  const indexBlock = check(index, 'index block');
  try {
    if (metaBlock) for (const v of blockValues(metaBlock)) check(handleOf(v), 'meta block');
    if (indexBlock) for (const v of blockValues(indexBlock)) check(handleOf(v), 'data block');
  } catch (err) {
    problems.push({ file: name, offset: index.offset, reason: `unparsable block: ${(err as Error).message}` });
  }
  return blocks;
}

const LOG_BLOCK = 32 * 1024;
const LOG_HEADER = 7;

/** Checks every record of one write-ahead-log file; returns how many verified. */
export function checkLogFile(name: string, file: Uint8Array, problems: ChecksumProblem[]): number {
  let records = 0;
  for (let block = 0; block < file.length; block += LOG_BLOCK) {
    const end = Math.min(file.length, block + LOG_BLOCK);
    let pos = block;
    while (pos + LOG_HEADER <= end) {
      const view = new DataView(file.buffer, file.byteOffset + pos, LOG_HEADER);
      const stored = view.getUint32(0, true);
      const len = view.getUint16(4, true);
      const type = view.getUint8(6);
      if (type === 0 && len === 0 && stored === 0) break; // zero padding (or preallocated space) to the block end
      if (pos + LOG_HEADER + len > end) {
        problems.push({ file: name, offset: pos, reason: 'log record runs past its block' });
        return records;
      }
      if (unmask(stored) !== crc32c(file.subarray(pos + 6, pos + LOG_HEADER + len))) {
        problems.push({ file: name, offset: pos, reason: 'log record checksum mismatch' });
      } else {
        records++;
      }
      pos += LOG_HEADER + len;
    }
  }
  return records;
}

/** Verifies every table and write-ahead-log file of a LevelDB folder. */
export async function checkLevelFolder(dir: string): Promise<ChecksumReport> {
  const report: ChecksumReport = { tables: 0, blocks: 0, logRecords: 0, problems: [] };
  for (const name of (await readdir(dir)).sort()) {
    const isTable = /^\d+\.(ldb|sst)$/.test(name);
    const isLog = /^\d+\.log$/.test(name);
    if (!isTable && !isLog) continue;
    let file: Buffer;
    try {
      file = await readFile(join(dir, name));
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') continue; // compacted away meanwhile
      throw err;
    }
    if (isTable) {
      report.tables++;
      report.blocks += checkTable(name, file, report.problems);
    } else {
      report.logRecords += checkLogFile(name, file, report.problems);
    }
  }
  return report;
}

/** Snappy block decompression (format_description.txt of google/snappy). */
export function snappyDecompress(src: Uint8Array): Uint8Array {
  const c = new Cursor(src);
  const outLen = c.varint();
  const out = new Uint8Array(outLen);
  let o = 0;
  let p = c.pos;
  while (p < src.length) {
    const tag = src[p++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const bytes = len - 59;
        len = 0;
        for (let i = 0; i < bytes; i++) len |= src[p + i]! << (8 * i);
        p += bytes;
      }
      len += 1;
      if (p + len > src.length || o + len > outLen) throw new Error('snappy literal out of bounds');
      out.set(src.subarray(p, p + len), o);
      p += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | src[p++]!;
    } else if (kind === 2) {
      len = (tag >>> 2) + 1;
      offset = src[p]! | (src[p + 1]! << 8);
      p += 2;
    } else {
      len = (tag >>> 2) + 1;
      offset = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0;
      p += 4;
    }
    if (offset === 0 || offset > o || o + len > outLen) throw new Error('snappy copy out of bounds');
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
  }
  if (o !== outLen) throw new Error('snappy length mismatch');
  return out;
}
