/**
 * One upload pass: sends the log from the acknowledged cursor to the head.
 *
 * - Batches of at most `maxEvents` / `maxBytes`; up to `window` batches in
 *   flight (pipelining), but answers are consumed in seq order, so the cursor
 *   (`ackSeq`) only ever advances over the contiguous acknowledged prefix even
 *   when answers arrive out of order.
 * - The cursor is persisted with `log.setMeta({ ackSeq, upStats })` through the
 *   log's single writer, in one atomic write with the counters it changes, and
 *   is reported only after it is on disk.
 * - SEQ_GAP(expectedSeq): the cloud has everything below `expectedSeq`. If that
 *   is ahead of the cursor, the cursor advances (the cloud already has it, e.g.
 *   after a lost acknowledgement); a batch that overtook its predecessor is sent
 *   again; if the cloud expects less than we thought it held, and the batch
 *   overtook nothing, the cloud lost data: the cursor goes back and we resend.
 * - A cloud claiming more of this terminal than its log holds (a data folder
 *   restored from an old backup) is a refusal: appending on would fork the chain.
 * - Any other failure aborts the batches still in flight and ends the pass with
 *   that CloudError; the RetryLoop decides whether to back off or stop.
 * - The window adapts (slow start): a pass begins with `initialWindow` batches
 *   in flight (default 1), and the window grows by one per window's worth of
 *   batches answered within `widenBelowMs`, up to `window`. Slower answers mean
 *   the cloud is queueing (many terminals uploading at once), where more
 *   batches in flight only lengthen its queue and end in CLOUD_BUSY (not
 *   admitted in time), so the window stays. Every pass starts over.
 */
import { TillsyncError } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';
import { BatchSource } from './batch-source.ts';
import { CloudError, toCloudError } from './cloud-error.ts';
import type { UploadResponse } from './protocol.ts';
import type { PassContext } from './retry-loop.ts';
import type { CloudTransport } from './transport.ts';

export interface UploadOptions {
  /** Most events per batch (default 1000). */
  maxEvents?: number;
  /** Most canonical bytes per batch (default 1 MiB). */
  maxBytes?: number;
  /** Most batches in flight at once (default 4). */
  window?: number;
  /** Batches in flight when a pass starts (default 1; see the window rule above). */
  initialWindow?: number;
  /** Only batches answered within this long widen the window (default 1000 ms). */
  widenBelowMs?: number;
  /** Clock for answer times (default performance.now). */
  now?: () => number;
}

export interface UploadResult {
  /** Events newly stored by the cloud (accepted + quarantined). */
  uploaded: number;
  duplicates: number;
  quarantined: number;
  conflicts: number;
  ackSeq: number;
}

export interface UploadStats {
  quarantined: number;
  conflicts: number;
}

export interface UploadHooks {
  /** The cursor moved and is on disk. `done`/`total`: progress of this pass. */
  onAck?(ackSeq: number, progress: { done: number; total: number }): void;
  /** A batch was answered (for conflict and quarantine reporting). */
  onResponse?(resp: UploadResponse): void;
}

export const ACK_META_KEY = 'ackSeq';
export const UP_STATS_META_KEY = 'upStats';

/** Consecutive SEQ_GAP answers without the cursor moving before the pass gives up (and backs off). */
const MAX_GAP_REWINDS = 4;

type Outcome = { ok: true; value: UploadResponse } | { ok: false; error: CloudError };

interface InFlight {
  from: number;
  to: number;
  /** Other batches were unacknowledged ahead of this one when it was sent. */
  overtaking: boolean;
  sentAt: number;
  outcome: Promise<Outcome>;
}

export class UploadLoop {
  private ack = 0;
  private stats: UploadStats = { quarantined: 0, conflicts: 0 };
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly window: number;
  private readonly initialWindow: number;
  private readonly widenBelowMs: number;
  private readonly now: () => number;
  /** Batches allowed in flight now (≤ window). */
  private allowed: number;
  /** Acknowledged batches since `allowed` last grew. */
  private acksAtWidth = 0;

  constructor(
    private readonly log: EventLog,
    private readonly transport: CloudTransport,
    opts: UploadOptions = {},
    private readonly hooks: UploadHooks = {},
  ) {
    this.maxEvents = Math.max(1, opts.maxEvents ?? 1000);
    this.maxBytes = Math.max(1, opts.maxBytes ?? 1024 * 1024);
    this.window = Math.max(1, opts.window ?? 4);
    this.initialWindow = Math.min(this.window, Math.max(1, opts.initialWindow ?? 1));
    this.widenBelowMs = opts.widenBelowMs ?? 1000;
    this.now = opts.now ?? (() => performance.now());
    this.allowed = this.initialWindow;
  }

  /** Batches this pass may have in flight at once now (tests). */
  get windowNow(): number {
    return this.allowed;
  }

  /** One more batch answered in `ms`: after `allowed` quick ones the window grows by one. */
  private widen(ms: number): void {
    if (this.allowed >= this.window || ms >= this.widenBelowMs) return;
    if (++this.acksAtWidth >= this.allowed) {
      this.allowed++;
      this.acksAtWidth = 0;
    }
  }

  /** Reads the persisted cursor and counters. */
  async load(): Promise<void> {
    const ack = await this.log.readMeta<unknown>(ACK_META_KEY);
    this.ack = typeof ack === 'number' && Number.isSafeInteger(ack) && ack >= 0 ? Math.min(ack, this.log.head.seq) : 0;
    const stats = await this.log.readMeta<unknown>(UP_STATS_META_KEY);
    if (stats && typeof stats === 'object') {
      const s = stats as Partial<Record<keyof UploadStats, unknown>>;
      this.stats = {
        quarantined: typeof s.quarantined === 'number' ? s.quarantined : 0,
        conflicts: typeof s.conflicts === 'number' ? s.conflicts : 0,
      };
    }
  }

  get ackSeq(): number {
    return this.ack;
  }

  get counters(): UploadStats {
    return { ...this.stats };
  }

  /** Sets the quarantine count from the cloud's own figure (sync-state). */
  setCloudQuarantined(n: number): void {
    this.stats.quarantined = n;
  }

  /**
   * The cloud says it holds this terminal's events up to `cloudAck` (sync-state
   * or an answer). Moves the cursor forward to it; refuses if the log is behind.
   */
  async adoptCloudAck(cloudAck: number): Promise<void> {
    const head = this.log.head.seq;
    if (cloudAck > head) {
      throw new CloudError('SEQ_GAP', `the cloud holds this terminal's events up to seq ${cloudAck} but the local log ends at ${head}: was the data folder restored from an old backup?`, {
        kind: 'refusal',
        details: { cloudAckSeq: cloudAck, head },
      });
    }
    if (cloudAck > this.ack) await this.persist(cloudAck);
  }

  private async persist(ack: number): Promise<void> {
    await this.log.setMeta({ [ACK_META_KEY]: ack, [UP_STATS_META_KEY]: this.stats });
    this.ack = ack;
  }

  /** Uploads until the cursor reaches the head (including events appended meanwhile). */
  async run(ctx: PassContext): Promise<UploadResult> {
    const result: UploadResult = { uploaded: 0, duplicates: 0, quarantined: 0, conflicts: 0, ackSeq: this.ack };
    const startAck = this.ack;
    let gapRewinds = 0;
    this.allowed = this.initialWindow;
    this.acksAtWidth = 0;
    for (;;) {
      const head = this.log.head.seq;
      if (this.ack >= head) break;
      const total = head - startAck;
      const ackBefore = this.ack;
      const rewound = await this.sendWindow(ctx, head, result, total);
      if (this.ack > ackBefore) gapRewinds = 0;
      else if (rewound) {
        gapRewinds++;
        if (gapRewinds > MAX_GAP_REWINDS) {
          throw new CloudError('SEQ_GAP', `the cloud keeps answering SEQ_GAP at seq ${this.ack + 1}`, { kind: 'retry', details: { ackSeq: this.ack } });
        }
      }
    }
    result.ackSeq = this.ack;
    return result;
  }

  /**
   * Sends [ack+1, head] with a window of batches. Returns true when it stopped
   * early to resend from the (possibly moved) cursor, false when it reached head.
   */
  private async sendWindow(ctx: PassContext, head: number, result: UploadResult, total: number): Promise<boolean> {
    const gen = new AbortController();
    const signal = AbortSignal.any([ctx.signal, gen.signal]);
    const source = new BatchSource(this.log, this.ack + 1, head, this.maxEvents, this.maxBytes);
    const inFlight: InFlight[] = [];
    let next = this.ack + 1;
    try {
      for (;;) {
        while (inFlight.length < this.allowed && next <= head) {
          const batch = await source.next();
          if (!batch) break;
          inFlight.push({
            from: batch.from,
            to: batch.to,
            overtaking: inFlight.length > 0,
            sentAt: this.now(),
            outcome: this.transport.upload(batch.events, { signal }).then(
              (value): Outcome => ({ ok: true, value }),
              (err: unknown): Outcome => ({ ok: false, error: toCloudError(err, 'upload') }),
            ),
          });
          next = batch.to + 1;
        }
        const b = inFlight.shift();
        if (!b) return false;
        const out = await b.outcome;
        if (ctx.signal.aborted) throw ctx.signal.reason;
        ctx.progress();
        if (out.ok) {
          const resp = out.value;
          result.uploaded += resp.accepted + resp.quarantined;
          result.duplicates += resp.duplicates;
          result.quarantined += resp.quarantined;
          result.conflicts += resp.conflicts.length;
          this.stats.quarantined += resp.quarantined;
          this.stats.conflicts += resp.conflicts.length;
          this.hooks.onResponse?.(resp);
          this.widen(this.now() - b.sentAt);
          if (resp.ackSeq > head) await this.adoptCloudAck(resp.ackSeq);
          const newAck = Math.max(this.ack, resp.ackSeq);
          if (newAck !== this.ack || resp.quarantined > 0 || resp.conflicts.length > 0) await this.persist(newAck);
          this.hooks.onAck?.(this.ack, { done: this.ack - (head - total), total });
          // The cloud stored less than the whole batch without saying why: resend the rest.
          if (resp.ackSeq < b.to) return true;
          continue;
        }
        const err = out.error;
        if (err.kind !== 'gap' || err.expectedSeq === undefined) throw err;
        const known = err.expectedSeq - 1;
        if (known > this.ack) {
          await this.adoptCloudAck(known);
          this.hooks.onAck?.(this.ack, { done: this.ack - (head - total), total });
        } else if (known < this.ack && !b.overtaking) {
          // The cloud lost events it had acknowledged (restored storage): send them again.
          if (known < this.log.base.seq) {
            throw new CloudError('SEQ_GAP', `the cloud expects seq ${known + 1}, but this terminal cleaned up events up to ${this.log.base.seq}`, {
              kind: 'refusal',
              details: { expectedSeq: known + 1, base: this.log.base.seq },
            });
          }
          await this.persist(known);
        }
        return true;
      }
    } catch (err) {
      if (err instanceof TillsyncError && !(err instanceof CloudError)) throw toCloudError(err, 'upload');
      throw err;
    } finally {
      gen.abort();
      await Promise.all(inFlight.map((b) => b.outcome));
      await source.close();
    }
  }
}
