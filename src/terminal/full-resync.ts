/**
 * F7 — full data resync: discard all downloaded data and download everything again.
 *
 * Never loses an unsynced transaction: the terminal's own event log is never
 * touched (only downloaded data — the stored feed and the views — is discarded),
 * and the resync first uploads everything pending. If that upload cannot
 * complete, it refuses with UNSYNCED_EVENTS; the explicit override first writes
 * the unsynced events to a file it names (and logs that it did).
 *
 * Crash safety: a `resync` marker in the log's meta records the phase.
 *
 *   (start) ──upload first──▶ [wipe] ──clear feed + rebuild views from own log──▶
 *   [download] ──feed to head──▶ [verify] ──digests equal──▶ (done: marker removed)
 *
 * `resumeFullResync` runs on the next start when a marker is present: a kill in
 * [wipe] redoes the wipe (it is idempotent); a kill in [download] or [verify]
 * carries on from the stored feed cursor. The store is never left half-wiped:
 * either the marker is there and the resync finishes, or it is gone and the
 * views are complete and verified.
 */
import { open } from 'node:fs/promises';
import { TillsyncError } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';
import { digestRecords, type CatalogDigest } from '../events/catalog-digest.ts';
import type { TerminalViews } from '../projections/terminal-views.ts';
import { readAckSeq } from './cleanup.ts';

export const RESYNC_META_KEY = 'resync';

export type ResyncPhase = 'wipe' | 'download' | 'verify';

export interface ResyncMarker {
  phase: ResyncPhase;
  started: number;
}

/** What full resync needs from the sync worker and the cloud. */
export interface ResyncDeps {
  log: EventLog;
  views: TerminalViews;
  /** Upload everything pending now; resolves when the cloud acknowledged it or rejects. */
  syncUp(): Promise<unknown>;
  /** Download the feed to the cloud's head; resolves with the cursor reached. */
  syncDown(): Promise<{ cursor: number }>;
  /** Stop / restart the background loops so nothing applies pages during the wipe. */
  pauseSync(): Promise<void>;
  resumeSync(): Promise<void>;
  /** The cloud's digest of the downloaded data and the feed head it reflects. */
  cloudDigest(): Promise<{ head: number; digest: CatalogDigest }>;
  now(): number;
  onProgress?: (phase: ResyncPhase, done: number, total: number) => void;
}

export interface FullResyncReport {
  /** Events that were not on the cloud when the resync started. */
  pendingBefore: number;
  /** They were all uploaded before anything was discarded (false when there were none or the override was used). */
  uploadedFirst: boolean;
  exportedTo: string | null;
  exportedEvents: number;
  changes: number;
  cursor: number;
  digest: CatalogDigest;
}

export function localDigest(views: TerminalViews): CatalogDigest {
  const v = views.views;
  return {
    items: digestRecords(v.items.entries()),
    customers: digestRecords(v.customers.entries()),
    balances: digestRecords([...v.balances.entries()].map(([k, r]) => [k, r.cloud] as [string, unknown])),
    vouchers: digestRecords([...v.vouchers.entries()].map(([k, r]) => [k, r.cloud] as [string, unknown])),
  };
}

/** Writes the events after the acknowledged cursor as JSON lines, fsynced. Returns how many. */
export async function exportUnsynced(log: EventLog, path: string): Promise<number> {
  const ack = await readAckSeq(log);
  const fh = await open(path, 'wx');
  let n = 0;
  try {
    for await (const page of log.read(ack + 1, { to: log.head.seq })) {
      await fh.write(page.map((r) => `${JSON.stringify({ ...r.event, hash: r.hash })}\n`).join(''));
      n += page.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return n;
}

export async function fullResync(deps: ResyncDeps, opts: { exportUnsyncedTo?: string } = {}): Promise<FullResyncReport> {
  const { log } = deps;
  const pendingBefore = log.head.seq - (await readAckSeq(log));
  let uploadedFirst = false;
  let exportedTo: string | null = null;
  let exportedEvents = 0;
  if (log.head.seq > (await readAckSeq(log))) {
    try {
      await deps.syncUp();
    } catch {
      // Reported below from the cursor, which is what matters.
    }
    const ack = await readAckSeq(log);
    uploadedFirst = log.head.seq <= ack;
    if (log.head.seq > ack) {
      if (opts.exportUnsyncedTo === undefined) {
        throw new TillsyncError('UNSYNCED_EVENTS', `${log.head.seq - ack} events are not on the cloud yet and could not be uploaded`, {
          details: { pending: log.head.seq - ack, ackSeq: ack, head: log.head.seq },
        });
      }
      exportedEvents = await exportUnsynced(log, opts.exportUnsyncedTo);
      exportedTo = opts.exportUnsyncedTo;
      console.warn(`tillsync: full resync override: exported ${exportedEvents} unsynced events to ${exportedTo}; they stay in the log and upload later`);
    }
  }
  await log.setMeta({ [RESYNC_META_KEY]: { phase: 'wipe', started: deps.now() } satisfies ResyncMarker });
  const rest = await resumeFullResync(deps);
  return { pendingBefore, uploadedFirst, exportedTo, exportedEvents, ...rest };
}

/** Finishes a resync whose marker is present (after a crash, or from fullResync). */
export async function resumeFullResync(deps: ResyncDeps): Promise<{ changes: number; cursor: number; digest: CatalogDigest }> {
  const { log, views } = deps;
  let marker = await log.readMeta<ResyncMarker>(RESYNC_META_KEY);
  if (!marker) throw new TillsyncError('VALIDATION_FAILED', 'no full resync in progress');
  await deps.pauseSync();
  try {
    if (marker.phase === 'wipe') {
      await log.exclusive(async () => {
        await log.clearChanges();
        await log.putMetaNow({ feedCursor: 0 });
        // Views = own events only, until the download brings the cloud's data back.
        await views.rebuildFrom(log, (done, total) => deps.onProgress?.('wipe', done, total));
        await views.load();
        marker = { ...marker!, phase: 'download' };
        await log.putMetaNow({ [RESYNC_META_KEY]: marker });
      });
    }
  } finally {
    await deps.resumeSync();
  }
  let changes = 0;
  for (let attempt = 0; ; attempt++) {
    const down = await deps.syncDown();
    changes = down.cursor;
    const cloud = await deps.cloudDigest();
    if (cloud.head > log.feedCursor && attempt < 5) continue; // the cloud moved on meanwhile: catch up first
    const local = localDigest(views);
    const diffs = (Object.keys(local) as Array<keyof CatalogDigest>).filter((k) => local[k].sha256 !== cloud.digest[k].sha256);
    if (diffs.length > 0) {
      if (attempt < 5) continue;
      throw new TillsyncError('RESYNC_VERIFY_FAILED', `after the download, ${diffs.join(', ')} differ from the cloud`, {
        details: { expected: cloud.digest, found: local },
      });
    }
    await log.setMeta({ [RESYNC_META_KEY]: undefined });
    return { changes, cursor: log.feedCursor, digest: local };
  }
}
