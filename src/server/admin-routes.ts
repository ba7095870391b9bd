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
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { entityId, voucherCode } from '../events/event-types.ts';
import { parseWith } from '../events/validate.ts';
import type { AdminOps } from './admin-ops.ts';
import { parseCustomerImport, parseItemImport, RowCounter } from './import-rows.ts';
import { IMPORT_BODY_LIMIT, send } from '../http/wire.ts';

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

const A = { config: { auth: 'admin' as const } };
/** Imports: rows are counted as the body streams in; past MAX_IMPORT_ROWS it is refused unread (import-rows.ts). */
const IMPORT = {
  // Every row is checked for card data by the import itself, which reports it by line.
  config: { auth: 'admin' as const, cardData: 'rows' },
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

export function registerAdminRoutes(app: FastifyInstance, ops: AdminOps): void {
  const store = (req: FastifyRequest) => {
    parseWith(noQuery, req.query, 'query');
    return parseWith(storeParams, req.params, 'params').store;
  };

  app.get('/v1/admin/stores', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    return send(req, reply, { stores: await ops.listStores() });
  });
  app.post('/v1/admin/stores', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    return send(req, reply, await ops.createStore(req.body), 201);
  });
  app.get('/v1/admin/stores/:store', A, async (req, reply) => send(req, reply, await ops.getStore(store(req))));
  app.patch('/v1/admin/stores/:store/settings', A, async (req, reply) => send(req, reply, await ops.updateSettings(store(req), req.body)));

  app.get('/v1/admin/stores/:store/terminals', A, async (req, reply) => send(req, reply, { terminals: await ops.listTerminals(store(req)) }));
  app.post('/v1/admin/stores/:store/terminals', A, async (req, reply) => send(req, reply, await ops.createTerminal(store(req), req.body), 201));
  app.post('/v1/admin/stores/:store/terminals/:terminal/revoke', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(terminalParams, req.params, 'params');
    return send(req, reply, await ops.revokeTerminal(p.store, p.terminal));
  });
  app.post('/v1/admin/stores/:store/terminals/:terminal/token', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(terminalParams, req.params, 'params');
    return send(req, reply, await ops.reissueToken(p.store, p.terminal), 201);
  });

  app.post('/v1/admin/stores/:store/items', IMPORT, async (req, reply) => {
    const s = store(req);
    return send(req, reply, await ops.importItems(s, parseItemImport(req.body, importFormat(req))));
  });
  app.delete('/v1/admin/stores/:store/items/:id', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(idParams, req.params, 'params');
    return send(req, reply, await ops.removeItem(p.store, p.id));
  });
  app.post('/v1/admin/stores/:store/customers', IMPORT, async (req, reply) => {
    const s = store(req);
    return send(req, reply, await ops.importCustomers(s, parseCustomerImport(req.body, importFormat(req))));
  });
  app.delete('/v1/admin/stores/:store/customers/:id', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(idParams, req.params, 'params');
    return send(req, reply, await ops.removeCustomer(p.store, p.id));
  });
  app.get('/v1/admin/stores/:store/customers/:id/balance', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(idParams, req.params, 'params');
    return send(req, reply, await ops.getBalance(p.store, 'balance', p.id));
  });

  app.post('/v1/admin/stores/:store/vouchers', A, async (req, reply) => send(req, reply, await ops.issueVoucher(store(req), req.body), 201));
  app.get('/v1/admin/stores/:store/vouchers/:code', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(voucherParams, req.params, 'params');
    return send(req, reply, await ops.getBalance(p.store, 'voucher', p.code));
  });

  app.get('/v1/admin/stores/:store/exceptions', A, async (req, reply) => {
    const q = parseWith(exceptionsQuery, req.query, 'query');
    const s = parseWith(storeParams, req.params, 'params').store;
    return send(req, reply, { exceptions: await ops.listExceptions(s, q.status ?? 'open') });
  });
  app.post('/v1/admin/stores/:store/exceptions/:id/resolve', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(exceptionParams, req.params, 'params');
    return send(req, reply, await ops.resolveException(p.store, p.id, req.body));
  });

  app.get('/v1/admin/stores/:store/quarantine', A, async (req, reply) => {
    const q = parseWith(limitQuery, req.query, 'query');
    const s = parseWith(storeParams, req.params, 'params').store;
    return send(req, reply, { quarantined: await ops.listQuarantine(s, clampLimit(q.limit, 1000, 10_000)) });
  });
  app.post('/v1/admin/stores/:store/quarantine/:terminal/:seq/release', A, async (req, reply) => {
    parseWith(noQuery, req.query, 'query');
    const p = parseWith(seqParams, req.params, 'params');
    return send(req, reply, await ops.releaseQuarantined(p.store, p.terminal, Number(p.seq)));
  });
  app.get('/v1/admin/stores/:store/events', A, async (req, reply) => {
    const q = parseWith(eventsQuery, req.query, 'query');
    const s = parseWith(storeParams, req.params, 'params').store;
    const from = q.from === undefined ? 1 : Number(q.from);
    return send(req, reply, await ops.readEvents(s, q.terminal, from, clampLimit(q.limit, 1000, 5000)));
  });
}
