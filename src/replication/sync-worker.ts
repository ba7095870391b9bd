/**
 * The terminal's sync worker: the upload and download loops, the WebSocket
 * link, local mode, the watchdog and the status model, behind one facade.
 *
 * Guarantees:
 * - While local mode is active, or after the credential was refused, no network
 *   call of any kind is made (the loops' gate refuses before any request).
 * - The terminal never waits for the cloud: the log keeps taking sales whatever
 *   the worker does; the worker only reads the log and writes cursors through it.
 * - Cursors are acknowledged only after they are on disk (upload: `ackSeq` meta;
 *   download: `applyChanges` with its cursor), so a crash or restart() at any
 *   moment resumes without loss or skip; an interrupted upload is resent and the
 *   cloud answers duplicates.
 * - Sync starts by itself on start(), when the stream (re)connects, when local
 *   mode ends (at once), after setCredential(), on `notifyAppended()` and
 *   periodically; failures retry with exponential backoff and jitter.
 * - Losing the cloud is noticed at once: when the open stream closes by itself
 *   the connection stops being `online` in the same tick (offline, error null:
 *   "not confirmed") and a probe (GET /v1/sync-state) goes out at once; only
 *   its answer makes the state online again. So the store's offline policy for
 *   stored value applies from the moment the stream drops, not after the next
 *   failed request (the agent's policy probe is `connection.state !== 'online'`).
 * - One failed request while the stream is up (a lost acknowledgement, a 5xx)
 *   does not by itself say the cloud is unreachable: it is probed, and the state
 *   turns offline only if the probe fails too.
 * - Reconnecting is prompt: the stream retries with a backoff capped at
 *   `streamRetryMaxMs` (default 5 s) and skips its wait as soon as any other
 *   exchange succeeds; its reconnect syncs both directions at once.
 */
import { TillsyncError, type ErrorCode } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';
import { folderBytes } from '../events/level-util.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { toCloudError, type CloudError } from './cloud-error.ts';
import { compareWithCloud } from './cloud-hwm.ts';
import { DownloadLoop, type DownloadOptions, type DownloadResult } from './download-loop.ts';
import { LocalMode, type LocalModeRequest, type LocalModeSetting } from './local-mode.ts';
import type { ServerMessage } from './protocol.ts';
import { RetryLoop, type PassContext } from './retry-loop.ts';
import { StreamLink } from './stream-link.ts';
import { StatusStore, type ConnectionState, type StatusListener, type SyncStatus } from './sync-status.ts';
import { systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from './timers.ts';
import type { CloudTransport } from './transport.ts';
import { UnsyncedPaymentTracker } from './unsynced-payment.ts';
import { UploadLoop, type UploadOptions, type UploadResult } from './upload-loop.ts';

export interface SyncWorkerOptions {
  log: EventLog;
  transport: CloudTransport;
  clock?: Clock;
  timers?: Timers;
  /** Jitter source (default Math.random); seed it in tests. */
  random?: () => number;
  upload?: UploadOptions;
  download?: DownloadOptions & {
    /** Pull the feed this often even without a notification (default 60 s). */
    intervalMs?: number;
  };
  /** Re-check the log for new events this often (default 5 s); `notifyAppended()` is immediate. */
  uploadPollMs?: number;
  backoff?: BackoffOptions;
  /** Watchdog: a direction with work and no progress for this long is restarted (default 90 s; false: off). */
  stallMs?: number | false;
  /** Keep the WebSocket stream up for push notifications (default true). */
  stream?: boolean;
  /** Longest wait between stream reconnect attempts (default 5 s; the loops' backoff cap otherwise applies). */
  streamRetryMaxMs?: number;
}

type Direction = 'upload' | 'download' | 'stream';

/**
 * The log's size on disk (F1) is measured at most this often: it stats every
 * file of the data folder (hundreds on a big log), and a sync makes a pass per
 * batch. A 1M-event sync-up spent ~6% of the terminal's CPU on it when it was
 * measured after every pass.
 */
const LOG_BYTES_EVERY_MS = 2_000;
/** After the stream reconnects, a pass begun while the cloud was unreachable and still running this long is restarted. */
export const RECONNECT_STUCK_MS = 3_000;

export class SyncWorker {
  private readonly log: EventLog;
  private readonly transport: CloudTransport;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly store: StatusStore;
  private readonly localMode: LocalMode;
  private readonly up: UploadLoop;
  private readonly down: DownloadLoop;
  private readonly upLoop: RetryLoop<UploadResult>;
  private readonly downLoop: RetryLoop<DownloadResult>;
  private readonly link: StreamLink | undefined;
  private readonly payments: UnsyncedPaymentTracker;
  private revoked: CloudError | undefined;
  private logMeasuredAt = Number.NEGATIVE_INFINITY;
  private logMeasureTimer: TimerHandle | undefined;
  /** Times the data folder was measured (tests). */
  logMeasures = 0;
  private readonly stuck = new Map<Direction, CloudError>();
  /** What the last exchange said about reachability; error null = not confirmed (probe in flight). */
  private lastNet: { ok: true } | { ok: false; error: ErrorCode | null; retryAt: number | null } | undefined;
  private probing: Promise<void> | undefined;
  private probeCtl: AbortController | undefined;
  private readonly gate: () => TillsyncError | undefined;
  /** Probes sent (tests). */
  probes = 0;
  private needHandshake = true;
  /** The current upload pass talked to the cloud (else it is not a "sync up" worth reporting). */
  private upContacted = false;
  private started = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** The folder size is to be measured in the refresh running or next. */
  private measureAgain = false;
  /**
   * Per direction, the pass in flight and whether it began while the cloud was
   * not known to be reachable ("blind"). A request sent into a network that was
   * down can hang rather than fail (seen with fetch through a dropped
   * connection): once the stream is back, such a pass that is still running
   * after RECONNECT_STUCK_MS is restarted instead of waiting out its timeout.
   */
  private readonly inFlight: Record<'upload' | 'download', { blind: boolean } | undefined> = { upload: undefined, download: undefined };
  private stuckCheck: TimerHandle | undefined;

  constructor(opts: SyncWorkerOptions) {
    this.log = opts.log;
    this.transport = opts.transport;
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    const random = opts.random ?? Math.random;
    const stallMs = opts.stallMs === false ? undefined : (opts.stallMs ?? 90_000);
    const now = this.clock.now();
    this.store = new StatusStore(this.clock, {
      connection: { state: 'offline', since: now, error: null, retryAt: null },
      localMode: { on: false, until: null },
      uploaded: 0, head: this.log.head.seq, pending: this.log.head.seq, quarantined: 0, conflicts: 0, recentConflicts: [],
      lastUp: null, lastDown: null, lastUpError: null, lastDownError: null,
      feedCursor: this.log.feedCursor, feedHead: null, activity: null,
      oldestUnsyncedPayment: null, openExceptions: null, logBytes: null, streamConnected: false,
      restarts: 0, watchdogRestarts: 0,
    });
    this.payments = new UnsyncedPaymentTracker(this.log);
    this.localMode = new LocalMode(this.log, this.clock, this.timers, () => this.onLocalModeEnded());

    this.up = new UploadLoop(this.log, this.transport, opts.upload, {
      onAck: (ackSeq, progress) => {
        this.store.update({ uploaded: ackSeq, head: this.log.head.seq, activity: { op: 'upload', ...progress } });
        this.refreshDerived(false);
      },
      onResponse: (resp) => {
        if (resp.conflicts.length === 0 && resp.quarantined === 0) return;
        const c = this.up.counters;
        this.store.update({
          quarantined: c.quarantined,
          conflicts: c.conflicts,
          recentConflicts: [...this.store.fields.recentConflicts, ...resp.conflicts].slice(-20),
        });
      },
    });
    this.down = new DownloadLoop(this.log, this.transport, opts.download, {
      onPage: (cursor, head, progress) => {
        this.store.update({ feedCursor: cursor, feedHead: head, activity: { op: 'download', ...progress } });
      },
    });

    const gate = (): TillsyncError | undefined => {
      if (this.localMode.isActive()) return new TillsyncError('LOCAL_MODE', 'local mode is on: no network calls');
      return this.revoked;
    };
    this.gate = gate;
    const common = { clock: this.clock, timers: this.timers, gate, ...(stallMs !== undefined ? { stallMs } : {}) };
    this.upLoop = new RetryLoop<UploadResult>({
      ...common,
      name: 'upload',
      backoff: new Backoff(opts.backoff, random),
      intervalMs: opts.uploadPollMs ?? 5_000,
      pass: (ctx) => this.uploadPass(ctx),
      onSuccess: (r) => this.afterPass('upload', r),
      onFailure: (err, retryAt) => this.onFailure('upload', err, retryAt),
      onStall: () => this.onStall(),
    });
    this.downLoop = new RetryLoop<DownloadResult>({
      ...common,
      name: 'download',
      backoff: new Backoff(opts.backoff, random),
      intervalMs: opts.download?.intervalMs ?? 60_000,
      pass: (ctx) => this.downloadPass(ctx),
      onSuccess: (r) => this.afterPass('download', r),
      onFailure: (err, retryAt) => this.onFailure('download', err, retryAt),
      onStall: () => this.onStall(),
    });
    this.link = opts.stream === false ? undefined : new StreamLink({
      transport: this.transport,
      timers: this.timers,
      backoff: new Backoff({ ...opts.backoff, maxMs: Math.min(opts.backoff?.maxMs ?? 60_000, opts.streamRetryMaxMs ?? 5_000) }, random),
      allowed: () => gate() === undefined,
      onMessage: (msg) => this.onStreamMessage(msg),
      onConnected: (connected) => {
        this.store.update({ streamConnected: connected });
        if (!connected) return;
        // The cloud is reachable again: sync both ways now (F4).
        this.restartBlindPasses();
        this.lastNet = { ok: true };
        this.updateConnection();
        this.upLoop.kick({ force: true });
        this.downLoop.kick({ force: true });
      },
      onRefusal: (err) => this.onFailure('stream', err, null),
      onLost: () => {
        // The cloud may be gone: not online until it answers (stored value follows the offline policy).
        this.needHandshake = true;
        this.lastNet = { ok: false, error: null, retryAt: null };
        this.updateConnection();
        this.probe();
      },
    });
  }

  // ------------------------------------------------------------------ public API

  /** Loads the cursors and the local-mode setting, then starts syncing (unless local mode is on). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.up.load();
    const lm = await this.localMode.load();
    const c = this.up.counters;
    this.store.update({
      uploaded: this.up.ackSeq, head: this.log.head.seq, feedCursor: this.log.feedCursor,
      quarantined: c.quarantined, conflicts: c.conflicts, localMode: { on: this.localMode.isActive(), until: lm.until },
    });
    this.updateConnection();
    this.upLoop.start();
    this.downLoop.start();
    this.link?.start();
    this.refreshDerived(true);
  }

  /** Stops both loops and the stream, aborting requests in flight. The log stays open. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.localMode.dispose();
    this.link?.stop();
    this.probeCtl?.abort();
    while (this.probing) await this.probing;
    if (this.logMeasureTimer) this.timers.clearTimeout(this.logMeasureTimer);
    this.logMeasureTimer = undefined;
    if (this.stuckCheck !== undefined) this.timers.clearTimeout(this.stuckCheck);
    this.stuckCheck = undefined;
    await Promise.all([this.upLoop.stop(), this.downLoop.stop()]);
    while (this.refreshing) await this.refreshing;
  }

  /** F5: upload now; resolves with what moved, rejects with the failure's code (LOCAL_MODE, CLOUD_UNREACHABLE...). */
  syncUp(): Promise<UploadResult> {
    return this.upLoop.trigger();
  }

  /** F6: download now; resolves with the changes applied and the cursor reached. */
  syncDown(): Promise<DownloadResult> {
    return this.downLoop.trigger();
  }

  /**
   * F8: aborts whatever is in flight and restarts both directions and the stream
   * cleanly, with a fresh backoff. Resolves once the aborted requests settled.
   */
  async restart(): Promise<void> {
    this.store.update({ restarts: this.store.fields.restarts + 1 });
    this.needHandshake = true;
    this.stuck.clear();
    this.updateConnection();
    this.link?.reconnectNow();
    await Promise.all([this.upLoop.interrupt({ resetBackoff: true }), this.downLoop.interrupt({ resetBackoff: true })]);
  }

  /** F2: turns local mode on (optionally until a time) or off; persisted before it resolves. */
  async setLocalMode(req: LocalModeRequest): Promise<LocalModeSetting> {
    const setting = await this.localMode.set(req);
    this.store.update({ localMode: { on: setting.on, until: setting.until } });
    if (this.localMode.isActive()) {
      this.link?.stop();
      this.probeCtl?.abort();
      this.updateConnection();
      // Abort anything in flight; the gate then keeps the loops off the network.
      await Promise.all([this.upLoop.interrupt(), this.downLoop.interrupt()]);
    } else {
      this.onLocalModeEnded();
    }
    return setting;
  }

  /** A new credential (after re-enrollment): resumes syncing if it was revoked. */
  setCredential(token: string): void {
    this.transport.setCredential(token);
    this.revoked = undefined;
    for (const [dir, err] of this.stuck) if (err.isAuth || err.code === 'FORBIDDEN') this.stuck.delete(dir);
    this.needHandshake = true;
    this.updateConnection();
    if (!this.started) return;
    this.link?.reconnectNow();
    this.upLoop.kick({ force: true });
    this.downLoop.kick({ force: true });
  }

  /** The terminal appended events: upload soon and refresh the status. */
  notifyAppended(): void {
    this.store.update({ head: this.log.head.seq });
    this.refreshDerived(false);
    this.upLoop.kick();
  }

  status(): SyncStatus {
    return this.store.snapshot();
  }

  /** Calls `fn` with a fresh snapshot on every change; returns the unsubscribe function. */
  onStatus(fn: StatusListener): () => void {
    return this.store.subscribe(fn);
  }

  // ------------------------------------------------------------------ passes

  /** Runs `pass` as the `dir` pass in flight (see `inFlight`). */
  private async tracked<T>(dir: 'upload' | 'download', pass: () => Promise<T>): Promise<T> {
    const mine = { blind: this.lastNet?.ok !== true };
    this.inFlight[dir] = mine;
    try {
      return await pass();
    } finally {
      if (this.inFlight[dir] === mine) this.inFlight[dir] = undefined;
    }
  }

  /** The stream is back: passes begun blind and still running a moment later are restarted. */
  private restartBlindPasses(): void {
    const blind = (['upload', 'download'] as const).flatMap((dir) => {
      const pass = this.inFlight[dir];
      return pass?.blind ? [{ dir, pass }] : [];
    });
    if (blind.length === 0) return;
    if (this.stuckCheck !== undefined) this.timers.clearTimeout(this.stuckCheck);
    this.stuckCheck = this.timers.setTimeout(() => {
      this.stuckCheck = undefined;
      for (const { dir, pass } of blind) {
        if (this.inFlight[dir] !== pass) continue; // that pass has ended
        void (dir === 'upload' ? this.upLoop : this.downLoop).interrupt();
      }
    }, RECONNECT_STUCK_MS);
  }

  private async uploadPass(ctx: PassContext): Promise<UploadResult> {
    return this.tracked('upload', () => this.runUploadPass(ctx));
  }

  private async runUploadPass(ctx: PassContext): Promise<UploadResult> {
    this.store.update({ head: this.log.head.seq });
    this.upContacted = this.needHandshake;
    if (this.needHandshake) await this.handshake(ctx);
    if (this.up.ackSeq >= this.log.head.seq) {
      return { uploaded: 0, duplicates: 0, quarantined: 0, conflicts: 0, ackSeq: this.up.ackSeq };
    }
    this.setActivity({ op: 'upload', done: 0, total: this.log.head.seq - this.up.ackSeq });
    this.upContacted = true;
    try {
      return await this.up.run(ctx);
    } finally {
      this.clearActivity('upload');
    }
  }

  /** On (re)connect: what the cloud knows about this terminal. */
  private async handshake(ctx: PassContext): Promise<void> {
    this.setActivity({ op: 'connect', done: 0, total: 1 });
    try {
      const s = await this.transport.syncState({ signal: ctx.signal });
      ctx.progress();
      this.up.setCloudQuarantined(s.quarantined);
      await compareWithCloud(this.log, s); // a stale or damaged log stops here (cloud-hwm.ts)
      await this.up.adoptCloudAck(s.ackSeq);
      this.needHandshake = false;
      this.lastNet = { ok: true };
      this.store.update({ uploaded: this.up.ackSeq, quarantined: s.quarantined, ...this.exceptionsFrom(s) });
      this.updateConnection();
      if (s.feedHead > this.log.feedCursor) this.downLoop.kick({ force: true });
    } finally {
      this.clearActivity('connect');
    }
  }

  private async downloadPass(ctx: PassContext): Promise<DownloadResult> {
    return this.tracked('download', async () => {
      this.setActivity({ op: 'download', done: 0, total: 0 });
      try {
        return await this.down.run(ctx);
      } finally {
        this.clearActivity('download');
      }
    });
  }

  private afterPass(dir: 'upload' | 'download', r: UploadResult | DownloadResult): void {
    const at = this.clock.now();
    this.stuck.delete(dir);
    if (dir === 'upload') {
      const u = r as UploadResult;
      const contacted = this.upContacted;
      if (contacted) this.lastNet = { ok: true };
      this.store.update({
        uploaded: u.ackSeq, head: this.log.head.seq, lastUpError: null,
        ...(contacted ? { lastUp: { at, uploaded: u.uploaded, duplicates: u.duplicates, quarantined: u.quarantined, conflicts: u.conflicts } } : {}),
      });
      // Events appended during the pass: go again.
      if (u.ackSeq < this.log.head.seq) this.upLoop.kick();
      if (contacted && !this.store.fields.streamConnected) this.link?.retrySoon();
    } else {
      const d = r as DownloadResult;
      this.lastNet = { ok: true };
      // "Last sync down" is the last pass that moved something: a pass that found nothing new keeps it.
      this.store.update({
        feedCursor: d.cursor, feedHead: d.head, lastDownError: null,
        ...(d.changes > 0 || this.store.fields.lastDown === null ? { lastDown: { at, changes: d.changes, cursor: d.cursor } } : {}),
      });
      if (!this.store.fields.streamConnected) this.link?.retrySoon();
    }
    this.updateConnection();
    this.refreshDerived(true);
  }

  private onFailure(dir: Direction, err: CloudError, retryAt: number | null): void {
    const info = { at: this.clock.now(), code: err.code, message: err.message };
    if (dir === 'upload') this.store.update({ lastUpError: info });
    else this.store.update({ lastDownError: info });
    this.needHandshake = true;
    if (err.kind === 'refusal') {
      if (err.isAuth) {
        this.revoked = err;
        this.link?.stop();
        this.link?.start(); // allowed() is false while revoked: this only resets its state
      } else {
        this.stuck.set(dir, err);
      }
    } else if (dir !== 'stream' && this.store.fields.streamConnected && this.lastNet?.ok) {
      // The stream is up, so the cloud was reachable a moment ago: one failed
      // request (a lost acknowledgement) is not "offline" until a probe says so.
      this.probe(retryAt);
    } else {
      this.lastNet = { ok: false, error: err.code, retryAt };
    }
    this.updateConnection();
  }

  /**
   * Asks the cloud whether it is there (GET /v1/sync-state), once at a time.
   * An answer makes the connection online (and lets the stream reconnect at
   * once); a failure makes it offline with its code. `retryAt`: when the loop
   * that failed retries, shown if the probe fails too.
   */
  private probe(retryAt: number | null = null): void {
    if (this.probing || !this.started || this.gate() !== undefined) return;
    const ctl = new AbortController();
    this.probeCtl = ctl;
    this.probes++;
    this.probing = (async () => {
      try {
        const s = await this.transport.syncState({ signal: ctl.signal });
        if (ctl.signal.aborted) return;
        this.lastNet = { ok: true };
        this.store.update(this.exceptionsFrom(s));
        if (s.feedHead > this.log.feedCursor) this.downLoop.kick({ force: true });
        if (!this.store.fields.streamConnected) this.link?.retrySoon();
      } catch (err) {
        if (ctl.signal.aborted) return;
        const e = toCloudError(err, 'probe');
        if (e.kind === 'refusal') this.onFailure('stream', e, null);
        else this.lastNet = { ok: false, error: e.code, retryAt };
      } finally {
        this.probing = undefined;
        if (this.probeCtl === ctl) this.probeCtl = undefined;
        if (this.started) this.updateConnection();
      }
    })();
  }

  /**
   * The exception count and feed head of a sync-state answer, to show. While the
   * stream is connected it tells the count in commit order, and an answer read
   * before its latest push may arrive after it: the stream's count is kept.
   */
  private exceptionsFrom(s: { openExceptions: number; feedHead: number }): { openExceptions?: number; feedHead: number } {
    return this.store.fields.streamConnected ? { feedHead: s.feedHead } : { openExceptions: s.openExceptions, feedHead: s.feedHead };
  }

  private onStall(): void {
    this.needHandshake = true;
    this.store.update({ watchdogRestarts: this.store.fields.watchdogRestarts + 1 });
  }

  private onLocalModeEnded(): void {
    this.store.update({ localMode: { on: false, until: null } });
    this.needHandshake = true;
    this.updateConnection();
    if (!this.started) return;
    // F2: when local mode ends, sync at once.
    this.link?.start();
    this.upLoop.kick({ force: true });
    this.downLoop.kick({ force: true });
  }

  private onStreamMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello':
      case 'feed': {
        const head = msg.type === 'hello' ? msg.feedHead : msg.head;
        this.store.update({ feedHead: head });
        if (head > this.log.feedCursor) this.downLoop.kick({ force: msg.type === 'hello' });
        break;
      }
      case 'exceptions':
        this.store.update({ openExceptions: msg.open });
        break;
    }
  }

  // ------------------------------------------------------------------ status helpers

  private setActivity(a: SyncStatus['activity']): void {
    this.store.update({ activity: a });
  }

  private clearActivity(op: 'upload' | 'download' | 'connect'): void {
    if (this.store.fields.activity?.op === op) this.store.update({ activity: null });
  }

  private updateConnection(): void {
    const now = this.clock.now();
    const prev = this.store.fields.connection;
    const since = (state: ConnectionState['state']): number => (prev.state === state ? prev.since : now);
    let next: ConnectionState;
    const stuck = this.stuck.values().next();
    if (this.localMode.isActive()) {
      next = { state: 'local', since: this.localMode.current.since ?? since('local'), until: this.localMode.current.until };
    } else if (this.revoked) {
      next = { state: 'revoked', since: since('revoked'), error: this.revoked.code };
    } else if (!stuck.done) {
      next = { state: 'stuck', since: since('stuck'), error: stuck.value.code, message: stuck.value.message };
    } else if (this.lastNet?.ok) {
      next = { state: 'online', since: since('online') };
    } else {
      next = { state: 'offline', since: since('offline'), error: this.lastNet?.error ?? null, retryAt: this.lastNet?.retryAt ?? null };
    }
    this.store.update({ connection: next });
  }

  /**
   * Recomputes the oldest unsynced payment (and, if asked, the folder size:
   * at most every LOG_BYTES_EVERY_MS, else once that time is up),
   * serialized and coalesced.
   */
  private refreshDerived(measureDisk: boolean): void {
    if (measureDisk) {
      const wait = this.logMeasuredAt + LOG_BYTES_EVERY_MS - this.clock.now();
      if (wait > 0) {
        this.logMeasureTimer ??= this.timers.setTimeout(() => {
          this.logMeasureTimer = undefined;
          if (this.started) this.refreshDerived(true);
        }, wait);
      } else {
        this.logMeasuredAt = this.clock.now();
        this.measureAgain = true;
      }
    }
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const p = await this.payments.oldest(this.up.ackSeq);
          this.store.update({ oldestUnsyncedPayment: p, head: this.log.head.seq });
          if (this.measureAgain) {
            this.measureAgain = false;
            this.logMeasures++;
            this.store.update({ logBytes: await folderBytes(this.log.db.location) });
          }
        } while (this.refreshAgain && !this.log.isClosed);
      } catch {
        // The log closed under us (shutdown): the status keeps its last values.
      } finally {
        this.refreshing = undefined;
      }
    })();
  }
}
