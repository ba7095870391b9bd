/**
 * What this cloud process has seen of each terminal since it started: when it
 * last called, its last exchanges (a short sync history), its last refusal,
 * and the status it last reported about itself (`x-tillsync-report`, see
 * `parseTerminalReport`).
 *
 * Guarantees and limits, as the dashboard states them:
 * - In memory only, never stored: after a restart a terminal shows as "not seen
 *   since the cloud started" until its next call (a few seconds for a syncing one).
 * - Per process: with several cloud processes sharing PostgreSQL, each knows
 *   the terminals that called it.
 * - Bounded: at most MAX_TERMINALS terminals (the one seen longest ago goes
 *   first) and HISTORY exchanges each.
 * - Never holds a token, a body or anything a terminal sent beyond the report's numbers.
 */
import { z } from 'zod';

/** What a terminal says about its own log (it knows what it holds; the cloud only what it stored). */
export interface TerminalReport {
  /** Last seq in the terminal's log. */
  head: number;
  /** Sales (sale.completed) in the log past the cloud's acknowledged seq, and their total, cents. */
  sales: number;
  amount: number;
  /** Terminal clock time of the oldest of them, ms (absent: none pending). */
  oldest?: number;
  /** Cloud clock time the report arrived. */
  at: number;
}

export interface Exchange {
  at: number;
  method: string;
  path: string;
  status: number;
  /** Error code of a refused exchange. */
  code?: string;
}

export interface TerminalPresence {
  lastSeen: number;
  exchanges: Exchange[];
  lastError?: { at: number; code: string; path: string };
  report?: TerminalReport;
}

export const REPORT_HEADER = 'x-tillsync-report';
const HISTORY = 20;
const MAX_TERMINALS = 20_000;
const n = z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const reportShape = z.object({ head: n, sales: n, amount: n, oldest: n.optional() });

/**
 * Parses `head=12;sales=3;amount=4120;oldest=1733140000000`. Anything else
 * (absent, malformed, unknown keys, huge numbers) is ignored: the report is
 * advisory, and a terminal that sends none is simply "not reported".
 */
export function parseTerminalReport(value: unknown, at: number): TerminalReport | undefined {
  if (typeof value !== 'string' || value.length > 200) return undefined;
  const fields: Record<string, string> = {};
  for (const part of value.split(';')) {
    const m = /^\s*(head|sales|amount|oldest)=(\d{1,16})\s*$/.exec(part);
    if (!m) return undefined;
    fields[m[1]!] = m[2]!;
  }
  const parsed = reportShape.safeParse(fields);
  if (!parsed.success) return undefined;
  const { oldest, ...rest } = parsed.data;
  return { ...rest, ...(oldest !== undefined ? { oldest } : {}), at };
}

/** The header value a terminal sends (see parseTerminalReport). */
export function formatTerminalReport(r: Omit<TerminalReport, 'at'>): string {
  return `head=${r.head};sales=${r.sales};amount=${r.amount}${r.oldest !== undefined ? `;oldest=${r.oldest}` : ''}`;
}

export class Presence {
  private readonly terminals = new Map<string, TerminalPresence>();

  private static key(store: string, terminal: string): string {
    return `${store}\u0000${terminal}`;
  }

  /** One answered request of an authenticated terminal. */
  record(store: string, terminal: string, ex: Exchange, report: TerminalReport | undefined): void {
    const key = Presence.key(store, terminal);
    let p = this.terminals.get(key);
    if (p) this.terminals.delete(key); // re-inserted: the map stays ordered by last seen
    else {
      if (this.terminals.size >= MAX_TERMINALS) this.terminals.delete(this.terminals.keys().next().value!);
      p = { lastSeen: ex.at, exchanges: [] };
    }
    p.lastSeen = ex.at;
    p.exchanges.push(ex);
    if (p.exchanges.length > HISTORY) p.exchanges.shift();
    if (ex.code !== undefined) p.lastError = { at: ex.at, code: ex.code, path: ex.path };
    if (report) p.report = report;
    this.terminals.set(key, p);
  }

  get(store: string, terminal: string): Readonly<TerminalPresence> | undefined {
    return this.terminals.get(Presence.key(store, terminal));
  }
}
