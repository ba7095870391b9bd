/**
 * `tillsync recover --from-cloud` (issue 15, 1.1 and 1.2): brings a terminal
 * whose log lost acknowledged events (a dropped write-ahead-log tail) or is a
 * stale copy (a data folder restored from a backup) back in line with what the
 * cloud holds for it, then lifts the append refusal.
 *
 * Steps (the sync worker is stopped by the caller meanwhile):
 * 1. The common prefix: the highest seq p <= min(local head, cloud's ackSeq)
 *    where the log and the cloud hold the same event (same hash; the chains
 *    make every earlier event equal too). Found by probing the cloud.
 * 2. Local events after p that the cloud does not hold ("divergent": sold on a
 *    restored copy before it connected) are exported to a JSON-lines file
 *    (fsynced) and kept as drafts; the log is truncated to p and its views
 *    rebuilt from history.
 * 3. The cloud's events p+1..ackSeq are written back exactly as stored (their
 *    chain checked against the log, `EventLog.restoreEvents`).
 * 4. The refusal is lifted (head record rewritten), the upload cursor set to
 *    the cloud's ackSeq, and the divergent events appended again, with their
 *    ids, times and bodies, after the cloud's head: new seqs, no seq reused.
 *
 * A log whose records fail verification (a gap, a broken chain: a damaged
 * write-ahead-log block in the middle) is treated the same way from the last
 * verified seq on; local events after it whose id the cloud holds come back
 * through the cloud's copy, the others are appended again.
 *
 * What neither the log nor the cloud holds (acknowledged seqs the head record
 * names above both) is reported as `lost`; it cannot be restored. Damaged
 * LevelDB tables (an audit's checksum findings) are refused with
 * LOG_CORRUPTED: this recovery only appends and truncates.
 */
import { open } from 'node:fs/promises';
import { TillsyncError } from '../errors.ts';
import { sha256Hex } from '../events/codec.ts';
import type { EventLog } from '../events/event-log.ts';
import type { EventDraft, TillEvent } from '../events/event-types.ts';
import type { TerminalViews } from '../projections/terminal-views.ts';
import type { OwnEventsPage } from '../replication/protocol.ts';
import { ACK_META_KEY } from '../replication/upload-loop.ts';
import { newExportPath } from './exports.ts';

/** The cloud's copy of this terminal's events (HttpTransport implements it). */
export interface OwnEventsSource {
  ownEvents(from: number, limit: number): Promise<OwnEventsPage>;
}

export interface RecoveryReport {
  /** Head of the log before, the acknowledged head the head record held, the cloud's ackSeq. */
  before: { head: number; recordedHead: number | null; cloudAckSeq: number; refusal: string | null };
  /** Seqs written back from the cloud. */
  restored: { from: number; to: number } | null;
  /** Local events the cloud held differently, appended again after the cloud's head. */
  reappended: number;
  exportedTo: string | null;
  /** Acknowledged seqs that neither the log nor the cloud holds. */
  lost: { from: number; to: number } | null;
  head: number;
}

const PAGE = 1000;

export async function recoverFromCloud(opts: {
  log: EventLog;
  views: TerminalViews;
  source: OwnEventsSource;
  /** The folder the events that must make way are exported to (exports.ts names the file). */
  dataDir: string;
  now?: () => number;
  onProgress?: (phase: string, done: number, total: number) => void;
}): Promise<RecoveryReport> {
  const { log, views, source } = opts;
  const now = opts.now ?? Date.now;
  const refusal = log.refused;
  const health = log.health;
  if (refusal?.details.findings !== undefined) {
    throw new TillsyncError('LOG_CORRUPTED', `LevelDB files are damaged (${refusal.reason}): recover --from-cloud cannot repair tables; re-enroll the terminal`);
  }
  // A record that fails verification (chain, gap): only the prefix before it is trusted.
  const verifyFailed = health.state === 'corrupted' && health.code === undefined;
  const recordedHead = typeof refusal?.details.recordedHead === 'number' ? refusal.details.recordedHead : null;
  const first = await source.ownEvents(1, 1);
  const cloudAck = first.ackSeq;
  const headBefore = log.head.seq;
  const goodTo = verifyFailed ? Math.max(log.base.seq, health.seq - 1) : headBefore;
  const before = { head: headBefore, recordedHead, cloudAckSeq: cloudAck, refusal: refusal?.code ?? (verifyFailed ? 'LOG_CORRUPTED' : null) };

  const cloudHashAt = async (seq: number): Promise<string | undefined> => {
    const page = await source.ownEvents(seq, 1);
    const bytes = page.events[0];
    return bytes ? sha256Hex(bytes) : undefined;
  };
  const localHashAt = async (seq: number): Promise<string | undefined> =>
    seq === log.base.seq ? log.base.hash : (await log.get(seq))?.hash;

  // 1. Common prefix: binary search for the highest seq where both hold the same event.
  let lo = log.base.seq; // the retained base; checked below when the cloud has it
  let hi = Math.min(goodTo, cloudAck);
  if (hi > lo && (await cloudHashAt(hi)) === (await localHashAt(hi))) lo = hi;
  else {
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await cloudHashAt(mid)) === (await localHashAt(mid))) lo = mid;
      else hi = mid;
    }
  }
  const common = lo;
  if (common > 0 && common === log.base.seq && (await cloudHashAt(common)) !== log.base.hash) {
    throw new TillsyncError('LOG_BEHIND_CLOUD', `the log and the cloud share no history after the retained base (seq ${common}): re-enroll the terminal`);
  }

  // 2. Local events after the common prefix that must make way: exported, kept, truncated (views rebuilt).
  let kept: TillEvent[] = [];
  let exportedTo: string | null = null;
  if (headBefore > common && (common < cloudAck || verifyFailed)) {
    for await (const page of log.readEvents(common + 1, { to: headBefore })) kept.push(...page);
    exportedTo = await newExportPath(opts.dataDir, 'recovered', now());
    const fh = await open(exportedTo, 'wx', 0o600);
    try {
      await fh.write(kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await log.exclusive(async () => {
      await log.truncateAfter(common);
      await views.rebuildFrom(log, (d, t) => opts.onProgress?.('rebuilding views', d, t));
    });
  }

  // 3. The cloud's events after the log's head, exactly as stored.
  let restored: RecoveryReport['restored'] = null;
  const cloudIds = new Set<string>();
  const from = log.head.seq + 1;
  if (cloudAck >= from) {
    for (let next: number | null = from; next !== null && next <= cloudAck;) {
      const page: OwnEventsPage = await source.ownEvents(next, PAGE);
      const records = page.events.filter((_, i) => next! + i <= cloudAck);
      if (records.length === 0) break;
      for (const r of await log.restoreEvents(records)) cloudIds.add(r.event.id);
      opts.onProgress?.('restoring from the cloud', log.head.seq - from + 1, cloudAck - from + 1);
      next = page.next;
    }
    if (log.head.seq < cloudAck) {
      throw new TillsyncError('CLOUD_BAD_RESPONSE', `the cloud sent events up to seq ${log.head.seq} of ${cloudAck}: run recover again`);
    }
    restored = { from, to: cloudAck };
  }
  // Events the cloud has (same id) are back through the cloud's copy; the others are appended again.
  kept = kept.filter((e) => !cloudIds.has(e.id));

  // 4. Verify what the log now holds, lift the refusal, move the upload cursor, append the kept events.
  if (verifyFailed) {
    const report = await log.verify({ full: true });
    if (!report.ok) throw new TillsyncError('LOG_CORRUPTED', `the log still fails verification at seq ${report.problem?.seq}: ${report.problem?.reason}`);
  }
  await log.clearRefusal();
  const ackTo = Math.min(cloudAck, log.head.seq);
  if ((await log.readMeta<number>(ACK_META_KEY)) !== ackTo) await log.setMeta({ [ACK_META_KEY]: ackTo });
  const drafts = kept.map((e) => ({ type: e.type, id: e.id, time: e.time, body: e.body }) as EventDraft);
  if (drafts.length > 0) await log.append(drafts);
  const newHead = log.head.seq;
  const covered = Math.max(cloudAck, headBefore);
  const lost = recordedHead !== null && recordedHead > covered ? { from: covered + 1, to: recordedHead } : null;
  return { before, restored, reappended: drafts.length, exportedTo, lost, head: newHead };
}
