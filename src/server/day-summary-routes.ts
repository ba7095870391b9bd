/**
 * The cloud's side of the end-of-day close (`tillsync close-day`): one
 * terminal's summary of one business day from the events the cloud holds,
 * folded with the terminal's own function (src/events/day-summary.ts).
 *
 *   GET /v1/days/:day?tz=&from=&to=[&hashes=1]   terminal credential, its own events
 *   GET /v1/admin/stores/:store/terminals/:terminal/days/:day?…   admin, any terminal
 *
 * `from`/`to` bound the seqs read (the terminal sends the range its own events
 * of the day span); `hashes=1` adds `[seq, hash]` of every event taken, so the
 * terminal can name the seqs that differ. Quarantined events are held, so they
 * count: a day closes on what the cloud has, accepted or not.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkedDay, checkedTimeZone, DaySummaryBuilder, type DaySummary } from '../events/day-summary.ts';
import { decodeTrusted } from '../events/codec.ts';
import { entityId, type TillEvent } from '../events/event-types.ts';
import { TillsyncError } from '../errors.ts';
import { send } from '../http/wire.ts';
import { ADMIN_SECURITY, TERMINAL_SECURITY } from './openapi.ts';
import type { CloudStorage, CredentialRecord } from './storage.ts';

/** Most seqs one summary may span (a busy till sells a few thousand events a day). */
export const MAX_DAY_SPAN = 500_000;
const PAGE = 2_000;

const seqDigits = z.string().regex(/^\d{1,15}$/);
const dayQuery = z.strictObject({
  tz: z.string().min(1).max(64),
  from: seqDigits,
  to: seqDigits,
  hashes: z.enum(['0', '1']).optional(),
});
const dayParams = z.strictObject({ day: z.string().max(10) });
const adminDayParams = z.strictObject({ store: entityId, terminal: entityId, day: z.string().max(10) });

export interface CloudDayAnswer {
  summary: DaySummary;
  hashes?: Array<[number, string]>;
}

/** The summary of `day` for one terminal, from seqs `from`..`to` of what `storage` holds. */
export async function cloudDaySummary(
  storage: CloudStorage, store: string, terminal: string,
  q: { day: string; timeZone: string; from: number; to: number; hashes: boolean },
): Promise<CloudDayAnswer> {
  const b = new DaySummaryBuilder(q.day, q.timeZone, store, terminal);
  for (let next = Math.max(1, q.from); next <= q.to;) {
    const rows = await storage.readEvents(store, terminal, next, Math.min(PAGE, q.to - next + 1));
    for (const r of rows) {
      if (r.seq > q.to) break;
      b.add({ seq: r.seq, hash: r.hash, event: decodeTrusted<TillEvent>(r.bytes) });
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < Math.min(PAGE, q.to - next + 1)) break;
    next = last.seq + 1;
  }
  return { summary: b.summary(), ...(q.hashes ? { hashes: [...b.hashes] } : {}) };
}

function dayRequest(day: string, q: z.infer<typeof dayQuery>): { day: string; timeZone: string; from: number; to: number; hashes: boolean } {
  checkedDay(day);
  checkedTimeZone(q.tz, 'tz');
  const from = Number(q.from);
  const to = Number(q.to);
  if (from < 1 || to < from || to - from >= MAX_DAY_SPAN) {
    throw new TillsyncError('VALIDATION_FAILED', `from/to: a seq range of 1 to ${MAX_DAY_SPAN} seqs, from >= 1`, { details: { field: 'from' } });
  }
  return { day, timeZone: q.tz, from, to, hashes: q.hashes === '1' };
}

export interface DaySummaryDeps {
  storage: CloudStorage;
  credentialOf: (req: FastifyRequest) => CredentialRecord;
}

export const daySummaryRoutes: FastifyPluginAsync<DaySummaryDeps> = async (plain, { storage, credentialOf }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/days/:day', {
    config: { auth: 'terminal' },
    schema: { summary: 'The terminal\'s summary of one business day from the events the cloud holds', tags: ['days'], security: TERMINAL_SECURITY, params: dayParams, querystring: dayQuery },
  }, async (req, reply) => {
    const cred = credentialOf(req);
    return send(req, reply, await cloudDaySummary(storage, cred.store, cred.terminal, dayRequest(req.params.day, req.query)));
  });

  app.get('/v1/admin/stores/:store/terminals/:terminal/days/:day', {
    config: { auth: 'admin' },
    schema: { summary: 'Any terminal\'s summary of one business day', tags: ['days', 'admin'], security: ADMIN_SECURITY, params: adminDayParams, querystring: dayQuery },
  }, async (req, reply) => {
    const p = req.params;
    if (!(await storage.getStore(p.store))) throw new TillsyncError('STORE_NOT_FOUND', `no store ${p.store}`, { details: { store: p.store } });
    const terminals = await storage.listTerminals(p.store);
    if (!terminals.some((t) => t.id === p.terminal)) {
      throw new TillsyncError('TERMINAL_NOT_FOUND', `terminal ${p.terminal} is not enrolled in store ${p.store}`, { details: { store: p.store, terminal: p.terminal } });
    }
    return send(req, reply, await cloudDaySummary(storage, p.store, p.terminal, dayRequest(p.day, req.query)));
  });
};
