/**
 * Time behind two small interfaces, so every sync loop can run under fake time
 * in tests. Production code never calls Date.now() or setTimeout directly.
 */
import type { Clock } from '../events/event-log.ts';

export type { Clock };

/** An opaque timer handle; only the Timers that made it may clear it. */
export type TimerHandle = object;

export interface Timers {
  /** Calls `fn` once after `ms`. Never calls it synchronously. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node's setTimeout caps at 2^31-1 ms; longer waits re-arm (see `setLongTimeout`). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = { now: () => Date.now() };

/** Real timers, unref'd: a pending retry or poll never keeps the process alive by itself. */
export const systemTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * Fires `fn` at clock time `at`, however far away (re-arms in MAX_TIMER_MS steps,
 * re-reading the clock each time, so a clock that jumps is honoured).
 * Returns a cancel function.
 */
export function setTimeoutAt(clock: Clock, timers: Timers, at: number, fn: () => void): () => void {
  let handle: TimerHandle | undefined;
  let cancelled = false;
  const arm = (): void => {
    const wait = at - clock.now();
    if (wait <= 0) {
      handle = timers.setTimeout(() => { if (!cancelled) fn(); }, 0);
      return;
    }
    handle = timers.setTimeout(() => { if (!cancelled) arm(); }, Math.min(wait, MAX_TIMER_MS));
  };
  arm();
  return () => {
    cancelled = true;
    if (handle !== undefined) timers.clearTimeout(handle);
  };
}

/** Resolves after `ms` of `timers` time, or rejects with the signal's reason when aborted. */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      timers.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
