/**
 * Bounded waits for tests. Every wait for an event, a condition or a process has
 * its own deadline and, when it passes, rejects with a WaitTimeout naming what
 * did not happen — so a slow or overloaded machine fails one assertion with a
 * clear message instead of hanging until tap's per-file timeout.
 *
 * The deadlines are generous on purpose (the suite must pass while other
 * processes keep every core busy): they bound a hang, they do not measure
 * speed. No test asserts a time.
 */
import type { ChildProcess } from 'node:child_process';

/** The default deadline of a wait: far above any healthy wait, far below tap's 300 s. */
export const WAIT_MS = 30_000;

export class WaitTimeout extends Error {
  readonly code = 'TEST_WAIT_TIMEOUT';
  constructor(what: string, ms: number, detail?: unknown) {
    super(`timed out after ${ms} ms waiting for ${what}${detail === undefined ? '' : `: ${String(detail)}`}`);
  }
}

/**
 * Polls `cond` until it returns a truthy value and resolves with that value.
 * A throw from `cond` counts as "not yet" (and is named in the timeout's message).
 * `unless` is checked before each poll: a string ends the wait at once, rejecting
 * with that reason (e.g. "the socket closed"), instead of waiting out the deadline.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: { what: string; timeoutMs?: number; intervalMs?: number; unless?: () => string | undefined },
): Promise<NonNullable<T>> {
  const ms = opts.timeoutMs ?? WAIT_MS;
  const deadline = performance.now() + ms;
  let last: unknown;
  for (;;) {
    const stop = opts.unless?.();
    if (stop !== undefined) throw new Error(`gave up waiting for ${opts.what}: ${stop}`);
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) throw new WaitTimeout(opts.what, ms, last);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}

/** Resolves or rejects with `p`, or rejects with a WaitTimeout after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WaitTimeout(what, ms)), ms);
    p.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (err: unknown) => { clearTimeout(timer); reject(err); },
    );
  });
}

interface Emitter {
  once(event: string, fn: (...args: any[]) => void): unknown;
  off(event: string, fn: (...args: any[]) => void): unknown;
}

/**
 * The arguments of the next `event` from `emitter`, within `ms`. An 'error'
 * event rejects at once, except while waiting for 'close' or 'exit' (which
 * follow an error anyway). Register it before doing what makes the event fire:
 * an event that already fired is not seen (for a process exit use `exitWithin`).
 */
export function onceWithin<A extends unknown[] = any[]>(emitter: Emitter, event: string, ms: number, what: string): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const errors = event !== 'error' && event !== 'close' && event !== 'exit';
    const done = () => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      if (errors) emitter.off('error', onError);
    };
    const onEvent = (...args: unknown[]) => { done(); resolve(args as A); };
    const onError = (err: unknown) => { done(); reject(err); };
    const timer = setTimeout(() => { done(); reject(new WaitTimeout(what, ms)); }, ms);
    emitter.once(event, onEvent);
    if (errors) emitter.once('error', onError);
  });
}

/**
 * How a child process ended (`code N` / `signal S`), within `ms`; resolves at
 * once when it has already exited, so it never waits for an exit that happened.
 */
export function exitWithin(child: ChildProcess, ms: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return within(
    new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    ms,
    what,
  );
}
