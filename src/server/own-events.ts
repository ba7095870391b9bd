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
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseWith } from '../events/validate.ts';
import { LIMITS } from '../replication/protocol.ts';
import type { CredentialRecord, CloudStorage } from './storage.ts';
import { send, wantsMsgpack } from '../http/wire.ts';

const digits = z.string().regex(/^\d{1,15}$/);
const ownEventsQuery = z.strictObject({ from: digits.optional(), limit: digits.optional() });

export function registerOwnEventsRoute(app: FastifyInstance, storage: CloudStorage, credentialOf: (req: never) => CredentialRecord): void {
  app.get('/v1/events', { config: { auth: 'terminal' } }, async (req, reply) => {
    const cred = (credentialOf as (r: unknown) => CredentialRecord)(req);
    const q = parseWith(ownEventsQuery, req.query, 'query');
    const from = Math.max(1, q.from === undefined ? 1 : Number(q.from));
    const limit = Math.min(LIMITS.maxBatchEvents, Math.max(1, q.limit === undefined ? 1000 : Number(q.limit)));
    const [rows, hw] = await Promise.all([storage.readEvents(cred.store, cred.terminal, from, limit), storage.getHighWater(cred.store, cred.terminal)]);
    const last = rows[rows.length - 1];
    const next = rows.length === limit && last && last.seq < hw.seq ? last.seq + 1 : null;
    const events = wantsMsgpack(req) ? rows.map((r) => r.bytes) : rows.map((r) => Buffer.from(r.bytes).toString('base64'));
    return send(req, reply, { events, next, ackSeq: hw.seq });
  });
}
