/**
 * Cloud views of stored value (F11): customer balances and vouchers, each the
 * sum of its deltas over all terminals plus back-office deltas. Nothing is ever
 * overwritten, so concurrent offline changes on several terminals simply add up.
 *
 * Each changed view is published to the feed as `balance.state` / `voucher.state`
 * with `includes`: for every terminal that contributed, the terminal's high-water
 * seq the balance includes (its whole acknowledged prefix), so a terminal adds
 * only its own deltas with a higher seq on top.
 *
 * Overspend: when a debit from a terminal takes a view below zero, ONE exception
 * is opened for the incident; further debits while it stays below zero (from any
 * terminal, in later batches too) update the same exception while it is open.
 * When the balance is back at or above zero the incident ends; a later
 * overspend opens a new exception. The events are always kept: the sales happened.
 *
 * A removed customer: the back office deleting a customer keeps its ledger (a
 * balance view, made empty if it had none), because terminals that were offline
 * may still spend or credit it. A terminal's delta against it is money that
 * moved: it is applied like any other, and it opens (or joins, while open) an
 * exception with `reason: 'customer-removed'` — whatever the balance — so the
 * back office settles it. Its `events` hold every such delta (a negative
 * `amount` is a credit), `shortfall` how far below zero it went (0 if never).
 */
import type { Debit, ExceptionRecord, ExceptionSubject, ValueView } from './storage.ts';
import type { StoreTx } from './store-tx.ts';

export type ValueKind = 'balance' | 'voucher';
const RECENT_DEBITS = 10;

interface Slot {
  kind: ValueKind;
  key: string;
  view: ValueView;
  exists: boolean;
  changed: boolean;
  terminals: Set<string>;
}

export class ValueLedger {
  private readonly slots = new Map<string, Slot>();
  private readonly exceptions = new Map<string, ExceptionRecord>();
  private readonly touchedExceptions = new Set<string>();
  private exceptionsChanged = false;

  constructor(private readonly tx: StoreTx) {}

  /** Prefetches views (and their open incidents) before `apply`, which is synchronous. */
  async load(kind: ValueKind, keys: Iterable<string>): Promise<void> {
    const missing = [...new Set(keys)].filter((k) => !this.slots.has(`${kind}/${k}`));
    if (missing.length === 0) return;
    const storage = this.tx.ctx.storage;
    const views = kind === 'balance' ? await storage.getBalances(this.tx.store, missing) : await storage.getVouchers(this.tx.store, missing);
    const incidents: string[] = [];
    missing.forEach((key, i) => {
      const view = views[i];
      this.slots.set(`${kind}/${key}`, {
        kind, key, exists: view !== undefined, changed: false, terminals: new Set(),
        view: view ?? { balance: 0, includes: {}, recentDebits: [] },
      });
      if (view?.incident) incidents.push(view.incident);
    });
    for (const id of incidents) {
      if (this.exceptions.has(id)) continue;
      const e = await storage.getException(this.tx.store, id);
      if (e) this.exceptions.set(id, e);
    }
  }

  /** True if the view exists in storage or was created in this unit of work. */
  exists(kind: ValueKind, key: string): boolean {
    return this.slot(kind, key).exists;
  }

  balance(kind: ValueKind, key: string): number {
    return this.slot(kind, key).view.balance;
  }

  private slot(kind: ValueKind, key: string): Slot {
    const s = this.slots.get(`${kind}/${key}`);
    if (!s) throw new Error(`ValueLedger: ${kind} ${key} was not loaded`);
    return s;
  }

  /**
   * Adds a delta. `from` is the terminal event behind it, or undefined for back
   * office; `removed`: the customer was removed by the back office (see above).
   */
  apply(kind: ValueKind, key: string, amount: number, from?: Omit<Debit, 'amount'>, opts: { removed?: boolean } = {}): void {
    const s = this.slot(kind, key);
    const v = s.view;
    const before = v.balance;
    v.balance += amount;
    s.exists = true;
    s.changed = true;
    if (from) s.terminals.add(from.terminal);
    if (from && amount < 0) {
      const debit: Debit = { ...from, amount: -amount };
      v.recentDebits.push(debit);
      if (v.recentDebits.length > RECENT_DEBITS) v.recentDebits.splice(0, v.recentDebits.length - RECENT_DEBITS);
      if (v.balance < 0 && !opts.removed) this.overspent(s, before, debit);
    }
    if (from && opts.removed) {
      this.customerRemoved(s, before, { ...from, amount: -amount });
      return;
    }
    if (v.balance >= 0 && this.openIncident(v)?.reason !== 'customer-removed') delete v.incident;
  }

  private openIncident(v: ValueView): ExceptionRecord | undefined {
    const e = v.incident ? this.exceptions.get(v.incident) : undefined;
    return e && e.status === 'open' ? e : undefined;
  }

  /** A delta against a removed customer: one open exception collects them all. */
  private customerRemoved(s: Slot, before: number, delta: Debit): void {
    const v = s.view;
    const open = this.openIncident(v);
    const now = this.tx.now;
    if (open) {
      if (!open.events.some((e) => e.id === delta.id)) open.events.push(delta);
      if (!open.terminals.includes(delta.terminal)) open.terminals.push(delta.terminal);
      open.lowest = Math.min(open.lowest, v.balance);
      open.shortfall = Math.max(0, -open.lowest);
      open.reason = 'customer-removed';
      open.updatedAt = now;
    } else {
      const e: ExceptionRecord = {
        id: this.tx.nextExceptionId(), store: this.tx.store, subject: { kind: 'balance', customer: s.key }, status: 'open',
        reason: 'customer-removed', balanceBefore: before, lowest: Math.min(before, v.balance), shortfall: Math.max(0, -Math.min(before, v.balance)),
        terminals: [delta.terminal], events: [delta], openedAt: now, updatedAt: now,
      };
      this.exceptions.set(e.id, e);
      this.tx.counters.openExceptions += 1;
      v.incident = e.id;
    }
    this.exceptionsChanged = true;
    this.touchedExceptions.add(v.incident!);
  }

  private overspent(s: Slot, before: number, debit: Debit): void {
    const v = s.view;
    const open = v.incident ? this.exceptions.get(v.incident) : undefined;
    const now = this.tx.now;
    if (open && open.status === 'open') {
      if (!open.events.some((e) => e.id === debit.id)) open.events.push(debit);
      if (!open.terminals.includes(debit.terminal)) open.terminals.push(debit.terminal);
      open.lowest = Math.min(open.lowest, v.balance);
      open.shortfall = -open.lowest;
      open.updatedAt = now;
    } else {
      const subject: ExceptionSubject = s.kind === 'balance' ? { kind: 'balance', customer: s.key } : { kind: 'voucher', voucher: s.key };
      // The debits that together spent more than there was: the recent ones, this one last.
      const events = v.recentDebits.map((d) => ({ ...d }));
      const e: ExceptionRecord = {
        id: this.tx.nextExceptionId(), store: this.tx.store, subject, status: 'open',
        balanceBefore: before, lowest: v.balance, shortfall: -v.balance,
        terminals: [...new Set(events.map((d) => d.terminal))], events, openedAt: now, updatedAt: now,
      };
      this.exceptions.set(e.id, e);
      this.tx.counters.openExceptions += 1;
      v.incident = e.id;
    }
    this.exceptionsChanged = true;
    this.touchedExceptions.add(v.incident!);
  }

  /** Records that `terminal`'s events up to `seq` are included in every view it changed. */
  include(terminal: string, seq: number): void {
    for (const s of this.slots.values()) {
      // Own keys only: a terminal named `toString` must not read Object.prototype's member.
      const inc = s.view.includes;
      if (s.terminals.has(terminal)) inc[terminal] = Math.max(Object.hasOwn(inc, terminal) ? inc[terminal]! : 0, seq);
    }
  }

  /** Stages the changed views, their feed states and touched exceptions into the tx. */
  finish(): { exceptionsChanged: boolean } {
    const tx = this.tx;
    for (const s of this.slots.values()) {
      if (!s.changed) continue;
      if (s.kind === 'balance') {
        tx.put({ kind: 'balance', store: tx.store, customer: s.key, view: s.view });
        tx.addChange('balance.state', { customer: s.key, balance: s.view.balance, includes: { ...s.view.includes } });
      } else {
        tx.put({ kind: 'voucher', store: tx.store, voucher: s.key, view: s.view });
        tx.addChange('voucher.state', { voucher: s.key, balance: s.view.balance, includes: { ...s.view.includes } });
      }
    }
    for (const id of this.touchedExceptions) tx.put({ kind: 'exception', store: tx.store, exception: this.exceptions.get(id)! });
    return { exceptionsChanged: this.exceptionsChanged };
  }
}
