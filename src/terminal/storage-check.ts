/**
 * The audit's storage pass (issue 15, 1.1): reads the terminal's data the way
 * the POS reads it and checks what LevelDB itself does not check here.
 *
 * - Every LevelDB table and write-ahead-log file: block and record checksums
 *   (level-checksums.ts; classic-level reads without verifying them).
 * - Every retained log record by key (the way `EventLog.get` reads), not only
 *   through an iterator: a damaged index block can hide keys from one path and
 *   not the other.
 * - Every sale of the log by id in the sales view (the way a refund, a void or
 *   a receipt lookup reads it), so a sale that would answer SALE_NOT_FOUND is a
 *   finding.
 *
 * - A refusal the log holds already (acknowledged events lost, a cloud ahead of
 *   the log) is a finding too: an audit never passes a log that lost sales.
 *
 * Any finding marks the log corrupted: appends are refused (LOG_CORRUPTED)
 * until a recovery. Runs with the log's writer held, so no write races the
 * file reads.
 */
import { decodeTrusted } from '../events/codec.ts';
import { checkLevelFolder } from '../events/level-checksums.ts';
import type { EventLog } from '../events/event-log.ts';
import { seqKey } from '../events/level-util.ts';
import type { TerminalViews } from '../projections/terminal-views.ts';

export interface StorageFinding {
  code: 'RECORD_UNREADABLE' | 'VIEW_MISMATCH' | 'SEQ_GAP';
  seq?: number;
  view?: string;
  key?: string;
  detail: string;
}

const CHUNK = 1000;
const MAX_FINDINGS = 100;

/** `records: false` skips the by-key reads (the chain check already reported a record problem, named by seq). */
export async function checkStorage(log: EventLog, views: TerminalViews, opts: { records?: boolean } = {}): Promise<StorageFinding[]> {
  const findings: StorageFinding[] = await log.exclusive(async () => {
    const out: StorageFinding[] = [];
    // Acknowledged events missing (the head went back) or a cloud ahead of the log: see EventLog.checkDurability.
    const refused = log.refused;
    if (refused) out.push({ code: 'SEQ_GAP', seq: refused.seq, detail: `${refused.code}: ${refused.reason}` });
    const sums = await checkLevelFolder(log.db.location);
    for (const p of sums.problems.slice(0, MAX_FINDINGS)) {
      out.push({ code: 'RECORD_UNREADABLE', detail: `LevelDB file ${p.file}, byte ${p.offset}: ${p.reason}` });
    }
    const head = log.head.seq;
    const sales = views.views.sales.sublevel;
    for (let from = log.base.seq + 1; opts.records !== false && from <= head && out.length < MAX_FINDINGS; from += CHUNK) {
      const seqs = Array.from({ length: Math.min(CHUNK, head - from + 1) }, (_, i) => from + i);
      const values = await log.logDb.getMany(seqs.map(seqKey));
      const saleIds: Array<[number, string]> = [];
      values.forEach((v, i) => {
        if (v === undefined) {
          out.push({ code: 'RECORD_UNREADABLE', seq: seqs[i]!, detail: `event ${seqs[i]} is not readable by its key` });
          return;
        }
        let ev: { type?: unknown; id?: unknown } | undefined;
        try {
          ev = decodeTrusted<{ type?: unknown; id?: unknown }>(v);
        } catch {
          return; // undecodable bytes are the chain check's finding (RECORD_UNREADABLE at that seq)
        }
        if (ev?.type === 'sale.completed' && typeof ev.id === 'string') saleIds.push([seqs[i]!, ev.id]);
      });
      if (saleIds.length === 0) continue;
      const found = await sales.getMany(saleIds.map(([, id]) => id));
      found.forEach((v, i) => {
        if (v !== undefined) return;
        const [seq, id] = saleIds[i]!;
        out.push({ code: 'VIEW_MISMATCH', seq, view: 'sales', key: id, detail: `sale ${id} (event ${seq}) is not readable by its id` });
      });
    }
    return out.slice(0, MAX_FINDINGS);
  });
  if (findings.length > 0 && !log.refused) {
    const first = findings.find((f) => f.seq !== undefined)?.seq ?? log.head.seq;
    log.markCorrupted(first, `the audit found ${findings.length} unreadable record(s): ${findings[0]!.detail}`, { findings: findings.length });
  }
  return findings;
}
