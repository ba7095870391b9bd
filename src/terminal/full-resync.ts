/**
 * F7 — full data resync: replace all downloaded data with a fresh download.
 *
 * Guarantees:
 * - Never loses an unsynced transaction: the terminal's own event log is never
 *   touched, and the resync first uploads everything pending. If that upload
 *   cannot complete, it refuses with UNSYNCED_EVENTS; the explicit override
 *   first writes the unsynced events to a file it names (and logs that it did).
 * - Never harms a healthy till: local mode (LOCAL_MODE) and the cloud's
 *   reachability (CLOUD_UNREACHABLE) are checked before anything is written.
 *   The new data is downloaded BESIDE the old (a staging sublevel), the live
 *   views keep serving sales meanwhile, and they are replaced only once the
 *   staged data was verified against the cloud. A cloud that goes away in the
 *   middle leaves the catalog as it was.
 * - Like with like (issue 15.7): the cloud's digest folds its feed up to a
 *   cursor `head`; the check folds exactly the staged changes up to that same
 *   cursor (confirmed balances, not the till's own unconfirmed deltas). Sales
 *   made during the resync move the cloud's head, never the comparison, so a
 *   correct resync never fails and a real difference always does.
 *
 * Phases, recorded in a `resync` marker in the log's meta (crash safety):
 *
 *   (start) ─checks, upload first─▶ [download] ─staged to the cloud's head─▶
 *   [verify] ─staged digest = cloud digest at one cursor─▶ [switch] ─staged feed
 *   replaces the stored feed, views rebuilt (writer held)─▶ (done: marker removed)
 *
 * A kill in [download]/[verify] leaves the live data untouched; the next start
 * (or the next full resync) carries on from the staged cursor. A kill in
 * [switch] is finished by `finishInterruptedSwitch` on the next start, before
 * the agent serves anything: the staged feed stays until the marker is gone.
 */
import { open } from 'node:fs/promises';
import { TillsyncError } from '../errors.ts';
import { decodeTrusted, encodeCanonical } from '../events/codec.ts';
import type { Change } from '../events/event-types.ts';
import type { EventLog } from '../events/event-log.ts';
import { BIG_READS, seqKey, type Sublevel } from '../events/level-util.ts';
import { parseChange } from '../events/validate.ts';
import { digestRecords, type CatalogDigest } from '../events/catalog-digest.ts';
import { TerminalViews } from '../projections/terminal-views.ts';
import type { FeedPage } from '../replication/protocol.ts';
import { readAckSeq } from './cleanup.ts';

export const RESYNC_META_KEY = 'resync';

/** `wipe` is what markers of earlier versions hold; it resumes as `download`. */
export type ResyncPhase = 'download' | 'verify' | 'switch' | 'wipe';

export interface ResyncMarker {
  phase: ResyncPhase;
  started: number;
  /** Set in [switch]: the staged cursor that was verified. */
  cursor?: number;
}

/** What full resync needs from the sync worker and the cloud. */
export interface ResyncDeps {
  log: EventLog;
  views: TerminalViews;
  /** Whether local mode is on (no talking to the cloud). */
  localMode(): boolean;
  /** Upload everything pending now; resolves when the cloud acknowledged it or rejects. */
  syncUp(): Promise<unknown>;
  /** One feed page after `since` (GET /v1/feed). */
  feed(since: number, limit: number): Promise<FeedPage>;
  /** Stop / restart the background loops so nothing applies pages during the switch. */
  pauseSync(): Promise<void>;
  resumeSync(): Promise<void>;
  /** The cloud's digest of its feed folded up to `head`. */
  cloudDigest(): Promise<{ head: number; digest: CatalogDigest }>;
  now(): number;
  onProgress?: (phase: 'download' | 'verify' | 'switch', done: number, total: number) => void;
}

export interface FullResyncReport {
  /** Events that were not on the cloud when the resync started. */
  pendingBefore: number;
  /** They were all uploaded before anything was replaced (false when there were none or the override was used). */
  uploadedFirst: boolean;
  exportedTo: string | null;
  exportedEvents: number;
  changes: number;
  cursor: number;
  /** The verified digest (the cloud's, at `verifiedAt`). */
  digest: CatalogDigest;
  verifiedAt: number;
}

const PAGE = 1000;
/** Rounds of "download to the cloud's head, compare at that head" before giving up on a cloud that fails to answer consistently. */
const VERIFY_ROUNDS = 20;

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
  const fh = await open(path, 'wx', 0o600);
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

/**
 * Triggers an upload and waits until the cloud acknowledged `target` or the
 * upload failed. It does not wait for the upload to catch up with sales made
 * meanwhile (a pass chases the head while sellers keep appending).
 */
async function uploadUpTo(deps: ResyncDeps, target: number): Promise<number> {
  let settled = false;
  const up = deps.syncUp().then(() => undefined, () => undefined).finally(() => { settled = true; });
  for (;;) {
    const ack = await readAckSeq(deps.log);
    if (ack >= target || settled) return ack;
    await Promise.race([up, new Promise((r) => setTimeout(r, 50))]);
  }
}

function assertReachable(deps: ResyncDeps): void {
  if (deps.localMode()) throw new TillsyncError('LOCAL_MODE', 'local mode is on: turn it off for a full resync (nothing was changed)');
}

export async function fullResync(deps: ResyncDeps, opts: { exportUnsyncedTo?: string } = {}): Promise<FullResyncReport> {
  const { log } = deps;
  const marker = await log.readMeta<ResyncMarker>(RESYNC_META_KEY);
  if (marker) {
    // One was interrupted: carry it on rather than starting over.
    const rest = await resumeFullResync(deps);
    return { pendingBefore: 0, uploadedFirst: false, exportedTo: null, exportedEvents: 0, ...rest };
  }
  // What must reach the cloud first is what was sold before the resync was asked
  // for; sales made meanwhile are safe in the log (it is never touched).
  const target = log.head.seq;
  const pendingBefore = target - (await readAckSeq(log));
  let uploadedFirst = false;
  let exportedTo: string | null = null;
  let exportedEvents = 0;
  if (pendingBefore > 0) {
    const ack = await uploadUpTo(deps, target);
    uploadedFirst = ack >= target;
    if (!uploadedFirst) {
      if (opts.exportUnsyncedTo === undefined) {
        throw new TillsyncError('UNSYNCED_EVENTS', `${target - ack} events are not on the cloud yet and could not be uploaded`, {
          details: { pending: target - ack, ackSeq: ack, head: target },
        });
      }
      exportedEvents = await exportUnsynced(log, opts.exportUnsyncedTo);
      exportedTo = opts.exportUnsyncedTo;
      console.warn(`tillsync: full resync override: exported ${exportedEvents} unsynced events to ${exportedTo}; they stay in the log and upload later`);
    }
  }
  try {
    // Before anything is written: can the cloud be asked at all?
    assertReachable(deps);
    await deps.cloudDigest();
    await stagingOf(log).clear();
    await log.setMeta({ [RESYNC_META_KEY]: { phase: 'download', started: deps.now() } satisfies ResyncMarker });
    const rest = await resumeFullResync(deps);
    return { pendingBefore, uploadedFirst, exportedTo, exportedEvents, ...rest };
  } catch (err) {
    // A refusal after the export says where the export went: the caller must not lose track of it.
    if (exportedTo !== null && err instanceof TillsyncError) {
      throw new TillsyncError(err.code, err.message, { cause: err, details: { ...err.details, exportedTo, exportedEvents } });
    }
    throw err;
  }
}

/** Finishes a resync whose marker is present (after a crash, or from fullResync). */
export async function resumeFullResync(deps: ResyncDeps): Promise<{ changes: number; cursor: number; digest: CatalogDigest; verifiedAt: number }> {
  const { log } = deps;
  let marker = await log.readMeta<ResyncMarker>(RESYNC_META_KEY);
  if (!marker) throw new TillsyncError('VALIDATION_FAILED', 'no full resync in progress');
  let verified: { cursor: number; digest: CatalogDigest; verifiedAt: number } | undefined;
  if (marker.phase !== 'switch') {
    assertReachable(deps);
    verified = await downloadAndVerify(deps);
    marker = { ...marker, phase: 'switch', cursor: verified.cursor };
    await log.setMeta({ [RESYNC_META_KEY]: marker });
  }
  await deps.pauseSync();
  let cursor: number;
  try {
    cursor = await switchToStaged(log, deps.views, deps.onProgress);
  } finally {
    await deps.resumeSync();
  }
  const digest = verified?.digest ?? localDigest(deps.views);
  return { changes: cursor, cursor, digest, verifiedAt: verified?.verifiedAt ?? cursor };
}

/**
 * On start, before serving: a resync killed in its switch is finished here (it
 * is local work only). Returns whether it did. Leftover staging of a resync that
 * completed is removed.
 */
export async function finishInterruptedSwitch(log: EventLog, views: TerminalViews): Promise<boolean> {
  const marker = await log.readMeta<ResyncMarker>(RESYNC_META_KEY);
  if (!marker) {
    await stagingOf(log).clear();
    return false;
  }
  if (marker.phase !== 'switch') return false;
  await switchToStaged(log, views);
  return true;
}

function stagingOf(log: EventLog): Sublevel {
  return log.db.sublevel('resync-feed', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
}

async function stagedCursor(staging: Sublevel): Promise<number> {
  const last = await staging.keys({ reverse: true, limit: 1 }).all();
  return last.length === 0 ? 0 : Number(last[0]);
}

async function* readStaged(staging: Sublevel, after: number, upTo = Infinity): AsyncGenerator<Change[]> {
  const it = staging.iterator({ gt: seqKey(after), ...(upTo !== Infinity ? { lte: seqKey(upTo) } : {}), ...BIG_READS });
  try {
    for (;;) {
      const entries = await it.nextv(PAGE);
      if (entries.length === 0) return;
      yield entries.map(([, v]) => decodeTrusted<Change>(v));
    }
  } finally {
    await it.close();
  }
}

/** Downloads into the staging area until it holds the cloud's head, then compares at that very cursor. */
async function downloadAndVerify(deps: ResyncDeps): Promise<{ cursor: number; digest: CatalogDigest; verifiedAt: number }> {
  const staging = stagingOf(deps.log);
  const scratch = new TerminalViews(deps.log.db, deps.log.terminal, 'resync-verify');
  let folded = 0;
  let cursor = await stagedCursor(staging);
  for (let round = 0; round < VERIFY_ROUNDS; round++) {
    const cloud = await deps.cloudDigest();
    while (cursor < cloud.head) {
      const page = await deps.feed(cursor, PAGE);
      const changes = checkPage(page, cursor);
      if (changes.length === 0) break;
      const batch = deps.log.db.batch();
      for (const c of changes) batch.put(seqKey(c.cursor), encodeCanonical(c), { sublevel: staging });
      await batch.write();
      cursor = page.cursor;
      deps.onProgress?.('download', Math.min(cursor, cloud.head), cloud.head);
    }
    if (cursor < cloud.head) continue; // the feed did not reach the digest's head yet: ask again
    deps.onProgress?.('verify', 0, cloud.head);
    for await (const page of readStaged(staging, folded, cloud.head)) {
      scratch.stageChanges(page);
      scratch.committed();
      folded = page[page.length - 1]!.cursor;
    }
    folded = cloud.head;
    const local = localDigest(scratch);
    const diffs = (Object.keys(local) as Array<keyof CatalogDigest>).filter((k) => local[k].sha256 !== cloud.digest[k].sha256);
    deps.onProgress?.('verify', cloud.head, cloud.head);
    if (diffs.length > 0) {
      // Same cursor on both sides: this is a real difference. The live data stays as it was.
      await staging.clear();
      await deps.log.setMeta({ [RESYNC_META_KEY]: undefined });
      throw new TillsyncError('RESYNC_VERIFY_FAILED', `the downloaded ${diffs.join(', ')} differ from the cloud at feed cursor ${cloud.head}; the previous data is kept`, {
        details: { cursor: cloud.head, expected: cloud.digest, found: local },
      });
    }
    await deps.log.setMeta({ [RESYNC_META_KEY]: { phase: 'verify', started: deps.now(), cursor } satisfies ResyncMarker });
    return { cursor, digest: local, verifiedAt: cloud.head };
  }
  throw new TillsyncError('CLOUD_BAD_RESPONSE', 'the cloud\'s feed never reached the head of its own digest; the previous data is kept (run the full resync again)');
}

/** The staged feed replaces the stored one and the views are rebuilt from it plus the own log, with the writer held. */
async function switchToStaged(log: EventLog, views: TerminalViews, onProgress?: ResyncDeps['onProgress']): Promise<number> {
  const staging = stagingOf(log);
  const cursor = await stagedCursor(staging);
  await log.exclusive(async () => {
    await log.clearChanges();
    let batch = log.db.batch();
    let n = 0;
    let done = 0;
    for await (const page of readStaged(staging, 0)) {
      for (const c of page) batch.put(log.changeDb.prefix + seqKey(c.cursor), encodeCanonical(c));
      n += page.length;
      done += page.length;
      if (n >= 10_000) {
        await batch.write();
        batch = log.db.batch();
        n = 0;
      }
      onProgress?.('switch', done, cursor);
    }
    await batch.write({ sync: true });
    await log.putMetaNow({ feedCursor: cursor });
    await views.rebuildFrom(log, (d, t) => onProgress?.('switch', d, t));
    await views.load();
    await log.putMetaNow({ [RESYNC_META_KEY]: undefined });
  });
  await staging.clear();
  return cursor;
}

function checkPage(page: FeedPage, since: number): Change[] {
  const bad = (why: string): TillsyncError => new TillsyncError('CLOUD_BAD_RESPONSE', `feed page after ${since}: ${why}`);
  if (!page || !Array.isArray(page.changes) || typeof page.cursor !== 'number' || page.cursor < since) throw bad('malformed page');
  const out: Change[] = [];
  let last = since;
  for (const raw of page.changes) {
    const c = parseChange(raw);
    if (c.cursor <= last) throw bad(`change cursor ${c.cursor} is not after ${last}`);
    last = c.cursor;
    out.push(c);
  }
  if (out.length > 0 && last !== page.cursor) throw bad(`page cursor ${page.cursor} is not its last change's ${last}`);
  return out;
}
