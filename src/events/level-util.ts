/**
 * Small helpers over classic-level shared by everything that stores bytes:
 * opening with the error codes tillsync reports, and sortable seq keys.
 */
import { readdir, readFile, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { AbstractSublevel } from 'abstract-level';
import { TillsyncError } from '../errors.ts';
import { makePrivateDir } from './private-dir.ts';

export type Bytes = Uint8Array;
export type LevelDb = ClassicLevel<string, Bytes>;
export type Sublevel = AbstractSublevel<LevelDb, string | Buffer | Uint8Array, string, Bytes>;

/** Zero-padded decimal, so LevelDB's byte order is numeric order (up to 10^16). */
export function seqKey(seq: number): string {
  return seq.toString().padStart(SEQ_KEY_DIGITS, '0');
}
/** Digits of a `seqKey` (Number.MAX_SAFE_INTEGER has 16). */
export const SEQ_KEY_DIGITS = 16;

/** LevelDB tuning a caller may pass to `openLevel` (classic-level's names). */
export interface LevelTuning {
  /** Bytes of writes collected in memory before they are written out as a table (LevelDB's default: 4 MiB). */
  writeBufferSize?: number;
  /** Open table files LevelDB keeps (its table cache is this minus 10; LevelDB raises anything below 74 to 74). */
  maxOpenFiles?: number;
  /** Size of the table files compaction writes (LevelDB's default: 2 MiB). */
  maxFileSize?: number;
}

/**
 * The default (a terminal's data folder). LevelDB reads table files through
 * mmap and keeps every table in its cache mapped, so the pages a read touched
 * stay in the process's RSS: a terminal uploading its whole 1M-event log
 * peaked at ~450 MB, ~280 MB of it table pages. At most 64 cached tables of
 * 1 MiB bound that to ~64 MB (peak ~275 MB), with no change in sync-up speed.
 */
export const TERMINAL_TUNING: LevelTuning = { maxOpenFiles: 74, maxFileSize: 1024 * 1024 };

/** Opens a LevelDB folder (made private: private-dir.ts) with binary values; maps lock and corruption failures to stable codes. */
export async function openLevel(location: string, tuning: LevelTuning = TERMINAL_TUNING): Promise<LevelDb> {
  await makePrivateDir(location); // folders 0700, files 0600, now and for every file LevelDB makes later
  const db = new ClassicLevel<string, Bytes>(location, { keyEncoding: 'utf8', valueEncoding: 'view', ...tuning });
  try {
    await db.open();
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string; message?: string } };
    if (e.cause?.code === 'LEVEL_LOCKED') {
      throw new TillsyncError('LOG_LOCKED', `data folder ${location} is in use by another process`, { cause: err });
    }
    if (/ENOSPC|No space left/i.test(e.cause?.message ?? '')) {
      throw new TillsyncError('DISK_FULL', `data folder ${location} cannot be opened: the disk is full (${e.cause?.message ?? ''})`, { cause: err });
    }
    if (e.cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(e.cause?.message ?? '')) {
      throw new TillsyncError('LOG_CORRUPTED', `data folder ${location} is corrupted: ${e.cause?.message ?? ''}`, { cause: err });
    }
    throw err;
  }
  return db;
}

/** Free space a write-ahead-log seal needs: a memtable table (LevelDB's 4 MiB write buffer) and some. */
export const SEAL_MIN_FREE = 6 * 1024 * 1024;
/** A key no record uses: compacting [SEAL_KEY, SEAL_KEY] touches no table, only the memtable. */
const SEAL_KEY = '\u0000tillsync-seal';

/**
 * Call after a failed write, before the next one: makes LevelDB start a new
 * write-ahead log. A write that failed for lack of space can leave part of
 * its record in the log, and LevelDB keeps appending behind it; the next open
 * then drops everything after the torn record to the end of its block
 * ("dropping N bytes; Corruption: checksum mismatch"): acknowledged writes
 * lost (found by the fault simulator, seed 200). A compaction of an empty key
 * range flushes the memtable — which holds only the writes that succeeded,
 * those behind the torn record too — to a table and switches to a fresh log;
 * the torn one is then deleted. It needs room for that table: with less than
 * SEAL_MIN_FREE free it is not tried (a flush failing for lack of space stops
 * every later write until a restart) and DISK_FULL is thrown.
 */
export async function sealWriteAheadLog(db: LevelDb): Promise<void> {
  const fs = await statfs(db.location);
  const free = fs.bavail * fs.bsize;
  if (free < SEAL_MIN_FREE) throw new TillsyncError('DISK_FULL', `disk full: ${free} bytes free, ${SEAL_MIN_FREE} needed to resume writing safely`);
  await db.compactRange(SEAL_KEY, SEAL_KEY);
}

/** classic-level options the abstract sublevel types do not declare. */
export const SYNC = { sync: true } as object;
/** 1 MiB read-ahead nearly doubles scan speed over the 16 KiB default (PERF-NOTES). */
export const BIG_READS = { highWaterMarkBytes: 1024 * 1024 } as object;

/** Size on disk of a LevelDB folder (F1 "log size", F10 bytes freed): the sum of its files. */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    try {
      total += (await stat(join(dir, e.name))).size;
    } catch {
      // A file removed by compaction between readdir and stat: skip it.
    }
  }
  return total;
}

/**
 * What LevelDB's info log (`<folder>/LOG`, started afresh by every open) says it
 * skipped while recovering its write-ahead log. Without paranoid checks (which
 * classic-level does not expose) a checksum failure there is logged, not
 * reported: "(ignoring error) ... dropping N bytes; ...". Returns those lines.
 */
export async function droppedOnOpen(location: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(location, 'LOG'), 'latin1');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => /dropping \d+ bytes|ignoring error|Corruption/i.test(l)).map((l) => l.slice(0, 300));
}
