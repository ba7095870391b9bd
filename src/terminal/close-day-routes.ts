/**
 * The agent's end-of-day routes (src/terminal/close-day.ts):
 *
 *   POST /api/day-report        { day?, timeZone? } → X report (a reading; cashier)
 *   POST /api/close-day         { day?, timeZone? } → Z report (closes the day; manager)
 *   GET  /api/day-reports/:day  the kept Z report of a closed day
 *   POST /api/day-reports/verify { report } → the report checked against this log
 *
 * Both reports run as a maintenance operation (one at a time, shown in the
 * status). The printable page is /day-report (src/terminal/pages).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { isDay } from '../events/day-summary.ts';
import type { EventLog } from '../events/event-log.ts';
import { parseWith } from '../events/validate.ts';
import type { HttpTransport } from '../replication/http-transport.ts';
import type { OperationName } from './agent-status.ts';
import { closeDay, readDayReport, terminalDaySummary, verifyDayReport, type DayReport } from './close-day.ts';

export interface CloseDayAgent {
  readonly terminal: { readonly log: EventLog; readonly store: string; readonly terminal: string };
  readonly transport: HttpTransport;
  readonly dataDir: string;
  readonly worker: { syncUp(): Promise<unknown> };
  run<T>(name: OperationName, fn: () => Promise<T>): Promise<T>;
}

const dayBody = z.strictObject({ day: z.string().max(10).optional(), timeZone: z.string().min(1).max(64).optional() });
const dayParams = z.strictObject({ day: z.string().max(10) });
const verifyBody = z.strictObject({ report: z.record(z.string(), z.unknown()) });

function deps(agent: CloseDayAgent) {
  const t = agent.terminal;
  return {
    log: t.log, dataDir: agent.dataDir, store: t.store, terminal: t.terminal,
    syncUp: () => agent.worker.syncUp(),
    cloudDay: (day: string, q: { timeZone: string; from: number; to: number }) => agent.transport.day(day, q),
  };
}

export function registerCloseDayRoutes(app: FastifyInstance, agent: CloseDayAgent): void {
  app.post('/api/day-report', async (req) => {
    const b = parseWith(dayBody, req.body ?? {}, 'body');
    return agent.run('day-report', () => closeDay(deps(agent), { ...b, preview: true }));
  });
  app.post('/api/close-day', async (req) => {
    const b = parseWith(dayBody, req.body ?? {}, 'body');
    return agent.run('close-day', () => closeDay(deps(agent), b));
  });
  app.get('/api/day-reports/:day', async (req) => {
    const { day } = parseWith(dayParams, req.params, 'params');
    if (!isDay(day)) throw new TillsyncError('VALIDATION_FAILED', 'day: write the business day as YYYY-MM-DD', { details: { field: 'day' } });
    const kept = await readDayReport(agent.dataDir, day);
    if (!kept) throw new TillsyncError('DAY_NOT_CLOSED', `${day} is not closed on this terminal`, { details: { day } });
    return kept;
  });
  app.post('/api/day-reports/verify', async (req) => {
    const { report } = parseWith(verifyBody, req.body ?? {}, 'body');
    const r = report as unknown as DayReport;
    if (typeof r.day !== 'string' || typeof r.timeZone !== 'string') throw new TillsyncError('VALIDATION_FAILED', 'report: not a day report', { details: { field: 'report' } });
    const t = agent.terminal;
    const b = await terminalDaySummary(t.log, t.store, t.terminal, r.day, r.timeZone);
    return verifyDayReport(r, b.summary());
  });
}
