/**
 * GET /v1/events?from=N&limit=M (terminal credential): the authenticated
 * terminal's own events as the cloud stores them, ascending seq, for a
 * terminal that lost part of its log or was restored from a backup
 * (`tillsync recover --from-cloud`). Quarantined events are included: they are
 * part of the terminal's chain.
 *
 * msgpack answer: `{ events: bin[] (canonical bytes, exactly as uploaded),
 * next: seq | null, ackSeq }`. JSON answer: the same with each event as base64.
 * The store and terminal come from the credential, never from the request.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LIMITS } from '../replication/protocol.ts';
import type { CredentialRecord, CloudStorage } from './storage.ts';
import { send, wantsMsgpack } from '../http/wire.ts';
import { TERMINAL_SECURITY } from './openapi.ts';

const digits = z.string().regex(/^\d{1,15}$/);
const ownEventsQuery = z.strictObject({ from: digits.optional(), limit: digits.optional() });

export const ownEventsRoutes: FastifyPluginAsync<{ storage: CloudStorage; credentialOf: (req: FastifyRequest) => CredentialRecord }> = async (plain, { storage, credentialOf }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/events', {
    config: { auth: 'terminal' },
    schema: { summary: 'The terminal\'s own events as the cloud stores them (recovery)', tags: ['sync'], security: TERMINAL_SECURITY, querystring: ownEventsQuery },
  }, async (req, reply) => {
    const cred = credentialOf(req);
    const q = req.query;
    const from = Math.max(1, q.from === undefined ? 1 : Number(q.from));
    const limit = Math.min(LIMITS.maxBatchEvents, Math.max(1, q.limit === undefined ? 1000 : Number(q.limit)));
    const [rows, hw] = await Promise.all([storage.readEvents(cred.store, cred.terminal, from, limit), storage.getHighWater(cred.store, cred.terminal)]);
    const last = rows[rows.length - 1];
    const next = rows.length === limit && last && last.seq < hw.seq ? last.seq + 1 : null;
    const events = wantsMsgpack(req) ? rows.map((r) => r.bytes) : rows.map((r) => Buffer.from(r.bytes).toString('base64'));
    return send(req, reply, { events, next, ackSeq: hw.seq });
  });
};
