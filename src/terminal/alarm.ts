/**
 * The Sync Manager's alarm (issue 22 item 2): what a store should act on,
 * amber first, then red, each with what to do. Computed by the agent from its
 * status, so the pages, the CLI and any front end read the same verdict.
 *
 * - offline: the cloud unreachable (or the sync stuck, or the credential
 *   revoked) for long; local mode is the store's own choice and is not an alarm
 *   by itself, but what it holds back still counts below;
 * - unsynced amount: money in sales the cloud does not have;
 * - card window: the oldest card payment not on the cloud, against the
 *   processor's offline window (card payments taken offline must reach it in
 *   time or the store may lose them);
 * - quarantine: events the cloud holds back (red at once: someone must look).
 */
import type { SyncStatus } from '../replication/sync-status.ts';

export interface AlarmThresholds {
  offlineAmberMs: number;
  offlineRedMs: number;
  amountAmberCents: number;
  amountRedCents: number;
  /** The card processor's offline window; amber at half of it, red at 80 %. */
  cardWindowMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = {
  offlineAmberMs: 30 * MINUTE,
  offlineRedMs: 4 * HOUR,
  amountAmberCents: 50_000,
  amountRedCents: 200_000,
  cardWindowMs: 24 * HOUR,
};

export type AlarmLevel = 'ok' | 'amber' | 'red';
export interface AlarmReason {
  code: 'offline' | 'unsynced-amount' | 'card-window' | 'quarantine' | 'log-damaged';
  level: 'amber' | 'red';
  /** What is wrong, in store words. */
  text: string;
  /** What to do about it. */
  todo: string;
}
export interface Alarm {
  level: AlarmLevel;
  reasons: AlarmReason[];
}

/**
 * The card processor's deadline for the oldest card payment the cloud does
 * not have: its window, when that payment was taken (terminal clock, ms), the
 * deadline and the time left when the status was taken (negative: past it),
 * and the level the alarm gives it (amber from half the window, red from 80 %).
 * The pages count down from `leftMs` between pushes.
 */
export interface CardWindow {
  windowMs: number;
  oldest: number | null;
  deadline: number | null;
  leftMs: number | null;
  level: AlarmLevel;
}

export function cardWindowOf(windowMs: number, oldest: number | undefined, ageMs: number | null): CardWindow {
  if (oldest === undefined || ageMs === null) return { windowMs, oldest: null, deadline: null, leftMs: null, level: 'ok' };
  const level: AlarmLevel = ageMs >= windowMs * 0.8 ? 'red' : ageMs >= windowMs / 2 ? 'amber' : 'ok';
  return { windowMs, oldest, deadline: oldest + windowMs, leftMs: windowMs - ageMs, level };
}

export interface AlarmInput {
  sync: Pick<SyncStatus, 'connection' | 'quarantined'>;
  unsynced: { sales: number; amount: number };
  /** Age of the oldest card payment the cloud does not have, ms (null: none). */
  oldestCardAgeMs: number | null;
  /** The local log's health ('ok' unless damage was found: appends are refused then). Absent: ok. */
  logHealth?: string;
}

function hours(ms: number): string {
  return ms < HOUR ? `${Math.max(1, Math.round(ms / MINUTE))} min` : `${Math.round((ms / HOUR) * 10) / 10} h`;
}

function money(cents: number): string {
  const whole = String(Math.trunc(cents / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `$${whole}.${String(cents % 100).padStart(2, '0')}`;
}

export function alarmOf(input: AlarmInput, now: number, t: AlarmThresholds = DEFAULT_ALARM_THRESHOLDS): Alarm {
  const reasons: AlarmReason[] = [];
  const c = input.sync.connection;
  if (c.state === 'offline' || c.state === 'stuck' || c.state === 'revoked') {
    const age = Math.max(0, now - c.since);
    const level = c.state !== 'offline' || age >= t.offlineRedMs ? 'red' : age >= t.offlineAmberMs ? 'amber' : null;
    if (level) {
      reasons.push({
        code: 'offline', level,
        text: c.state === 'revoked' ? `The cloud refuses this terminal's credential (for ${hours(age)}).`
          : c.state === 'stuck' ? `Syncing has been stuck for ${hours(age)}: ${c.error}.`
          : `No connection to the cloud for ${hours(age)}.`,
        todo: c.state === 'revoked' ? 'Re-enroll the terminal: paste a new credential from the back office under Recovery (or tillsync reenroll).'
          : c.state === 'stuck' ? 'Open the Sync Manager and follow the advice under the error; call support if it stays.'
          : 'Check the store\'s internet connection; sales keep being saved here and upload when it is back.',
      });
    }
  }
  if (input.logHealth !== undefined && input.logHealth !== 'ok') {
    reasons.push({
      code: 'log-damaged', level: 'red',
      text: `This terminal's local storage is damaged (${input.logHealth}): new sales are refused here.`,
      todo: 'Sell on another terminal; on this one use Recovery → Recover from the cloud, or re-enroll it on a new data folder (call support).',
    });
  }
  const amount = input.unsynced.amount;
  if (amount >= t.amountAmberCents && input.unsynced.sales > 0) {
    reasons.push({
      code: 'unsynced-amount', level: amount >= t.amountRedCents ? 'red' : 'amber',
      text: `${money(amount)} in ${input.unsynced.sales} ${input.unsynced.sales === 1 ? 'sale is' : 'sales are'} only on this terminal.`,
      todo: 'Get the terminal online (turn local mode off, check the network) so the cloud has them; do not wipe or replace this terminal meanwhile.',
    });
  }
  if (input.oldestCardAgeMs !== null && input.oldestCardAgeMs >= t.cardWindowMs / 2) {
    const left = t.cardWindowMs - input.oldestCardAgeMs;
    reasons.push({
      code: 'card-window', level: input.oldestCardAgeMs >= t.cardWindowMs * 0.8 ? 'red' : 'amber',
      text: left > 0 ? `The oldest card payment not yet uploaded is ${hours(input.oldestCardAgeMs)} old: ${hours(left)} left of the processor's ${hours(t.cardWindowMs)} offline window.`
        : `The oldest card payment not yet uploaded is ${hours(input.oldestCardAgeMs)} old: past the processor's ${hours(t.cardWindowMs)} offline window.`,
      todo: 'Upload now: bring the terminal online; if it cannot be, call the card processor about the offline payments.',
    });
  }
  if (input.sync.quarantined > 0) {
    reasons.push({
      code: 'quarantine', level: 'red',
      text: `The cloud holds ${input.sync.quarantined} of this terminal's ${input.sync.quarantined === 1 ? 'event' : 'events'} in quarantine.`,
      todo: 'Ask the back office to review the quarantine in the cloud dashboard; the sales are safe on this terminal.',
    });
  }
  const level: AlarmLevel = reasons.some((r) => r.level === 'red') ? 'red' : reasons.length > 0 ? 'amber' : 'ok';
  return { level, reasons };
}
