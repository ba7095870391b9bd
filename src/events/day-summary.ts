/**
 * The end-of-day figures of one terminal (X/Z report): for one business day in
 * one time zone, the count of its events and sales, tender totals, refunds and
 * voids, and a digest of that day's part of the hash chain.
 *
 * Terminal and cloud fold the same events with this one function, each from
 * what it holds (the terminal from its log, the cloud from what was uploaded),
 * so two summaries are equal exactly when both sides hold the same events of
 * that day with the same bytes. `digest` is SHA-256 over `seq:hash\n` of every
 * event of the day in seq order; `hash` is SHA-256 of the event's canonical
 * bytes, as chained, so one changed byte in any event changes the digest.
 *
 * An event belongs to the business day its `time` falls on in `timeZone` (an
 * IANA name). A terminal clock that jumped may put events of one day out of
 * seq order: the summary takes every event of the range whose day matches, and
 * its `fromSeq`/`toSeq` are the lowest and highest seq so taken.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { TENDERS, type TillEvent, type Tender } from './event-types.ts';

export interface DaySummary {
  day: string;
  timeZone: string;
  store: string;
  terminal: string;
  /** Lowest and highest seq of the day's events (0 and 0 for a day without any). */
  fromSeq: number;
  toSeq: number;
  events: number;
  sales: { count: number; total: number };
  /** Payments taken, per tender, integer cents. */
  tenders: Record<Tender, number>;
  refunds: { count: number; total: number; byTender: Record<Tender, number> };
  voids: { count: number };
  /** Balance and voucher changes on the day (count; their money is in the tenders). */
  storedValueChanges: number;
  digest: string;
}

/** One event as either side holds it. */
export interface DayEvent {
  seq: number;
  hash: string;
  event: TillEvent;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const formatters = new Map<string, Intl.DateTimeFormat>();

/** True when `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** True for a calendar date written YYYY-MM-DD. */
export function isDay(day: string): boolean {
  if (!DAY.test(day)) return false;
  const d = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day;
}

/** `day` as a business day, or VALIDATION_FAILED naming `field`. */
export function checkedDay(day: string, field = 'day'): string {
  if (!isDay(day)) throw new TillsyncError('VALIDATION_FAILED', `${field}: write the business day as YYYY-MM-DD`, { details: { field } });
  return day;
}

/** `tz` as a time zone name, or VALIDATION_FAILED naming `field`. */
export function checkedTimeZone(tz: string, field = 'timeZone'): string {
  if (!isTimeZone(tz)) throw new TillsyncError('VALIDATION_FAILED', `${field}: not a time zone name (e.g. Europe/Paris, America/Toronto, UTC)`, { details: { field } });
  return tz;
}

/** The business day (YYYY-MM-DD) that `time` (ms since the epoch) falls on in `timeZone`. */
export function businessDay(time: number, timeZone: string): string {
  // en-CA writes dates as YYYY-MM-DD.
  return formatter(timeZone).format(new Date(time));
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(tz, f);
  }
  return f;
}

const zeroTenders = (): Record<Tender, number> => Object.fromEntries(TENDERS.map((t) => [t, 0])) as Record<Tender, number>;

/** Folds events (ascending seq) into one day's summary; events of other days are skipped. */
export class DaySummaryBuilder {
  private readonly digest = createHash('sha256');
  private readonly s: DaySummary;
  /** seq → hash of every event taken, for naming differences. */
  readonly hashes = new Map<number, string>();

  constructor(readonly day: string, readonly timeZone: string, store: string, terminal: string) {
    this.s = {
      day, timeZone, store, terminal, fromSeq: 0, toSeq: 0, events: 0,
      sales: { count: 0, total: 0 }, tenders: zeroTenders(),
      refunds: { count: 0, total: 0, byTender: zeroTenders() }, voids: { count: 0 }, storedValueChanges: 0, digest: '',
    };
  }

  add(e: DayEvent): void {
    if (businessDay(e.event.time, this.timeZone) !== this.day) return;
    const s = this.s;
    if (s.events === 0) s.fromSeq = e.seq;
    s.toSeq = e.seq;
    s.events++;
    this.hashes.set(e.seq, e.hash);
    this.digest.update(`${e.seq}:${e.hash}\n`);
    const ev = e.event;
    switch (ev.type) {
      case 'sale.completed': s.sales.count++; s.sales.total += ev.body.total; break;
      case 'payment.taken': s.tenders[ev.body.tender] += ev.body.amount; break;
      case 'sale.refunded': s.refunds.count++; s.refunds.total += ev.body.amount; s.refunds.byTender[ev.body.tender] += ev.body.amount; break;
      case 'sale.voided': s.voids.count++; break;
      case 'balance.delta': case 'voucher.issued': case 'voucher.redeemed': s.storedValueChanges++; break;
    }
  }

  summary(): DaySummary {
    return { ...this.s, digest: this.digest.copy().digest('hex') };
  }
}

/** Where two summaries of one day disagree, by seq. */
export interface DayDifference {
  /** Held by the terminal, not by the cloud. */
  missing: number[];
  /** Held by both with different bytes. */
  differing: number[];
  /** Held by the cloud, not by the terminal. */
  extra: number[];
}

/** Compares the terminal's seq → hash of a day with the cloud's. */
export function compareDayHashes(terminal: ReadonlyMap<number, string>, cloud: ReadonlyMap<number, string>): DayDifference {
  const missing: number[] = [];
  const differing: number[] = [];
  const extra: number[] = [];
  for (const [seq, hash] of terminal) {
    const other = cloud.get(seq);
    if (other === undefined) missing.push(seq);
    else if (other !== hash) differing.push(seq);
  }
  for (const seq of cloud.keys()) if (!terminal.has(seq)) extra.push(seq);
  const asc = (a: number, b: number) => a - b;
  return { missing: missing.sort(asc), differing: differing.sort(asc), extra: extra.sort(asc) };
}

/** The figures of two summaries that must match for a day to close (everything but the names). */
export function sameFigures(a: DaySummary, b: DaySummary): boolean {
  const figures = (s: DaySummary) => JSON.stringify([s.fromSeq, s.toSeq, s.events, s.sales, s.tenders, s.refunds, s.voids, s.storedValueChanges, s.digest]);
  return figures(a) === figures(b);
}

const cents = z.number().int();
const tenderCents = z.strictObject({ cash: cents, card: cents, account: cents, voucher: cents });
/** A summary as it travels (the cloud's answer); checked before the terminal compares it. */
export const daySummarySchema = z.strictObject({
  day: z.string(), timeZone: z.string(), store: z.string(), terminal: z.string(),
  fromSeq: z.number().int().nonnegative(), toSeq: z.number().int().nonnegative(), events: z.number().int().nonnegative(),
  sales: z.strictObject({ count: z.number().int().nonnegative(), total: cents }),
  tenders: tenderCents,
  refunds: z.strictObject({ count: z.number().int().nonnegative(), total: cents, byTender: tenderCents }),
  voids: z.strictObject({ count: z.number().int().nonnegative() }),
  storedValueChanges: z.number().int().nonnegative(),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});
/** The cloud's answer to GET /v1/days/:day. */
export const cloudDayAnswer = z.strictObject({
  summary: daySummarySchema,
  hashes: z.array(z.tuple([z.number().int().positive(), z.string().regex(/^[0-9a-f]{64}$/)])).optional(),
});
