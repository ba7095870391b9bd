/**
 * A real cloud and enrolled terminal agents on loopback for end-to-end tests,
 * with a small exact catalog, and helpers to wait for a condition (never for a time).
 */
import { readFileSync } from 'node:fs';
import type { Environment, EnvironmentOptions } from '../../src/cli/demo-env.ts';
import { startEnvironment } from '../../src/cli/demo-env.ts';
import type { StoreSettings } from '../../src/events/event-types.ts';
import type { LoggingOptions } from '../../src/http/logging.ts';
import { CUSTOMERS, ITEMS } from './small-store.ts';
import { waitFor, WAIT_MS } from './wait.ts';

export async function smallEnvironment(dir: string, opts: { terminals?: string[]; settings?: Partial<StoreSettings>; stallMs?: number; refundLimit?: number; logging?: LoggingOptions; alarms?: EnvironmentOptions['alarms'] } = {}): Promise<Environment> {
  return startEnvironment({
    dir,
    store: 'store-1',
    terminals: opts.terminals ?? ['till-1', 'till-2'],
    settings: { offlineStoredValue: 'allow', ...opts.settings },
    seed: () => ({
      items: ITEMS,
      customers: CUSTOMERS.map((c, i) => ({ record: c, openingBalance: i === 0 ? 10_000 : 500 })),
      vouchers: [{ code: 'GV-TEST-0001', amount: 2_500 }],
    }),
    ...(opts.refundLimit !== undefined ? { refundLimit: opts.refundLimit } : {}),
    ...(opts.alarms ? { alarms: opts.alarms } : {}),
    ...(opts.logging ? { logging: opts.logging } : {}),
    // stallMs: the watchdog is not what these tests test (watchdog.test.ts sets its own); a short one
    // restarts a slow first upload on a busy machine, which then counts as "already there".
    worker: { uploadPollMs: 200, download: { intervalMs: 500 }, stallMs: opts.stallMs ?? 60_000, backoff: { initialMs: 50, maxMs: 1_000 } },
  });
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`, naming what it waited for). See wait.ts. */
export function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = WAIT_MS): Promise<NonNullable<T>> {
  return waitFor(fn, { what, timeoutMs, intervalMs: 50 });
}

/**
 * An agent to call: its URL alone (no credential: for refusal tests), or an
 * agent (or anything with its URL and pairing token file), whose pairing token
 * is sent as the bearer header, as the CLI does.
 */
export type AgentTarget = string | { url: string; pairingTokenFile: string };

export function pairingToken(target: { pairingTokenFile: string }): string {
  return readFileSync(target.pairingTokenFile, 'utf8').trim();
}

export function agentHeaders(target: AgentTarget): Record<string, string> {
  return typeof target === 'string' ? {} : { authorization: `Bearer ${pairingToken(target)}` };
}

export async function api<T>(target: AgentTarget, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const base = typeof target === 'string' ? target : target.url;
  const write = method !== 'GET';
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...agentHeaders(target), ...(write ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(write ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
