/**
 * The cloud server: `build(opts)` returns a ready-to-listen fastify instance
 * (listening is the caller's business, so tests use `inject()` or port 0).
 *
 * Routes (every error is `{ error: { code, message, details? } }`):
 *   GET  /healthz                                          none
 *   GET  /metrics              Prometheus text (metrics.ts)  admin token
 *   POST /v1/events            upload batch                terminal
 *   POST /v1/events/check      F9 dry run                  terminal
 *   GET  /v1/feed?since=&limit=                            terminal
 *   GET  /v1/sync-state                                    terminal
 *   GET  /v1/events?from=&limit=  own events (recovery)    terminal (own-events.ts)
 *   GET  /v1/digest            feed digest for full resync  terminal (store-digest.ts)
 *   GET  /v1/stream            WebSocket (see stream.ts)   terminal
 *   /v1/admin/...              back office (admin-routes.ts) admin token
 *   /, /sign-in, /dashboard/...  store-wide dashboard (dashboard/dashboard.ts)  admin session
 *
 * Auth runs in `onRequest`, before any body is read: an unauthenticated client
 * cannot make the server parse anything. Upload bodies are then admitted by a
 * byte budget before they are read (body-budget.ts: past it they wait unread,
 * so memory stays bounded however many terminals upload at once) and decoded
 * in worker threads (decode-pool.ts) outside their store's lock. Each route declares its auth in
 * `config.auth`; `routeTable(app)` lists every route with it (the tenant
 * isolation test walks this table).
 */
import fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { assertNoCardData } from '../events/card-data.ts';
import { systemClock, type Clock } from '../events/event-log.ts';
import { LIMITS, uploadRequestJson } from '../replication/protocol.ts';
import { adminRoutes } from './admin-routes.ts';
import { createDashboard, type DashboardOptions } from './dashboard/dashboard.ts';
import { ownEventsRoutes } from './own-events.ts';
import { supportBundleRoutes } from './support-bundles.ts';
import { daySummaryRoutes } from './day-summary-routes.ts';
import { syncRoutes } from './sync-routes.ts';
import { AdminOps } from './admin-ops.ts';
import { Auth, type RateLimit } from './auth.ts';
import type { CloudStorage, CredentialRecord } from './storage.ts';
import { StoreLocks } from './store-locks.ts';
import { FeedTail } from './feed-tail.ts';
import type { ServerContext } from './store-tx.ts';
import { StreamHub, streamRoutes } from './stream.ts';
import { BodyBudget, type BudgetShares } from './body-budget.ts';
import { DEFAULT_RECEIVE_RATE, watchReceiveRate, type ReceiveRateOptions } from './receive-rate.ts';
import { DecodePool } from './decode-pool.ts';
import { UploadBatch, packUploadBatch } from './upload-batch.ts';
import { applyUpload, checkEvents, decodeUpload } from './upload.ts';
import { MSGPACK, registerWire, send } from '../http/wire.ts';
import { errorContract } from '../http/error-contract.ts';
import { isUpgrade, registerWebSocket } from '../http/websocket.ts';
import { exposition } from '../http/metrics.ts';
import { serverLogging, type LoggingOptions } from '../http/logging.ts';
import { CloudMetrics } from './metrics.ts';
import { docOnly, registerRouteSchemas } from '../http/route-schemas.ts';
import { ADMIN_SECURITY, CLOUD_OPENAPI, TERMINAL_SECURITY } from './openapi.ts';

export type RouteAuth = 'none' | 'terminal' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (the onRequest hook below checks it). */
    auth?: RouteAuth;
    /** `'rows'`: the route checks each row for card data itself (wire.ts). */
    cardData?: 'rows';
  }
}
export interface RouteEntry {
  method: string;
  url: string;
  auth: RouteAuth;
}

export interface BuildOptions {
  storage: CloudStorage;
  /** Guards /v1/admin; without one the admin API refuses everything (401). */
  adminToken?: string | undefined;
  /** WebSocket ping interval; a socket silent for one interval is terminated. Default 30 s. */
  heartbeatMs?: number;
  clock?: Clock;
  /** pino through fastify, request ids in every line (http/logging.ts); default: no log. */
  logging?: LoggingOptions | false;
  /** Feed notifications on the stream go out at most this often per store, with the latest head (stream.ts). Default 500 ms; 0: one per commit. */
  feedNotifyMs?: number;
  /** Worker threads decoding upload batches (phase 1) off the main thread; 0 decodes on it. Default 1. */
  decodeWorkers?: number;
  /** An admitted upload body not fully received within this long has its connection closed (releasing its budget). Default 30 s. */
  uploadBodyReadMs?: number;
  /** Upload body bytes held at once (admitted, decoding, waiting for a store's lock); more wait unread. Default 4 MiB (a lone larger body still passes). */
  uploadBytesInFlight?: number;
  /**
   * How long an upload waits unread for the budget before it is answered 503
   * CLOUD_BUSY with Retry-After (so a terminal backs off instead of timing out
   * while the cloud works through a reconnect storm). Default 10 s.
   */
  uploadAdmitWaitMs?: number;
  /** Minimum receive rate of an admitted upload body (receive-rate.ts); slower ones are cut with UPLOAD_TOO_SLOW. */
  uploadReceiveRate?: ReceiveRateOptions;
  /** Shares of the upload budget one terminal / one store may hold at once (body-budget.ts). */
  uploadShares?: BudgetShares;
  /** Requests per terminal credential (auth.ts); past it RATE_LIMITED (429, Retry-After). Default 100/s, burst 500. */
  terminalRateLimit?: RateLimit;
  /** Open /v1/stream connections per terminal credential (stream.ts). Default 4. */
  maxStreamsPerCredential?: number;
  /** The store-wide dashboard at / (dashboard/dashboard.ts): its public host names, https, refresh. */
  dashboard?: DashboardOptions;
}

const DEFAULT_UPLOAD_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/** As long as a terminal waits for an answer (HttpTransport's default timeout). */
const DEFAULT_UPLOAD_BODY_READ_MS = 30_000;
const DEFAULT_UPLOAD_ADMIT_WAIT_MS = 10_000;
/** Retry-After of a CLOUD_BUSY answer, seconds (the worker adds its own jittered backoff). */
const BUSY_RETRY_AFTER_S = 2;

/** Admin routes whose rows are checked for card data by the import itself. */
const IMPORT_ROUTES = /\/(items|customers)$/;

const routeTables = new WeakMap<FastifyInstance, RouteEntry[]>();
const credentials = new WeakMap<FastifyRequest, CredentialRecord>();
/** Stream upgrades whose auth failed: closed after the handshake with the refusal's code (stream.ts). */
const streamRefusals = new WeakMap<FastifyRequest, unknown>();
const hubs = new WeakMap<FastifyInstance, StreamHub>();
const pools = new WeakMap<FastifyInstance, DecodePool>();

/** Every route of the app with its auth kind (HEAD routes fastify adds are left out). */
export function routeTable(app: FastifyInstance): RouteEntry[] {
  return [...(routeTables.get(app) ?? [])];
}
/** The WebSocket hub of an app (tests read its connection count). */
export function streamHub(app: FastifyInstance): StreamHub | undefined {
  return hubs.get(app);
}

/** The upload decode pool of an app (tests crash its workers and count them). */
export function decodePool(app: FastifyInstance): DecodePool | undefined {
  return pools.get(app);
}

/** The terminal credential of a request that passed terminal auth. */
export function credentialOf(req: FastifyRequest): CredentialRecord {
  const c = credentials.get(req);
  if (!c) throw new TillsyncError('UNAUTHORIZED', 'no terminal credential');
  return c;
}

const emptyQuery = z.strictObject({});

/** The connection of a request is closed: nobody is waiting for its answer. */
function gone(req: FastifyRequest): boolean {
  return req.raw.socket?.destroyed === true;
}

export function build(opts: BuildOptions): FastifyInstance {
  const app = fastify({
    ...serverLogging('cloud', opts.logging ?? false),
    bodyLimit: LIMITS.maxBodyBytes,
    // Schemas are zod, validated by parseWith (http/route-schemas.ts): ajv never runs; should it, it must not strip or coerce.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    ...errorContract(),
  });
  const table: RouteEntry[] = [];
  routeTables.set(app, table);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const auth = ((route.config as { auth?: RouteAuth } | undefined)?.auth) ?? 'none';
    for (const m of methods) if (m !== 'HEAD') table.push({ method: m, url: route.url, auth });
  });

  const auth = new Auth(opts.storage, opts.adminToken, opts.terminalRateLimit);
  const hub = new StreamHub(opts.storage, opts.heartbeatMs ?? 30_000, opts.feedNotifyMs ?? 500, opts.maxStreamsPerCredential);
  hubs.set(app, hub);
  const feedTail = new FeedTail();
  const ctx: ServerContext = {
    storage: opts.storage, clock: opts.clock ?? systemClock, notify: hub, feedTail, credentialsChanged: () => auth.credentialsChanged(),
  };
  // Commits of other processes sharing the storage (PostgreSQL): their feed heads and open-exception counts go to this process's terminals,
  // their credential writes empty the cache, and a terminal they revoke loses its streams here too.
  // The feed tail forgets the store first, so the terminals told re-read the feed from storage.
  const unwatch = opts.storage.watch?.((c) => {
    if (c.kind === 'feed') {
      feedTail.external(c.store, c.head);
      hub.feed(c.store, c.head);
    } else if (c.kind === 'exceptions') {
      hub.exceptions(c.store, c.open);
    } else if (c.kind === 'revoked') {
      auth.credentialsChanged();
      hub.credentialRevoked(c.store, c.terminal);
    } else {
      if (c.kind === 'missed') feedTail.clear();
      auth.credentialsChanged();
    }
  });
  if (unwatch) app.addHook('onClose', async () => unwatch());
  // Per store across processes too, when the storage is shared (PostgreSQL's advisory locks).
  const locks = new StoreLocks(opts.storage);
  const admin = new AdminOps(ctx, locks);
  const dashboard = createDashboard({
    auth, ops: admin, storage: opts.storage, clock: ctx.clock, streams: (s, t) => hub.streamsOf(s, t), credentialOf,
  }, opts.dashboard);

  // Hooks and routes, declared once swagger listens for routes (http/route-schemas.ts).
  registerRouteSchemas(app, CLOUD_OPENAPI, (app) => {
    registerWire(app);
    // Before the auth hook: an upgrade of a path that is no WebSocket endpoint is NOT_FOUND, unauthenticated.
    registerWebSocket(app, { maxPayload: LIMITS.maxFrameBytes });
    // Uploads: the body budget admits a body before it is read (backpressure past
    // it); msgpack bodies stay raw here and phase 1 runs in the decode pool,
    // outside the store's lock, so it overlaps phase 2 of the batches ahead.
    const budget = new BodyBudget(opts.uploadBytesInFlight ?? DEFAULT_UPLOAD_BYTES_IN_FLIGHT, opts.uploadShares);
    const metrics = new CloudMetrics(app, { storage: opts.storage, budget, streams: () => hub.connections });
    app.addHook('onRequest', async (req) => {
      const kind = (req.routeOptions.config as { auth?: RouteAuth }).auth ?? 'none';
      if (kind === 'terminal') {
        // The stream's upgrade is authenticated here like any request, but refused after the handshake
        // with a close code (stream.ts): its refusal goes to the socket handler, not to the error handler.
        if (!isUpgrade(req.raw)) credentials.set(req, await auth.terminal(req.headers));
        else {
          try {
            credentials.set(req, await auth.terminal(req.headers));
          } catch (err) {
            streamRefusals.set(req, err);
          }
        }
      } else if (kind === 'admin') await dashboard.admin(req);
    });
    dashboard.register(app);

    // No card number or CVV in anything the back office sends either (store and terminal names,
    // voucher codes, notes): stored, it would be answered back and fed to every terminal.
    // Imports check their rows themselves (IMPORT_INVALID names the line).
    app.addHook('preHandler', async (req) => {
      const kind = (req.routeOptions.config as { auth?: RouteAuth }).auth ?? 'none';
      const url = req.routeOptions.url ?? '';
      if (kind === 'admin' && req.body !== null && typeof req.body === 'object' && !IMPORT_ROUTES.test(url)) assertNoCardData(req.body);
    });

    // preClose: upgraded sockets count as server connections, so they must go before the server can close.
    // Added before the plugin's own preClose (which closes what is left): the streams close with 1001 SHUTTING_DOWN.
    app.addHook('preClose', async () => hub.close());

    app.get('/healthz', { config: { auth: 'none' }, schema: { summary: 'Liveness', tags: ['meta'] } }, async (req, reply) => send(req, reply, { ok: true }));
    // Prometheus scrapes with the admin token as its bearer credential.
    app.get('/metrics', {
      config: { auth: 'admin' }, schema: { summary: 'Prometheus metrics (text exposition)', tags: ['meta'], security: ADMIN_SECURITY, querystring: emptyQuery },
    }, async (req, reply) => {
      const { contentType, text } = await exposition(metrics.registry);
      return reply.type(contentType).header('cache-control', 'no-store').send(text);
    });

    const receiveRate = opts.uploadReceiveRate ?? DEFAULT_RECEIVE_RATE;
    const bodyReadMs = opts.uploadBodyReadMs ?? DEFAULT_UPLOAD_BODY_READ_MS;
    const admitWaitMs = opts.uploadAdmitWaitMs ?? DEFAULT_UPLOAD_ADMIT_WAIT_MS;
    const bodyTimers = new WeakMap<FastifyRequest, () => void>();
    const pool = new DecodePool(opts.decodeWorkers ?? 1);
    pools.set(app, pool);
    app.addHook('onClose', async () => pool.close());
    void app.register(async (uploads) => {
      uploads.removeContentTypeParser(MSGPACK);
      uploads.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      uploads.post('/v1/events', {
        config: { auth: 'terminal' },
        // The body is parsed by the route (raw msgpack bytes go to the decode pool): documented, not validated here.
        schema: {
          summary: 'Upload a batch of events (msgpack: canonical bytes; JSON: event objects)', tags: ['sync'], security: TERMINAL_SECURITY,
          consumes: [MSGPACK, 'application/json'], body: docOnly(uploadRequestJson),
        },
        preParsing: async (req, reply, payload) => {
          const declared = Number(req.headers['content-length']);
          const cred = credentialOf(req);
          const ticket = budget.acquire(
            Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, LIMITS.maxBodyBytes) : LIMITS.maxBodyBytes,
            { store: cred.store, terminal: cred.terminal },
          );
          reply.raw.once('close', ticket.release);
          let waited: NodeJS.Timeout | undefined;
          const admittedInTime = await Promise.race([
            ticket.admitted.then(() => true),
            new Promise<boolean>((resolve) => (waited = setTimeout(() => resolve(false), admitWaitMs))),
          ]);
          clearTimeout(waited);
          if (!admittedInTime) {
            ticket.release(); // leaves the queue; the body is never read
            metrics.refusedBusy();
            void reply.header('retry-after', String(BUSY_RETRY_AFTER_S));
            throw new TillsyncError('CLOUD_BUSY', `upload not admitted within ${admitWaitMs} ms: retry later`, {
              details: { retryAfterSeconds: BUSY_RETRY_AFTER_S },
            });
          }
          // An admitted body that stalls (a vanished terminal, a half-open connection)
          // must not hold the budget: its connection is closed, which releases it.
          const stall = setTimeout(() => req.raw.destroy(), bodyReadMs);
          stall.unref();
          // One that trickles (a byte a second) is cut much sooner: it would hold its share of the budget for hours.
          const stopRate = watchReceiveRate(req, reply, receiveRate);
          bodyTimers.set(req, () => {
            clearTimeout(stall);
            stopRate();
          });
          reply.raw.once('close', () => clearTimeout(stall));
          return payload;
        },
        preValidation: async (req) => bodyTimers.get(req)?.(),
      }, async (req, reply) => {
        const cred = credentialOf(req);
        const msgpack = (req.headers['content-type'] ?? '').startsWith(MSGPACK);
        const batch = msgpack && Buffer.isBuffer(req.body)
          ? await pool.decode(req.body, cred)
          : new UploadBatch(packUploadBatch(decodeUpload(req.body, msgpack ? 'msgpack' : 'json', cred)));
        const res = await locks.run(cred.store, async () => (gone(req) ? undefined : applyUpload(ctx, cred, batch)));
        // The client gave up while the batch waited (timeout): nothing was stored, nobody to answer.
        if (res === undefined) return reply;
        metrics.uploaded(res);
        return send(req, reply, res);
      });
    });

    void app.register(syncRoutes, { storage: opts.storage, feedTail, credentialOf, check: (cred, body) => checkEvents(ctx, cred, body) });

    void app.register(streamRoutes, {
      hub, auth: (req) => {
        const refused = streamRefusals.get(req);
        return refused !== undefined ? { refused } : { cred: credentialOf(req) };
      },
    });


    void app.register(ownEventsRoutes, { storage: opts.storage, credentialOf });
    void app.register(daySummaryRoutes, { storage: opts.storage, credentialOf });
    void app.register(adminRoutes, { ops: admin });
    void app.register(supportBundleRoutes, { storage: opts.storage, clock: ctx.clock, credentialOf, withStore: (store, task) => locks.run(store, task) });
  });
  return app;
}
