/**
 * What this cloud process has seen of each terminal since it started: when it
 * last called, its last exchanges (a short sync history), its last refusal,
 * and the status it last reported about itself (`x-tillsync-report`, see
 * src/replication/terminal-report.ts).
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
import { parseTerminalReportHeader } from '../../replication/terminal-report.ts';

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

const HISTORY = 20;
const MAX_TERMINALS = 20_000;

/** A terminal's report header (terminal-report.ts) as received at `at`; undefined when absent or malformed (advisory: ignored). */
export function parseTerminalReport(value: unknown, at: number): TerminalReport | undefined {
  const r = parseTerminalReportHeader(value);
  return r ? { ...r, at } : undefined;
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
