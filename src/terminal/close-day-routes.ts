/**
 * The agent's end-of-day routes (src/terminal/close-day.ts):
 *
 *   POST /api/day-report        { day?, timeZone? } → X report (a reading; cashier)
 *   POST /api/close-day         { day?, timeZone? } → Z report (closes the day; manager)
 *   GET  /api/day-reports/:day  the kept Z report of a closed day
 *   GET  /api/day-summary?day=&tz=  this log's summary of a day, now (to check a
 *                               kept report again: `tillsync audit --report`)
 *
 * Both reports run as a maintenance operation (one at a time, shown in the
 * status). The printable page is /day-report (src/terminal/pages).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { checkedDay, checkedTimeZone } from '../events/day-summary.ts';
import type { EventLog } from '../events/event-log.ts';
import type { HttpTransport } from '../replication/http-transport.ts';
import type { OperationName } from './agent-status.ts';
import { closeDay, readDayReport, terminalDaySummary } from './close-day.ts';

export interface CloseDayAgent {
  readonly terminal: { readonly log: EventLog; readonly store: string; readonly terminal: string };
  readonly transport: HttpTransport;
  readonly dataDir: string;
  readonly worker: { syncUp(): Promise<unknown> };
  run<T>(name: OperationName, fn: () => Promise<T>): Promise<T>;
}

const dayBody = z.strictObject({ day: z.string().max(10).optional(), timeZone: z.string().min(1).max(64).optional() });
const dayParams = z.strictObject({ day: z.string().max(10) });
const summaryQuery = z.strictObject({ day: z.string().max(10), tz: z.string().min(1).max(64) });

function deps(agent: CloseDayAgent) {
  const t = agent.terminal;
  return {
    log: t.log, dataDir: agent.dataDir, store: t.store, terminal: t.terminal,
    syncUp: () => agent.worker.syncUp(),
    cloudDay: (day: string, q: { timeZone: string; from: number; to: number }) => agent.transport.day(day, q),
  };
}

export const closeDayRoutes: FastifyPluginAsync<{ agent: CloseDayAgent }> = async (plain, { agent }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.post('/api/day-report', { schema: { summary: 'X report: a reading of the day', tags: ['day'], body: dayBody } }, async (req) => {
    return agent.run('day-report', () => closeDay(deps(agent), { ...req.body, preview: true }));
  });
  app.post('/api/close-day', { schema: { summary: 'Z report: closes the day', tags: ['day'], body: dayBody } }, async (req) => {
    return agent.run('close-day', () => closeDay(deps(agent), req.body));
  });
  app.get('/api/day-reports/:day', { schema: { summary: 'The kept Z report of a closed day', tags: ['day'], params: dayParams } }, async (req) => {
    const { day } = req.params;
    checkedDay(day);
    const kept = await readDayReport(agent.dataDir, day);
    if (!kept) throw new TillsyncError('DAY_NOT_CLOSED', `${day} is not closed on this terminal`, { details: { day } });
    return kept;
  });
  app.get('/api/day-summary', { schema: { summary: 'This log\'s summary of a day, now', tags: ['day'], querystring: summaryQuery } }, async (req) => {
    const q = req.query;
    checkedDay(q.day);
    checkedTimeZone(q.tz, 'tz');
    const t = agent.terminal;
    return { summary: (await terminalDaySummary(t.log, t.store, t.terminal, q.day, q.tz)).summary() };
  });
};
