/**
 * What the dashboard shows, gathered from storage (durable: stores, terminals,
 * acknowledged high-water marks, open exceptions, quarantine) and from this
 * process's memory (presence.ts: last seen, recent exchanges, the terminal's
 * own report of what it holds). Read-only; every read goes through AdminOps
 * or plain storage reads; none takes a store's lock.
 */
import { decodeTrusted } from '../../events/codec.ts';
import type { AdminOps } from '../admin-ops.ts';
import type { CloudStorage, ExceptionRecord, QuarantineEntry, StoreCounters, StoreRecord } from '../storage.ts';
import type { Presence, TerminalPresence } from './presence.ts';

/** Quarantined events listed per store (the rest are counted). */
export const QUARANTINE_SHOWN = 50;

export interface TerminalRow {
  id: string;
  name: string;
  revoked: boolean;
  /** Highest seq the cloud stored contiguously (acknowledged to the terminal). */
  ackSeq: number;
  quarantined: number;
  /** Open status streams (WebSocket) of this terminal on this process. */
  streams: number;
  presence?: TerminalPresence;
}

export interface QuarantineRow extends QuarantineEntry {
  /** The sale's total or the payment's amount, cents, when the event carries one. */
  amount?: number;
  /** The event's own currency when it names one (a sale in the wrong currency is quarantined). */
  currency?: string;
  time?: number;
}

export interface StoreOverview {
  store: StoreRecord;
  counters: StoreCounters;
  terminals: TerminalRow[];
  exceptions: ExceptionRecord[];
  quarantine: QuarantineRow[];
}

export interface HistoryEvent {
  seq: number;
  type: string;
  time: number;
  amount?: number;
  currency?: string;
  quarantine?: { code: string; message: string };
}

export interface TerminalHistory {
  store: StoreRecord;
  terminal: TerminalRow;
  /** The newest stored events of the terminal, newest first. */
  events: HistoryEvent[];
  /** Support bundles the terminal sent (support-bundles.ts), newest first. */
  supportBundles: Array<{ id: string; received: number; bytes: number }>;
}

export interface OverviewDeps {
  ops: AdminOps;
  storage: CloudStorage;
  presence: Presence;
  streams: (store: string, terminal: string) => number;
}

/** Money an event is about, cents (sale total, payment, refund, voucher), with its own currency if it names one. */
function moneyOf(event: { type: string; body?: unknown }): { amount?: number; currency?: string } {
  const b = event.body as { total?: unknown; amount?: unknown; currency?: unknown } | undefined;
  const amount = event.type === 'sale.completed' ? b?.total : b?.amount;
  if (typeof amount !== 'number') return {};
  return { amount, ...(typeof b?.currency === 'string' ? { currency: b.currency } : {}) };
}

/**
 * Read straight from storage, outside the store's lock (unlike AdminOps.listTerminals): a page
 * refreshing every few seconds must not queue behind, or hold up, the store's uploads. Each
 * read is of committed data; the rows may mix two commits, which a live view can afford.
 */
async function terminalRows(deps: OverviewDeps, store: string): Promise<TerminalRow[]> {
  const terms = await deps.storage.listTerminals(store);
  return Promise.all(terms.map(async (t) => {
    const hw = await deps.storage.getHighWater(store, t.id);
    const presence = deps.presence.get(store, t.id);
    return {
      id: t.id, name: t.name, revoked: t.revoked, ackSeq: hw.seq, quarantined: hw.quarantined,
      streams: deps.streams(store, t.id), ...(presence ? { presence } : {}),
    };
  }));
}

export async function storeOverview(deps: OverviewDeps, store: StoreRecord): Promise<StoreOverview> {
  const [counters, terminals, exceptions, entries] = await Promise.all([
    deps.storage.getCounters(store.id),
    terminalRows(deps, store.id),
    deps.ops.listExceptions(store.id, 'open'),
    deps.ops.listQuarantine(store.id, QUARANTINE_SHOWN),
  ]);
  const quarantine = await Promise.all(entries.map(async (q): Promise<QuarantineRow> => {
    const [rec] = await deps.storage.readEvents(store.id, q.terminal, q.seq, 1);
    if (!rec || rec.seq !== q.seq) return q;
    const ev = decodeTrusted(rec.bytes) as { type: string; time?: number; body?: unknown };
    return { ...q, ...moneyOf(ev), ...(typeof ev.time === 'number' ? { time: ev.time } : {}) };
  }));
  return { store, counters, terminals, exceptions, quarantine };
}

export async function overview(deps: OverviewDeps): Promise<StoreOverview[]> {
  const stores = await deps.ops.listStores();
  stores.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return Promise.all(stores.map((s) => storeOverview(deps, s)));
}

/** A terminal's newest `limit` stored events (newest first) and what this process saw of it. */
export async function terminalHistory(deps: OverviewDeps, store: string, terminal: string, limit = 20): Promise<TerminalHistory> {
  const rec = await deps.ops.getStore(store);
  const rows = await terminalRows(deps, store);
  const row = rows.find((r) => r.id === terminal);
  // Unknown terminal: readEvents answers TERMINAL_NOT_FOUND.
  const from = Math.max(1, (row?.ackSeq ?? 0) - limit + 1);
  const page = await deps.ops.readEvents(store, terminal, from, limit + QUARANTINE_SHOWN);
  const events = page.events.slice(-limit).reverse().map((e): HistoryEvent => {
    const ev = e.event as { type: string; time: number; body?: unknown };
    return { seq: e.seq, type: ev.type, time: ev.time, ...moneyOf(ev), ...(e.quarantine ? { quarantine: e.quarantine } : {}) };
  });
  const bundles = await deps.storage.listSupportBundles(store, terminal);
  const supportBundles = bundles.reverse().map((b) => ({ id: b.id, received: b.received, bytes: Buffer.byteLength(b.json) }));
  return { store: rec, terminal: row!, events, supportBundles };
}
