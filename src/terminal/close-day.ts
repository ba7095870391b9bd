/**
 * End-of-day close (`tillsync close-day`, `POST /api/close-day`): the terminal
 * folds one business day of its log into a summary (counts, tender totals,
 * refunds, voids, a digest of that day's chain; src/events/day-summary.ts),
 * uploads what is pending, asks the cloud for the same summary of what it
 * holds, and compares the two seq by seq.
 *
 * - An X report (`preview`) is a reading: it changes nothing and works offline
 *   (the cloud's side is then missing, with the reason).
 * - A Z report closes the day only when both sides match; otherwise it is
 *   refused with DAY_NOT_RECONCILED naming the missing, differing and extra
 *   seqs, and nothing is written. A closed day's report is kept in
 *   `DATA/reports/z-<day>.json` (0600, written atomically) with a digest over
 *   its own contents; closing the same day again answers the kept report.
 *
 * `verifyDayReport` checks a kept report later against a log or the cloud:
 * its own digest (the file was not edited) and every figure (the history it
 * was made from still adds up to it).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TillsyncError } from '../errors.ts';
import {
  businessDay, checkedDay, checkedTimeZone, compareDayHashes, DaySummaryBuilder, isDay, isTimeZone, sameFigures,
  type DayDifference, type DaySummary,
} from '../events/day-summary.ts';
import type { EventLog } from '../events/event-log.ts';
import { makePrivateDir } from '../events/private-dir.ts';
import { writePrivateFileAtomic } from '../events/atomic-file.ts';

export const REPORTS_DIR = 'reports';
/** How many seqs of each kind of difference an answer names (the counts are always whole). */
const NAMED = 100;

export interface DayReport {
  kind: 'X' | 'Z';
  day: string;
  timeZone: string;
  store: string;
  terminal: string;
  /** When this report was made (ms). */
  at: number;
  terminalSummary: DaySummary;
  /** The cloud's summary of the same day; null when it could not be asked (X only). */
  cloudSummary: DaySummary | null;
  /** Why the cloud was not asked (X only): an error code. */
  cloudError?: string;
  matched: boolean;
  difference: DayDifference;
  /** SHA-256 over this report without this field (JSON, in this key order). */
  reportDigest: string;
}

export interface CloseDayDeps {
  log: EventLog;
  dataDir: string;
  store: string;
  terminal: string;
  /** Uploads everything pending; rejects with LOCAL_MODE, CLOUD_UNREACHABLE... */
  syncUp: () => Promise<unknown>;
  /** The cloud's summary and [seq, hash] of the day, for the seq range given. */
  cloudDay: (day: string, q: { timeZone: string; from: number; to: number }) => Promise<{ summary: DaySummary; hashes?: Array<[number, string]> | undefined }>;
  now?: () => number;
}

export interface CloseDayRequest {
  /** YYYY-MM-DD; default today in `timeZone`. */
  day?: string | undefined;
  /** IANA time zone; default the machine's. */
  timeZone?: string | undefined;
  /** An X report: read, compare if the cloud answers, close nothing. */
  preview?: boolean | undefined;
}

export function defaultTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function checkRequest(req: CloseDayRequest, now: number): { day: string; timeZone: string } {
  const timeZone = checkedTimeZone(req.timeZone ?? defaultTimeZone());
  const day = checkedDay(req.day ?? businessDay(now, timeZone));
  if (day > businessDay(now, timeZone)) throw new TillsyncError('VALIDATION_FAILED', `day ${day} has not begun yet`, { details: { field: 'day' } });
  return { day, timeZone };
}

/** The terminal's own summary of `day`, from its log; refused when cleanup removed part of that day. */
export async function terminalDaySummary(log: EventLog, store: string, terminal: string, day: string, timeZone: string): Promise<DaySummaryBuilder> {
  const b = new DaySummaryBuilder(day, timeZone, store, terminal);
  let first = true;
  for await (const page of log.read(log.base.seq + 1)) {
    for (const e of page) {
      if (first) {
        first = false;
        // Events below the base were cleaned up: a day they may belong to cannot be summed here.
        if (log.base.seq > 0 && businessDay(e.event.time, timeZone) >= day) {
          throw new TillsyncError('DAY_NOT_AVAILABLE', `events of ${day} before seq ${log.base.seq + 1} were removed by cleanup`, {
            details: { day, base: log.base.seq },
          });
        }
      }
      b.add(e);
    }
  }
  if (first && log.base.seq > 0) {
    throw new TillsyncError('DAY_NOT_AVAILABLE', `every event up to seq ${log.base.seq} was removed by cleanup`, { details: { day, base: log.base.seq } });
  }
  return b;
}

function reportPath(dataDir: string, day: string): string {
  return join(dataDir, REPORTS_DIR, `z-${day}.json`);
}

/** The digest a report carries over itself. */
export function reportDigest(report: Omit<DayReport, 'reportDigest'> & { reportDigest?: string }): string {
  const { reportDigest: _omit, ...rest } = report;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

/** A kept Z report, or undefined. */
export async function readDayReport(dataDir: string, day: string): Promise<DayReport | undefined> {
  try {
    return JSON.parse(await readFile(reportPath(dataDir, day), 'utf8')) as DayReport;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function keepReport(dataDir: string, report: DayReport): Promise<void> {
  const dir = join(dataDir, REPORTS_DIR);
  await makePrivateDir(dir);
  await writePrivateFileAtomic(reportPath(dataDir, report.day), `${JSON.stringify(report, null, 2)}\n`);
}

const cap = (d: DayDifference): DayDifference => ({ missing: d.missing.slice(0, NAMED), differing: d.differing.slice(0, NAMED), extra: d.extra.slice(0, NAMED) });

/** Makes an X report, or closes the day with a Z report (see the module comment). */
export async function closeDay(deps: CloseDayDeps, req: CloseDayRequest): Promise<DayReport & { alreadyClosed?: boolean }> {
  const now = (deps.now ?? Date.now)();
  const { day, timeZone } = checkRequest(req, now);
  if (!req.preview) {
    const kept = await readDayReport(deps.dataDir, day);
    if (kept) return { ...kept, alreadyClosed: true };
  }
  let cloudError: string | undefined;
  try {
    await deps.syncUp();
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'CLOUD_UNREACHABLE';
    // Closing needs the cloud's word; a reading does not.
    if (!req.preview) throw err;
    cloudError = code;
  }
  const mine = await terminalDaySummary(deps.log, deps.store, deps.terminal, day, timeZone);
  const terminalSummary = mine.summary();
  let cloudSummary: DaySummary | null = null;
  let difference: DayDifference = { missing: [], differing: [], extra: [] };
  if (cloudError === undefined) {
    if (terminalSummary.events === 0) {
      // Nothing sold that day: nothing for the cloud to hold either.
      cloudSummary = { ...terminalSummary };
    } else {
      try {
        const answer = await deps.cloudDay(day, { timeZone, from: terminalSummary.fromSeq, to: terminalSummary.toSeq });
        cloudSummary = answer.summary;
        difference = compareDayHashes(mine.hashes, new Map(answer.hashes ?? []));
      } catch (err) {
        if (!req.preview) throw err;
        cloudError = (err as { code?: string }).code ?? 'CLOUD_UNREACHABLE';
      }
    }
  }
  const matched = cloudSummary !== null && sameFigures(terminalSummary, cloudSummary)
    && difference.missing.length === 0 && difference.differing.length === 0 && difference.extra.length === 0;
  if (!req.preview && !matched) {
    throw new TillsyncError('DAY_NOT_RECONCILED', `${day} does not match the cloud: ${difference.missing.length} missing, ${difference.differing.length} differing, ${difference.extra.length} extra`, {
      details: {
        day, timeZone, counts: { missing: difference.missing.length, differing: difference.differing.length, extra: difference.extra.length },
        ...cap(difference), terminal: terminalSummary, cloud: cloudSummary,
      },
    });
  }
  const body: Omit<DayReport, 'reportDigest'> = {
    kind: req.preview ? 'X' : 'Z', day, timeZone, store: deps.store, terminal: deps.terminal, at: now,
    terminalSummary, cloudSummary, ...(cloudError ? { cloudError } : {}), matched, difference: cap(difference),
  };
  const report: DayReport = { ...body, reportDigest: reportDigest(body) };
  if (!req.preview) await keepReport(deps.dataDir, report);
  return report;
}

export interface ReportCheck {
  ok: boolean;
  /** Each problem found: REPORT_TAMPERED (the file was edited) or REPORT_MISMATCH (the history no longer adds up to it). */
  problems: Array<{ code: 'REPORT_TAMPERED' | 'REPORT_MISMATCH'; message: string }>;
  recomputed: DaySummary;
}

/** Checks a report against a summary recomputed now from a log or the cloud, for the report's day and seq range. */
export function verifyDayReport(report: DayReport, recomputed: DaySummary): ReportCheck {
  const problems: ReportCheck['problems'] = [];
  if (typeof report.reportDigest !== 'string' || reportDigest(report) !== report.reportDigest) {
    problems.push({ code: 'REPORT_TAMPERED', message: 'the report does not match its own digest: it was edited after it was made' });
  }
  if (!sameFigures(report.terminalSummary, recomputed)) {
    problems.push({ code: 'REPORT_MISMATCH', message: `the history of ${report.day} no longer adds up to the report (digest ${recomputed.digest.slice(0, 12)} vs ${String(report.terminalSummary?.digest).slice(0, 12)})` });
  }
  return { ok: problems.length === 0, problems, recomputed };
}

/** Reads and shape-checks a report file (VALIDATION_FAILED when it is not one). */
export async function loadDayReport(file: string): Promise<DayReport> {
  let r: DayReport;
  try {
    r = JSON.parse(await readFile(file, 'utf8')) as DayReport;
  } catch (err) {
    throw new TillsyncError('VALIDATION_FAILED', `${file} is not a readable day report (JSON)`, { cause: err });
  }
  const s = r?.terminalSummary;
  if (!r || typeof r !== 'object' || !s || !isDay(String(r.day)) || !isTimeZone(String(r.timeZone)) || typeof s.fromSeq !== 'number' || typeof s.toSeq !== 'number') {
    throw new TillsyncError('VALIDATION_FAILED', `${file} is not a day report (it needs day, timeZone and terminalSummary)`);
  }
  return r;
}
