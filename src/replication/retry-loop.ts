/**
 * Runs one sync direction: passes on demand, retries with backoff, stops on
 * refusals. The pass itself (upload or download) knows nothing about timing.
 *
 *              kick / trigger / timer
 *   ┌──────┐ ──────────────────────▶ ┌─────────┐  success   ┌──────┐
 *   │ idle │                         │ running │ ─────────▶ │ idle │ (+ interval timer)
 *   └──────┘ ◀── gate refuses ────── └─────────┘            └──────┘
 *                                     │      │ retryable
 *                             refusal │      ▼
 *                                     │   ┌─────────┐ backoff timer / trigger / force kick
 *                                     │   │ waiting │ ──────────────────────────▶ running
 *                                     ▼   └─────────┘
 *                               ┌─────────┐ unblock() / trigger / restart()
 *                               │ blocked │ ──────────────────────────▶ running
 *                               └─────────┘
 *   stop() from anywhere → stopped (in-flight pass aborted, waiters rejected SYNC_ABORTED).
 *
 * - One pass at a time. `trigger()` waits for a pass that starts after the call,
 *   so whatever was appended before it is included.
 * - A background `kick()` neither skips a backoff wait nor retries a refusal;
 *   `kick({ force: true })` (connection back, local mode over) and `trigger()` do.
 * - `interrupt()` aborts the pass in flight and runs the loop again at once
 *   (restart, watchdog, local mode turned on — then the gate refuses it).
 * - The gate is asked before every pass: while it refuses (local mode, revoked
 *   credential) no pass runs, so no network call is made.
 */
import type { TillsyncError } from '../errors.ts';
import type { Backoff } from './backoff.ts';
import { abortedError, toCloudError, type CloudError } from './cloud-error.ts';
import { StallTimer } from './stall-timer.ts';
import type { Clock, TimerHandle, Timers } from './timers.ts';

export type LoopState = 'idle' | 'running' | 'waiting' | 'blocked' | 'stopped';

export interface PassContext {
  signal: AbortSignal;
  /** Call on every bit of progress: re-arms the watchdog. */
  progress(): void;
}

export interface RetryLoopOptions<T> {
  name: string;
  pass(ctx: PassContext): Promise<T>;
  clock: Clock;
  timers: Timers;
  backoff: Backoff;
  /** Asked before every pass; an error means "do not run now" and is given to waiting triggers. */
  gate(): TillsyncError | undefined;
  /** After a successful pass, run again after this long (periodic); undefined: only on demand. */
  intervalMs?: number;
  /** Watchdog: a running pass with no progress for this long is interrupted. */
  stallMs?: number;
  onSuccess?(result: T): void;
  /** `retryAt` is null for a refusal (blocked) . */
  onFailure?(err: CloudError, retryAt: number | null): void;
  onStall?(): void;
  onState?(state: LoopState): void;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

export class RetryLoop<T> {
  private stateValue: LoopState = 'stopped';
  private wanted = false;
  private waiters: Array<Waiter<T>> = [];
  private draining: Promise<void> | undefined;
  private active = false;
  /** A forced kick or a trigger arrived since the pass started: it may skip the backoff wait. */
  private urgent = false;
  private timer: TimerHandle | undefined;
  private controller: AbortController | undefined;
  /** Settles (never rejects) when the pass in flight has settled. */
  private current: Promise<void> = Promise.resolve();
  private readonly stall: StallTimer | undefined;

  constructor(private readonly opts: RetryLoopOptions<T>) {
    this.stall = opts.stallMs !== undefined
      ? new StallTimer(opts.timers, opts.stallMs, () => {
          opts.onStall?.();
          void this.interrupt();
        })
      : undefined;
  }

  get state(): LoopState {
    return this.stateValue;
  }

  private isStopped(): boolean {
    return this.stateValue === 'stopped';
  }

  start(): void {
    if (this.stateValue !== 'stopped') return;
    this.stateValue = 'idle';
    this.opts.onState?.('idle');
    this.kick({ force: true });
  }

  /** Aborts the pass in flight, cancels timers, rejects waiting triggers with SYNC_ABORTED. */
  async stop(): Promise<void> {
    this.setState('stopped');
    this.clearTimer();
    this.stall?.end();
    this.controller?.abort(abortedError('stopped'));
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w.reject(abortedError('stopped'));
    while (this.draining) await this.draining;
  }

  /** Background request for a pass. */
  kick(opts: { force?: boolean } = {}): void {
    if (this.stateValue === 'stopped') return;
    if (!opts.force && (this.stateValue === 'waiting' || this.stateValue === 'blocked')) return;
    if (this.stateValue === 'blocked') this.setState('idle');
    this.clearTimer();
    this.wanted = true;
    if (opts.force) this.urgent = true;
    this.ensureDraining();
  }

  /** Runs a pass as soon as possible and resolves with its result (or rejects with its error). */
  trigger(): Promise<T> {
    if (this.stateValue === 'stopped') return Promise.reject(abortedError('not started'));
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.kick({ force: true });
    });
  }

  /**
   * Aborts the pass in flight (if any) and runs the loop again at once, with a
   * fresh backoff. Resolves once the aborted pass has settled.
   */
  async interrupt(opts: { resetBackoff?: boolean } = {}): Promise<void> {
    if (this.stateValue === 'stopped') return;
    if (opts.resetBackoff) this.opts.backoff.reset();
    const inFlight = this.current;
    this.controller?.abort(abortedError('restarted'));
    this.kick({ force: true });
    await inFlight;
  }

  private setState(s: LoopState): void {
    if (this.stateValue === s) return;
    if (this.stateValue === 'stopped') return;
    this.stateValue = s;
    this.opts.onState?.(s);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = this.opts.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.stateValue === 'stopped') return;
      this.wanted = true;
      this.ensureDraining();
    }, ms);
  }

  private ensureDraining(): void {
    // `active` is cleared synchronously when drain() leaves its loop, so a kick
    // arriving after the last `wanted` check always starts a new drain.
    if (this.active) return;
    this.active = true;
    const p = this.drain();
    this.draining = p;
    p.then(() => {
      if (this.draining === p) this.draining = undefined;
    }, () => {});
  }

  private async drain(): Promise<void> {
    try {
      await this.drainLoop();
    } catch {
      // drainLoop handles every pass failure; a throwing callback must not kill the loop.
    }
  }

  private async drainLoop(): Promise<void> {
    // No await may sit between the last `wanted` check and clearing `active`.
    try {
      await this.loopBody();
    } finally {
      this.active = false;
    }
  }

  private async loopBody(): Promise<void> {
    for (;;) {
      if (!this.wanted || this.stateValue === 'stopped') {
        this.active = false;
        return;
      }
      this.wanted = false;
      this.urgent = false;
      const waiters = this.waiters.splice(0);
      const refused = this.opts.gate();
      if (refused) {
        for (const w of waiters) w.reject(refused);
        if (this.stateValue !== 'blocked') this.setState('idle');
        continue;
      }
      this.setState('running');
      const ctl = new AbortController();
      this.controller = ctl;
      this.stall?.touch();
      let result: T;
      try {
        const pass = this.opts.pass({ signal: ctl.signal, progress: () => this.stall?.touch() });
        this.current = pass.then(() => {}, () => {});
        result = await pass;
      } catch (err) {
        this.stall?.end();
        this.controller = undefined;
        if (ctl.signal.aborted) {
          if (this.isStopped()) {
            for (const w of waiters) w.reject(abortedError('stopped'));
          } else {
            // Interrupted: the same waiters get the next pass.
            this.waiters.unshift(...waiters);
            this.wanted = true;
            this.urgent = true;
          }
          continue;
        }
        const e = toCloudError(err, this.opts.name);
        for (const w of waiters) w.reject(e);
        if (e.kind === 'refusal') {
          this.setState('blocked');
          this.opts.onFailure?.(e, null);
        } else {
          const delay = Math.max(this.opts.backoff.next(), e.retryAfterMs ?? 0);
          this.setState('waiting');
          // Background requests that came in meanwhile wait for the backoff too.
          if (!this.urgent) this.wanted = false;
          if (!this.wanted) this.schedule(delay);
          this.opts.onFailure?.(e, this.opts.clock.now() + delay);
        }
        continue;
      }
      this.stall?.end();
      this.controller = undefined;
      if (this.isStopped()) {
        for (const w of waiters) w.resolve(result);
        continue;
      }
      this.opts.backoff.reset();
      this.setState('idle');
      for (const w of waiters) w.resolve(result);
      this.opts.onSuccess?.(result);
      if (!this.wanted && this.opts.intervalMs !== undefined) this.schedule(this.opts.intervalMs);
    }
  }
}
