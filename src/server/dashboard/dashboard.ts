/**
 * The cloud's store-wide dashboard, for owners and support: every store and
 * terminal (last seen, what it has not uploaded yet, errors, quarantine), the
 * open exceptions (resolved from the page) and a terminal's sync history.
 *
 *   GET    /                      the dashboard (303 to /sign-in without a session)   page
 *   GET    /sign-in               sign-in page (admin token → session cookie)         page
 *   GET    /dashboard/assets/*    its CSS and scripts (fixed names)                    page
 *   POST   /dashboard/session     { token } → 201, Set-Cookie (HttpOnly, SameSite=Strict) page
 *   DELETE /dashboard/session     sign out                                             page
 *   GET    /dashboard/overview    the live part of the page, HTML                      admin
 *   GET    /dashboard/history?store=&terminal=   a terminal's sync history, HTML       admin
 *   GET    /v1/admin/overview     the same data as JSON                                admin
 *
 * The page's actions go to the existing admin API (exception resolve,
 * quarantine release) with the session cookie instead of the token:
 * admin-session.ts says how that is guarded. Page routes pass the same
 * browser defences (Host allow-list, same origin, JSON-only writes) and every
 * answer of the cloud forbids framing and sniffing; pages and fragments are
 * never cached and run under a CSP that allows only this origin's own files.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TillsyncError } from '../../errors.ts';
import { entityId } from '../../events/event-types.ts';
import type { Clock } from '../../events/event-log.ts';
import { parseWith } from '../../events/validate.ts';
import { allowedHostnames } from '../../http/request-guard.ts';
import { send, toTillsyncError } from '../../http/wire.ts';
import { ADMIN_SECURITY } from '../openapi.ts';
import type { AdminOps } from '../admin-ops.ts';
import type { Auth } from '../auth.ts';
import type { CloudStorage, CredentialRecord } from '../storage.ts';
import { AdminSessions, guardBrowserRequest, type PageGuardOptions } from './admin-session.ts';
import { overview, terminalHistory, type OverviewDeps } from './overview.ts';
import { REPORT_HEADER } from '../../replication/terminal-report.ts';
import { Presence, parseTerminalReport } from './presence.ts';
import { renderHistory, renderOverview, renderPage } from './render.ts';

export interface DashboardOptions {
  /** Host names the dashboard is reached by, besides loopback and this machine's (e.g. `pos-cloud.example.com`). */
  publicHosts?: readonly string[];
  /** The dashboard is reached over https (a TLS proxy in front): https origins and a Secure cookie. */
  https?: boolean;
  /** How often the page refreshes itself. Default 2 s. */
  pollMs?: number;
}

export interface DashboardDeps {
  auth: Auth;
  ops: AdminOps;
  storage: CloudStorage;
  clock: Clock;
  /** Open status streams of a terminal (StreamHub). */
  streams: (store: string, terminal: string) => number;
  /** The terminal credential of a request that passed terminal auth (throws otherwise). */
  credentialOf: (req: FastifyRequest) => CredentialRecord;
}

export interface Dashboard {
  /** The admin check of every `auth: 'admin'` route: the bearer token, or a dashboard session that passes the browser defences. */
  admin(req: FastifyRequest): Promise<void>;
  register(app: FastifyInstance): void;
}

const ASSETS: Record<string, string> = {
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'sign-in.js': 'text/javascript; charset=utf-8',
};
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const signInBody = z.strictObject({ token: z.string().min(1).max(256) });
const noBody = z.union([z.undefined(), z.null(), z.strictObject({})]);
const noQuery = z.strictObject({});
const nextQuery = z.strictObject({ next: z.string().max(200).optional() });
const historyQuery = z.strictObject({ store: entityId, terminal: entityId });
const PAGE = { config: { auth: 'none' as const, page: true } };
const A = { config: { auth: 'admin' as const } };

/** The set of routes any caller may reach (the rest need a terminal or the admin): tests walk it. */
export const PUBLIC_DASHBOARD_ROUTES: ReadonlyArray<{ method: string; url: string }> = [
  { method: 'GET', url: '/' }, { method: 'GET', url: '/sign-in' }, { method: 'GET', url: '/dashboard/assets/:file' },
  { method: 'POST', url: '/dashboard/session' }, { method: 'DELETE', url: '/dashboard/session' },
];

export function createDashboard(deps: DashboardDeps, opts: DashboardOptions = {}): Dashboard {
  const hosts = allowedHostnames('0.0.0.0');
  for (const h of opts.publicHosts ?? []) for (const n of allowedHostnames(h)) hosts.add(n);
  const guard: PageGuardOptions = { hosts, https: opts.https === true };
  const sessions = new AdminSessions((t) => deps.auth.isAdmin(t), deps.clock);
  const presence = new Presence();
  const view: OverviewDeps = { ops: deps.ops, storage: deps.storage, presence, streams: deps.streams };
  const pollMs = opts.pollMs ?? 2000;
  const path = (req: FastifyRequest) => (req.url.split('?')[0] ?? '');

  async function admin(req: FastifyRequest): Promise<void> {
    if (req.headers.authorization !== undefined) return deps.auth.admin(req.headers);
    const session = sessions.cookieOf(req.headers);
    if (session === undefined) return deps.auth.admin(req.headers); // UNAUTHORIZED, as before
    guardBrowserRequest(req.headers, req.method, path(req), guard);
    if (!sessions.valid(session)) throw new TillsyncError('UNAUTHORIZED', 'the dashboard session ended: sign in again');
  }

  function register(app: FastifyInstance): void {
    const failures = new WeakMap<FastifyRequest, string>();
    app.addHook('onRequest', async (req) => {
      if ((req.routeOptions.config as { page?: boolean }).page === true) guardBrowserRequest(req.headers, req.method, path(req), guard);
    });
    app.addHook('onError', async (req, _reply, err) => {
      failures.set(req, toTillsyncError(err).code);
    });
    // Presence: every answered request of an authenticated terminal (refused ones too).
    app.addHook('onResponse', async (req, reply) => {
      if ((req.routeOptions.config as { auth?: string }).auth !== 'terminal') return;
      let cred: CredentialRecord;
      try {
        cred = deps.credentialOf(req);
      } catch {
        return; // not authenticated: not attributable to a terminal
      }
      const at = deps.clock.now();
      const code = failures.get(req);
      presence.record(cred.store, cred.terminal, {
        at, method: req.method, path: path(req), status: reply.statusCode, ...(code !== undefined && reply.statusCode >= 400 ? { code } : {}),
      }, parseTerminalReport(req.headers[REPORT_HEADER], at));
    });
    app.addHook('onSend', async (req, reply, payload) => {
      void reply.header('x-frame-options', 'DENY');
      void reply.header('x-content-type-options', 'nosniff');
      const cfg = req.routeOptions.config as { page?: boolean } | undefined;
      const dash = cfg?.page === true || path(req).startsWith('/dashboard/');
      void reply.header('content-security-policy', dash ? PAGE_CSP : "frame-ancestors 'none'");
      if (dash && !path(req).startsWith('/dashboard/assets/')) void reply.header('cache-control', 'no-store');
      return payload;
    });

    app.get('/', PAGE, async (req, reply) => {
      parseWith(noQuery, req.query, 'query');
      if (!sessions.valid(sessions.cookieOf(req.headers))) return reply.code(303).header('location', '/sign-in?next=/').send();
      return reply.type('text/html; charset=utf-8').send(renderPage(await overview(view), deps.clock.now(), pollMs));
    });
    const signInPage = readFileSync(new URL('./assets/sign-in.html', import.meta.url));
    app.get('/sign-in', PAGE, async (req, reply) => {
      parseWith(nextQuery, req.query, 'query');
      return reply.type('text/html; charset=utf-8').send(signInPage);
    });
    const files = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(new URL(`./assets/${name}`, import.meta.url)) }]));
    app.get('/dashboard/assets/:file', PAGE, async (req, reply) => {
      parseWith(noQuery, req.query, 'query');
      const f = files.get((req.params as { file: string }).file);
      if (!f) throw new TillsyncError('NOT_FOUND', 'no such dashboard file');
      return reply.type(f.type).header('cache-control', 'no-cache').send(f.body);
    });
    app.post('/dashboard/session', PAGE, async (req, reply) => {
      parseWith(noQuery, req.query, 'query');
      const b = parseWith(signInBody, req.body ?? {}, 'body');
      let session: string;
      try {
        session = sessions.signIn(b.token);
      } catch (err) {
        const d = (err as TillsyncError).details as { retryAfterSeconds?: number } | undefined;
        if (d?.retryAfterSeconds) void reply.header('retry-after', String(d.retryAfterSeconds));
        throw err;
      }
      void reply.header('set-cookie', sessions.cookie(session, guard.https));
      return send(req, reply, { signedIn: true }, 201);
    });
    app.delete('/dashboard/session', PAGE, async (req, reply) => {
      parseWith(noQuery, req.query, 'query');
      parseWith(noBody, req.body, 'body');
      sessions.end(sessions.cookieOf(req.headers));
      void reply.header('set-cookie', sessions.clearCookie(guard.https));
      return send(req, reply, { signedOut: true });
    });

    app.get('/dashboard/overview', A, async (req, reply) => {
      parseWith(noQuery, req.query, 'query');
      return reply.type('text/html; charset=utf-8').send(renderOverview(await overview(view), deps.clock.now()));
    });
    app.get('/dashboard/history', A, async (req, reply) => {
      const q = parseWith(historyQuery, req.query, 'query');
      return reply.type('text/html; charset=utf-8').send(renderHistory(await terminalHistory(view, q.store, q.terminal), deps.clock.now()));
    });
    app.get('/v1/admin/overview', {
      ...A, schema: { summary: 'Every store\'s overview (what the dashboard shows)', tags: ['admin'], security: ADMIN_SECURITY, querystring: noQuery },
    }, async (req, reply) => {
      return send(req, reply, { stores: await overview(view) });
    });
  }

  return { admin, register };
}
