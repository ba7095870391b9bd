/**
 * F10 — clean up old transactions already on the server.
 *
 * Removes from the terminal only events that (a) the cloud has acknowledged
 * (seq <= ackSeq) and (b) are older than the retention period, and never
 * anything after the first event that fails either test, so the retained log
 * stays one contiguous, verifiable chain.
 *
 * Order of work, all with the log's writer to itself (no append, download or
 * ack can interleave, so nothing unacknowledged can be removed):
 *   1. snapshot every view with the log position it reflects (a later rebuild
 *      starts from it, so views, search and audit keep working);
 *   2. move the log's base to the cut (synced): from here the removed prefix is
 *      outside the log;
 *   3. delete the records below the base and compact the range, so the disk
 *      space is actually reclaimed.
 * A SIGKILL after 2 leaves unreachable records below the base; the next cleanup
 * (or `resumeCleanup` on open) deletes them. Before 2, nothing changed.
 */
import type { EventLog } from '../events/event-log.ts';
import { folderBytes, seqKey } from '../events/level-util.ts';
import { ACK_META_KEY } from '../replication/upload-loop.ts';
import type { TerminalViews } from '../projections/terminal-views.ts';

export interface CleanupReport {
  /** Events removed from the terminal. */
  events: number;
  /** Bytes of the data folder before and after, and the difference. */
  bytesBefore: number;
  bytesAfter: number;
  bytesFreed: number;
  /** The retained log now starts after this seq. */
  base: number;
  /** Events kept because the cloud has not acknowledged them yet. */
  keptUnacknowledged: number;
  /** The cut stopped here: the first event too young or unacknowledged (0: none). */
  stoppedAt: number;
}

export async function readAckSeq(log: EventLog): Promise<number> {
  const raw = await log.readMeta<unknown>(ACK_META_KEY);
  return typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? raw : 0;
}

export async function cleanupOldEvents(opts: {
  log: EventLog;
  views: TerminalViews;
  dir: string;
  olderThanMs: number;
  now: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<CleanupReport> {
  const { log, views } = opts;
  const bytesBefore = await folderBytes(opts.dir);
  const result = await log.exclusive(async () => {
    const ack = await readAckSeq(log);
    const cutoff = opts.now - opts.olderThanMs;
    let cut = log.base;
    let stoppedAt = 0;
    // Walk from the start of the retained log; stop at the first event that must stay.
    outer: for await (const page of log.read(log.base.seq + 1, { to: log.head.seq, pageSize: 1000 })) {
      for (const rec of page) {
        if (rec.seq > ack || rec.event.time >= cutoff) {
          stoppedAt = rec.seq;
          break outer;
        }
        cut = { seq: rec.seq, hash: rec.hash };
      }
    }
    const removed = cut.seq - log.base.seq;
    if (removed > 0) {
      await views.snapshot(log);
      await log.moveBase(cut);
    }
    const deleted = await log.deleteBelowBase();
    opts.onProgress?.(deleted, deleted);
    return { removed, stoppedAt, keptUnacknowledged: Math.max(0, log.head.seq - ack) };
  });
  // Compaction reclaims the space of the deleted records (outside the writer: it does not change data).
  await log.db.compactRange(`!log!${seqKey(0)}`, `!log!${seqKey(log.base.seq + 1)}`);
  await log.db.compactRange('!', '~');
  const bytesAfter = await folderBytes(opts.dir);
  return {
    events: result.removed,
    bytesBefore,
    bytesAfter,
    bytesFreed: Math.max(0, bytesBefore - bytesAfter),
    base: log.base.seq,
    keptUnacknowledged: result.keptUnacknowledged,
    stoppedAt: result.stoppedAt,
  };
}
