/**
 * The admin API under /v1/admin, guarded by the admin token (`config.auth:
 * 'admin'`). Store-scoped routes all live under /v1/admin/stores/:store.
 *
 *   GET    /v1/admin/stores                                   list stores
 *   POST   /v1/admin/stores                                   create { id, name, currency, offlineStoredValue?, offlineCap? }
 *   GET    /v1/admin/stores/:store                            one store
 *   PATCH  /v1/admin/stores/:store/settings                   { currency?, offlineStoredValue?, offlineCap?, cardOfflineWindowHours? }
 *   GET    /v1/admin/stores/:store/terminals                  list with ackSeq
 *   POST   /v1/admin/stores/:store/terminals                  create { id, name? } → { token } (shown once)
 *   POST   /v1/admin/stores/:store/terminals/:terminal/revoke
 *   POST   /v1/admin/stores/:store/terminals/:terminal/token  re-enrol: new token, old one revoked
 *   POST   /v1/admin/stores/:store/items                      import (JSON array or text/csv)
 *   DELETE /v1/admin/stores/:store/items/:id
 *   POST   /v1/admin/stores/:store/customers                  import (JSON array or text/csv)
 *   DELETE /v1/admin/stores/:store/customers/:id
 *   GET    /v1/admin/stores/:store/customers/:id/balance
 *   POST   /v1/admin/stores/:store/vouchers                   issue { code, amount }
 *   GET    /v1/admin/stores/:store/vouchers/:code
 *   GET    /v1/admin/stores/:store/exceptions?status=open|resolved|all
 *   POST   /v1/admin/stores/:store/exceptions/:id/resolve     { note? }
 *   GET    /v1/admin/stores/:store/quarantine?limit=              → { quarantined: [{ terminal, seq, id, type, code, message }] }
 *   POST   /v1/admin/stores/:store/quarantine/:terminal/:seq/release  → { released: [...] } (the whole sale group)
 *   GET    /v1/admin/stores/:store/events?terminal=&from=&limit=
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { entityId, voucherCode } from '../events/event-types.ts';
import { createStoreRequest, createTerminalRequest, issueVoucherRequest, resolveRequest, updateSettingsRequest, type AdminOps } from './admin-ops.ts';
import { ADMIN_SECURITY } from './openapi.ts';
import { parseCustomerImport, parseItemImport, RowCounter } from './import-rows.ts';
import { IMPORT_BODY_LIMIT, MSGPACK, send } from '../http/wire.ts';

const digits = z.string().regex(/^\d{1,15}$/);
const storeParams = z.strictObject({ store: entityId });
const terminalParams = z.strictObject({ store: entityId, terminal: entityId });
const idParams = z.strictObject({ store: entityId, id: entityId });
const voucherParams = z.strictObject({ store: entityId, code: voucherCode });
const seqParams = z.strictObject({ store: entityId, terminal: entityId, seq: z.string().regex(/^[1-9]\d{0,14}$/) });
const exceptionParams = z.strictObject({ store: entityId, id: z.string().regex(/^exc-\d{1,16}$/) });
const noQuery = z.strictObject({});
const exceptionsQuery = z.strictObject({ status: z.enum(['open', 'resolved', 'all']).optional() });
const limitQuery = z.strictObject({ limit: digits.optional() });
const eventsQuery = z.strictObject({ terminal: entityId, from: digits.optional(), limit: digits.optional() });

const A = { auth: 'admin' as const };
/** The schema of an admin route: its summary and inputs, under the `admin` tag. */
const S = <T extends object>(summary: string, parts: T = {} as T) => ({ summary, tags: ['admin'], security: ADMIN_SECURITY, ...parts });
/** Imports: rows are counted as the body streams in; past MAX_IMPORT_ROWS it is refused unread (import-rows.ts). */
const IMPORT = {
  // Every row is checked for card data by the import itself, which reports it by line.
  config: { auth: 'admin' as const, cardData: 'rows' as const },
  // The rows (a JSON array or text/csv) are parsed row by row by the import (import-rows.ts), not by a schema.
  bodyLimit: IMPORT_BODY_LIMIT,
  preParsing: async (req: FastifyRequest, _reply: unknown, payload: NodeJS.ReadableStream) => {
    const counter = new RowCounter(importFormat(req));
    // Refused mid-body: read and drop the rest for a while (a "lingering close") so the client,
    // still sending, reads the IMPORT_INVALID answer; closing on unread data would reset the
    // connection and lose the answer. Bounded: the socket goes after LINGER_MS regardless.
    counter.once('error', () => {
      lingering.add(req.raw);
      payload.unpipe(counter);
      payload.resume();
      setTimeout(() => req.raw.destroy(), LINGER_MS).unref();
    });
    return payload.pipe(counter);
  },
  // fastify answers a body error with `Connection: close`, and Node then closes on the unread
  // rest: the kernel resets the connection and the answer can be lost. Keep it open instead
  // while the rest is dropped (above); the client reads the answer, then the socket is reused or goes.
  onSend: async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (lingering.has(req.raw)) reply.removeHeader('connection');
    return payload;
  },
};
const LINGER_MS = 10_000;
const lingering = new WeakSet<object>();

function importFormat(req: FastifyRequest): 'json' | 'csv' {
  return (req.headers['content-type'] ?? '').startsWith('text/csv') ? 'csv' : 'json';
}
const clampLimit = (s: string | undefined, dflt: number, max: number) => Math.min(max, Math.max(1, s === undefined ? dflt : Number(s)));

export const adminRoutes: FastifyPluginAsync<{ ops: AdminOps }> = async (plain, { ops }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const JSON_IN = [MSGPACK, 'application/json'];

  app.get('/v1/admin/stores', { config: A, schema: S('List stores', { querystring: noQuery }) }, async (req, reply) => send(req, reply, { stores: await ops.listStores() }));
  app.post('/v1/admin/stores', { config: A, schema: S('Create a store', { querystring: noQuery, body: createStoreRequest, consumes: JSON_IN }) },
    async (req, reply) => send(req, reply, await ops.createStore(req.body), 201));
  app.get('/v1/admin/stores/:store', { config: A, schema: S('One store', { querystring: noQuery, params: storeParams }) },
    async (req, reply) => send(req, reply, await ops.getStore(req.params.store)));
  app.patch('/v1/admin/stores/:store/settings', { config: A, schema: S('Change a store\'s settings', { querystring: noQuery, params: storeParams, body: updateSettingsRequest, consumes: JSON_IN }) },
    async (req, reply) => send(req, reply, await ops.updateSettings(req.params.store, req.body)));

  app.get('/v1/admin/stores/:store/terminals', { config: A, schema: S('List a store\'s terminals with their ackSeq', { querystring: noQuery, params: storeParams }) },
    async (req, reply) => send(req, reply, { terminals: await ops.listTerminals(req.params.store) }));
  app.post('/v1/admin/stores/:store/terminals', { config: A, schema: S('Enrol a terminal: its token is answered once', { querystring: noQuery, params: storeParams, body: createTerminalRequest, consumes: JSON_IN }) },
    async (req, reply) => send(req, reply, await ops.createTerminal(req.params.store, req.body), 201));
  app.post('/v1/admin/stores/:store/terminals/:terminal/revoke', { config: A, schema: S('Revoke a terminal\'s credential', { querystring: noQuery, params: terminalParams }) },
    async (req, reply) => send(req, reply, await ops.revokeTerminal(req.params.store, req.params.terminal)));
  app.post('/v1/admin/stores/:store/terminals/:terminal/token', { config: A, schema: S('Re-enrol: a new token, the old one revoked', { querystring: noQuery, params: terminalParams }) },
    async (req, reply) => send(req, reply, await ops.reissueToken(req.params.store, req.params.terminal), 201));

  app.post('/v1/admin/stores/:store/items', {
    ...IMPORT,
    schema: S('Import items (a JSON array of rows, or text/csv)', { querystring: noQuery, params: storeParams, consumes: ['application/json', 'text/csv'] }),
  }, async (req, reply) => send(req, reply, await ops.importItems(req.params.store, parseItemImport(req.body, importFormat(req)))));
  app.delete('/v1/admin/stores/:store/items/:id', { config: A, schema: S('Remove an item', { querystring: noQuery, params: idParams }) },
    async (req, reply) => send(req, reply, await ops.removeItem(req.params.store, req.params.id)));
  app.post('/v1/admin/stores/:store/customers', {
    ...IMPORT,
    schema: S('Import customers (a JSON array of rows, or text/csv)', { querystring: noQuery, params: storeParams, consumes: ['application/json', 'text/csv'] }),
  }, async (req, reply) => send(req, reply, await ops.importCustomers(req.params.store, parseCustomerImport(req.body, importFormat(req)))));
  app.delete('/v1/admin/stores/:store/customers/:id', { config: A, schema: S('Remove a customer', { querystring: noQuery, params: idParams }) },
    async (req, reply) => send(req, reply, await ops.removeCustomer(req.params.store, req.params.id)));
  app.get('/v1/admin/stores/:store/customers/:id/balance', { config: A, schema: S('A customer\'s account balance', { querystring: noQuery, params: idParams }) },
    async (req, reply) => send(req, reply, await ops.getBalance(req.params.store, 'balance', req.params.id)));

  app.post('/v1/admin/stores/:store/vouchers', { config: A, schema: S('Issue a voucher', { querystring: noQuery, params: storeParams, body: issueVoucherRequest, consumes: JSON_IN }) },
    async (req, reply) => send(req, reply, await ops.issueVoucher(req.params.store, req.body), 201));
  app.get('/v1/admin/stores/:store/vouchers/:code', { config: A, schema: S('A voucher\'s balance', { querystring: noQuery, params: voucherParams }) },
    async (req, reply) => send(req, reply, await ops.getBalance(req.params.store, 'voucher', req.params.code)));

  app.get('/v1/admin/stores/:store/exceptions', { config: A, schema: S('List exceptions (open by default)', { querystring: exceptionsQuery, params: storeParams }) },
    async (req, reply) => send(req, reply, { exceptions: await ops.listExceptions(req.params.store, req.query.status ?? 'open') }));
  app.post('/v1/admin/stores/:store/exceptions/:id/resolve', { config: A, schema: S('Resolve an exception', { querystring: noQuery, params: exceptionParams, body: resolveRequest, consumes: JSON_IN }) },
    async (req, reply) => send(req, reply, await ops.resolveException(req.params.store, req.params.id, req.body)));

  app.get('/v1/admin/stores/:store/quarantine', { config: A, schema: S('Quarantined events', { querystring: limitQuery, params: storeParams }) },
    async (req, reply) => send(req, reply, { quarantined: await ops.listQuarantine(req.params.store, clampLimit(req.query.limit, 1000, 10_000)) }));
  app.post('/v1/admin/stores/:store/quarantine/:terminal/:seq/release', { config: A, schema: S('Release a quarantined event (its whole sale group)', { querystring: noQuery, params: seqParams }) },
    async (req, reply) => send(req, reply, await ops.releaseQuarantined(req.params.store, req.params.terminal, Number(req.params.seq))));
  app.get('/v1/admin/stores/:store/events', { config: A, schema: S('A terminal\'s events as the cloud holds them', { querystring: eventsQuery, params: storeParams }) }, async (req, reply) => {
    const q = req.query;
    const from = q.from === undefined ? 1 : Number(q.from);
    return send(req, reply, await ops.readEvents(req.params.store, q.terminal, from, clampLimit(q.limit, 1000, 5000)));
  });
};
