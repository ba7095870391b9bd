// A fake clock + timers for the sync loops: time moves only when the test says so.
import type { Clock, TimerHandle, Timers } from '../../../src/replication/timers.ts';
import { WAIT_MS } from '../../helpers/wait.ts';

interface FakeTimer {
  id: number;
  at: number;
  delay: number;
  fn: () => void;
}

export class FakeTime implements Clock, Timers {
  private t: number;
  private seq = 0;
  private timers = new Map<number, FakeTimer>();
  /** Every delay ever requested, in order (for backoff assertions). */
  readonly requested: number[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    const delay = Math.max(0, ms);
    this.requested.push(delay);
    this.timers.set(id, { id, at: this.t + delay, delay, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete((handle as { id: number }).id);
  }

  /** Pending timers, soonest first. */
  pending(): Array<{ at: number; delay: number }> {
    return [...this.timers.values()].sort((a, b) => a.at - b.at || a.id - b.id).map(({ at, delay }) => ({ at, delay }));
  }

  /** Moves time forward by `ms`, firing due timers in order and letting I/O settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.values()].filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers.delete(due.id);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }

  /** Sets the clock without firing anything (clock jumps). */
  set(now: number): void {
    this.t = now;
  }
}

/** Lets promise chains and a little real I/O run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Waits (real time, polling) until `cond` holds; fails after `ms`. Never asserts on time itself. */
export async function until(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
