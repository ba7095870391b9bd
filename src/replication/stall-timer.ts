/**
 * The watchdog of one sync direction (F8): armed while a pass runs, re-armed on
 * every bit of progress (a batch acknowledged, a page applied, an answer
 * received). If it ever fires, the pass made no progress for `stallMs` while it
 * had work: the owner restarts it. No timer runs while nothing is running.
 */
import type { TimerHandle, Timers } from './timers.ts';

export class StallTimer {
  private handle: TimerHandle | undefined;

  constructor(
    private readonly timers: Timers,
    private readonly stallMs: number,
    private readonly onStall: () => void,
  ) {}

  /** Starts (or restarts) the countdown. */
  touch(): void {
    this.end();
    this.handle = this.timers.setTimeout(() => {
      this.handle = undefined;
      this.onStall();
    }, this.stallMs);
  }

  end(): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle);
    this.handle = undefined;
  }
}
