/**
 * F12 — audit and replay of a terminal's own history.
 *
 * `auditTerminal` verifies seq continuity and the hash chain of the whole
 * retained log, rebuilds every view from history into a scratch area and diffs
 * it against the live views. Findings are data (code + where + what); the CLI
 * prints them and exits non-zero when there is any.
 */
import { TillsyncError } from '../errors.ts';
import type { EventLog, LoggedEvent } from '../events/event-log.ts';
import { TerminalViews, diffViews } from '../projections/terminal-views.ts';
import { checkStorage } from './storage-check.ts';

export interface AuditFinding {
  code: 'SEQ_GAP' | 'CHAIN_BROKEN' | 'RECORD_UNREADABLE' | 'VIEW_MISMATCH';
  terminal: string;
  seq?: number;
  view?: string;
  key?: string;
  detail: string;
}

export interface AuditReport {
  ok: boolean;
  store: string;
  terminal: string;
  events: number;
  from: number;
  to: number;
  findings: AuditFinding[];
}

function findingFor(reason: string): AuditFinding['code'] {
  if (/missing/.test(reason)) return 'SEQ_GAP';
  if (/unreadable|decode/.test(reason)) return 'RECORD_UNREADABLE';
  return 'CHAIN_BROKEN';
}

export async function auditTerminal(log: EventLog, views: TerminalViews, onProgress?: (done: number, total: number) => void): Promise<AuditReport> {
  const findings: AuditFinding[] = [];
  const report = await log.verify({ full: true });
  if (!report.ok && report.problem) {
    findings.push({ code: findingFor(report.problem.reason), terminal: log.terminal, seq: report.problem.seq, detail: report.problem.reason });
  } else {
    // Only a verified history is worth rebuilding from.
    const scratch = new TerminalViews(log.db, log.terminal, 'audit');
    try {
      // Rebuild AND compare with the writer held: a page of changes downloaded in
      // between would make the live views differ from the rebuild for no fault.
      const diffs = await log.exclusive(async () => {
        await scratch.rebuildFrom(log, onProgress);
        return diffViews(views, scratch, 100);
      });
      for (const d of diffs) {
        findings.push({ code: 'VIEW_MISMATCH', terminal: log.terminal, view: d.view, key: d.key, detail: `live view entry is ${d.problem} compared with a rebuild from history` });
      }
    } catch (err) {
      // A stored record the rebuild cannot fold (a damaged change) is a finding, never a failed audit.
      if (!(err instanceof TillsyncError) || err.code !== 'LOG_CORRUPTED') throw err;
      findings.push({ code: 'RECORD_UNREADABLE', terminal: log.terminal, detail: `views cannot be rebuilt from history: ${err.message}` });
    } finally {
      await scratch.clear();
    }
  }
  // Checksums of LevelDB's files, and every record read by key as the POS reads it (storage-check.ts).
  for (const f of await checkStorage(log, views, { records: report.ok })) findings.push({ ...f, terminal: log.terminal });
  return { ok: findings.length === 0, store: log.store, terminal: log.terminal, events: report.checked, from: report.from, to: report.to, findings };
}

/** One replayed event as a JSON line: the event plus its seq and hash. */
export function replayLine(rec: LoggedEvent): string {
  return JSON.stringify({ ...rec.event, hash: rec.hash });
}

export async function* replayTerminal(log: EventLog, from = 1): AsyncGenerator<string> {
  for await (const page of log.read(Math.max(from, log.base.seq + 1), { to: log.head.seq })) {
    for (const rec of page) yield replayLine(rec);
  }
}
