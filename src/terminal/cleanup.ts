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
 * A SIGKILL after 2 leaves unreachable records below the base: the agent's
 * next start runs `resumeCleanup` (reported as a `cleanup` operation), and any
 * later cleanup deletes what is left too, counting them as `leftovers`, not as
 * events it removed. Before 2, nothing changed.
 *
 * Progress: `scanning` (retained events walked of all retained), `snapshot`,
 * `removing` (records deleted of those to delete), `compacting`.
 */
import type { EventLog } from '../events/event-log.ts';
import { folderBytes } from '../events/level-util.ts';
import { ACK_META_KEY } from '../replication/upload-loop.ts';
import type { TerminalViews } from '../projections/terminal-views.ts';

export interface CleanupReport {
  /** Events this run cut from the log (moved below the base and deleted). */
  events: number;
  /** Records an earlier, interrupted cleanup had cut but not deleted, deleted by this run. */
  leftovers: number;
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

export type CleanupProgress = (phase: 'scanning' | 'snapshot' | 'removing' | 'compacting', done: number, total: number) => void;

/** Whether records below the base wait to be deleted (a cleanup was cut short after moving the base). */
export async function hasCleanupLeftovers(log: EventLog): Promise<boolean> {
  return (await log.firstBelowBase()) !== undefined;
}

/** Finishes an interrupted cleanup: deletes the records below the base and compacts. */
export async function resumeCleanup(log: EventLog, dir: string, onProgress?: CleanupProgress): Promise<CleanupReport> {
  return cleanupOldEvents({ log, dir, olderThanMs: Infinity, now: 0, ...(onProgress ? { onProgress } : {}) });
}

export async function cleanupOldEvents(opts: {
  log: EventLog;
  /** Needed when events are cut (a snapshot of the views is taken first). */
  views?: TerminalViews;
  dir: string;
  olderThanMs: number;
  now: number;
  onProgress?: CleanupProgress;
}): Promise<CleanupReport> {
  const { log, views } = opts;
  const progress = opts.onProgress ?? (() => {});
  const bytesBefore = await folderBytes(opts.dir);
  const result = await log.exclusive(async () => {
    const ack = await readAckSeq(log);
    const cutoff = opts.now - opts.olderThanMs;
    const first = await log.firstBelowBase();
    const leftovers = first === undefined ? 0 : log.base.seq - first + 1;
    let cut = log.base;
    let stoppedAt = 0;
    const retained = log.head.seq - log.base.seq;
    let scanned = 0;
    progress('scanning', 0, retained);
    // Walk from the start of the retained log; stop at the first event that must stay.
    outer: for await (const page of log.read(log.base.seq + 1, { to: log.head.seq, pageSize: 1000 })) {
      for (const rec of page) {
        if (rec.seq > ack || rec.event.time >= cutoff) {
          stoppedAt = rec.seq;
          break outer;
        }
        cut = { seq: rec.seq, hash: rec.hash };
      }
      scanned += page.length;
      progress('scanning', Math.min(scanned, retained), retained);
    }
    const removed = cut.seq - log.base.seq;
    if (removed > 0) {
      if (!views) throw new Error('cleanupOldEvents: views are needed to cut events');
      progress('snapshot', 0, 1);
      await views.snapshot(log);
      progress('snapshot', 1, 1);
      await log.moveBase(cut);
    }
    const toDelete = removed + leftovers;
    progress('removing', 0, toDelete);
    const deleted = await log.deleteBelowBase((d) => progress('removing', Math.min(d, toDelete), toDelete));
    progress('removing', deleted, Math.max(deleted, toDelete));
    return { removed, leftovers: Math.max(0, deleted - removed), stoppedAt, keptUnacknowledged: Math.max(0, log.head.seq - ack) };
  });
  // Compaction reclaims the space of the deleted records (outside the writer: it does not change data).
  progress('compacting', 0, 1);
  await log.compactBelowBase();
  progress('compacting', 1, 1);
  const bytesAfter = await folderBytes(opts.dir);
  return {
    events: result.removed,
    leftovers: result.leftovers,
    bytesBefore,
    bytesAfter,
    bytesFreed: Math.max(0, bytesBefore - bytesAfter),
    base: log.base.seq,
    keptUnacknowledged: result.keptUnacknowledged,
    stoppedAt: result.stoppedAt,
  };
}
