/**
 * Access control of the terminal agent's HTTP API, in one fastify `onRequest`
 * hook that runs before any body is read, for every route:
 *
 * 1. Host allow-list, same-origin rule, JSON-only writes (request-guard.ts);
 * 2. every `/api/*` route needs a caller: a bearer token (pairing token file or
 *    a front-end token) or a staff session cookie; only the sign-in itself
 *    (`POST /api/session`) is open. No caller: AUTH_REQUIRED;
 * 3. the caller's role must allow the route (permissions.ts): FORBIDDEN_ROLE.
 *
 * Privileged routes are written into the audit log with who called them and
 * how it ended (refused ones too), before the answer is sent. Every answer
 * forbids framing and sniffing; API answers are not cached.
 */
import type { IncomingMessage } from 'node:http';
import { fastifyCookie } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { toTillsyncError } from '../http/wire.ts';
import type { Actor, AgentCredentials } from './agent-credentials.ts';
import type { AuditLog } from './audit-log.ts';
import { permissionFor, roleAllows } from './permissions.ts';
import { checkHost, checkOrigin, checkWriteShape } from '../http/request-guard.ts';
import { ROLES, staffId, staffSecret } from './staff-accounts.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts for (set for every authenticated `/api/*` request). */
    actor?: Actor;
    /** Set when the request is privileged: written into the audit log. */
    audit?: { action: string; details?: Record<string, string | number | boolean> };
    failureCode?: string;
  }
}

export interface AccessControlOptions {
  credentials: AgentCredentials;
  auditLog: AuditLog;
  /** The agent's allowed host names and listening port (known once it listens). */
  hosts: () => { names: ReadonlySet<string>; port: number };
  refundLimit: number;
  /** When the checkout page asks the cashier to check a sale (a line's quantity, the total in cents). */
  checkoutWarnings: CheckoutWarnings;
  /** The agent serves HTTPS: page origins are https://, and the session cookie is Secure. */
  tls?: boolean;
}

/** One cookie per agent port: cookies do not keep ports apart, and two agents may share a host. */
export function sessionCookieName(port: number): string {
  return `tillsync_session_${port}`;
}

/** The caller of a request (HTTP or WebSocket upgrade), from its headers. */
export function authenticate(headers: IncomingMessage['headers'], credentials: AgentCredentials, port: number): Actor | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    // A bearer header wins over a cookie: a wrong token is not rescued by a session.
    const m = /^Bearer ([A-Za-z0-9_-]{16,200})$/.exec(auth);
    return m ? credentials.bearer(m[1]!) : undefined;
  }
  const cookie = headers.cookie;
  if (typeof cookie !== 'string') return undefined;
  const session = fastifyCookie.parse(cookie)[sessionCookieName(port)];
  return session ? credentials.session(session) : undefined;
}

/** Numbers and flags of a body worth keeping in the audit log; never free text (notes, reasons). */
function bodyFacts(body: unknown): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  if (body === null || typeof body !== 'object') return out;
  for (const k of ['amount', 'delta', 'on', 'hours', 'dryRun', 'olderThanDays']) {
    const v = (body as Record<string, unknown>)[k];
    if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

const signInBody = z.strictObject({ staff: staffId, pin: staffSecret });
const staffBody = z.strictObject({ name: z.string().min(1).max(80), role: z.enum(ROLES), pin: staffSecret });
const pairingBody = z.strictObject({ name: z.string().min(1).max(80), role: z.enum(ROLES) });
const staffParam = z.strictObject({ id: staffId });
const idParam = z.strictObject({ id: z.string().min(1).max(40) });
const limitQuery = z.strictObject({ limit: z.string().regex(/^\d{1,4}$/).transform(Number).optional() });

export function registerAccessControl(app: FastifyInstance, opts: AccessControlOptions): void {
  const { credentials, auditLog } = opts;
  void app.register(fastifyCookie);

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const path = req.url.split('?')[0] ?? '';
    const { names, port } = opts.hosts();
    checkHost(req.headers, names, port);
    checkOrigin(req.headers, req.method, path, opts.tls ? 'https' : 'http');
    checkWriteShape(req.headers, req.method);
    if (!path.startsWith('/api/')) return;
    const route = req.routeOptions.url;
    if (req.method === 'POST' && route === '/api/session') return;
    const actor = authenticate(req.headers, credentials, port);
    if (!actor) throw new TillsyncError('AUTH_REQUIRED', 'sign in on the page or send the pairing token');
    req.actor = actor;
    const perm = permissionFor(req.method, route);
    if (perm.action) req.audit = { action: perm.action, details: { ...(req.params as Record<string, string>) } };
    if (!roleAllows(actor.role, perm.role)) {
      throw new TillsyncError('FORBIDDEN_ROLE', `${req.method} ${route ?? path} needs the ${perm.role} role`, { details: { need: perm.role, have: actor.role } });
    }
  });

  app.addHook('onError', async (req, _reply, err) => {
    req.failureCode = toTillsyncError(err).code;
  });

  app.addHook('onSend', async (req, reply: FastifyReply, payload) => {
    reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy', "frame-ancestors 'none'");
    reply.header('x-content-type-options', 'nosniff');
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    if (req.audit) {
      const ok = reply.statusCode < 400;
      await auditLog.append({
        at: Date.now(),
        actor: req.actor ?? null,
        action: req.audit.action,
        ok,
        status: reply.statusCode,
        ...(!ok && req.failureCode ? { code: req.failureCode } : {}),
        details: { ...req.audit.details, ...bodyFacts(req.body) },
      });
    }
    return payload;
  });

  // ---------------------------------------------------------------- sessions

  const api = app.withTypeProvider<ZodTypeProvider>();
  const S = <T extends object>(summary: string, parts: T = {} as T) => ({ summary, tags: ['access'], ...parts });
  api.post('/api/session', { schema: S('Sign in with a staff PIN: sets the session cookie', { body: signInBody }) }, async (req, reply) => {
    const b = req.body;
    req.audit = { action: 'sign-in', details: { staff: b.staff } };
    try {
      const { session, actor } = await credentials.signIn(b.staff, b.pin);
      req.actor = actor;
      reply.setCookie(sessionCookieName(opts.hosts().port), session, { httpOnly: true, sameSite: 'strict', path: '/', secure: opts.tls === true });
      return reply.code(201).send({ actor, refundLimit: opts.refundLimit, checkoutWarnings: opts.checkoutWarnings });
    } catch (err) {
      const d = (err as TillsyncError).details as { retryAfterMs?: number } | undefined;
      if (d?.retryAfterMs) reply.header('retry-after', String(Math.ceil(d.retryAfterMs / 1000)));
      throw err;
    }
  });
  api.get('/api/session', { schema: S('Who is signed in') }, async (req) => ({ actor: req.actor, refundLimit: opts.refundLimit, checkoutWarnings: opts.checkoutWarnings }));
  api.delete('/api/session', { schema: S('Sign out') }, async (req, reply) => {
    const cookie = typeof req.headers.cookie === 'string' ? fastifyCookie.parse(req.headers.cookie)[sessionCookieName(opts.hosts().port)] : undefined;
    if (cookie) credentials.endSession(cookie);
    reply.clearCookie(sessionCookieName(opts.hosts().port), { path: '/' });
    return { signedOut: true };
  });

  // ---------------------------------------------------------------- staff, front ends, audit log

  api.get('/api/staff', { schema: S('Staff accounts') }, async () => ({ staff: credentials.staff.list() }));
  api.put('/api/staff/:id', { schema: S('Create or change a staff account', { params: staffParam, body: staffBody }) }, async (req) => {
    const { id } = req.params;
    const b = req.body;
    const member = await credentials.staff.set({ id, ...b });
    credentials.endSessionsOf(id);
    return { staff: member };
  });
  api.get('/api/pairings', { schema: S('Front-end tokens') }, async () => ({ pairings: credentials.listPairings() }));
  api.post('/api/pairings', { schema: S('Issue a front-end token (shown once)', { body: pairingBody }) }, async (req, reply) => {
    return reply.code(201).send(await credentials.issuePairing(req.body));
  });
  api.delete('/api/pairings/:id', { schema: S('Revoke a front-end token', { params: idParam }) }, async (req) => {
    const { id } = req.params;
    if (!(await credentials.revokePairing(id))) throw new TillsyncError('NOT_FOUND', `no front-end token ${id}`);
    return { revoked: id };
  });
  api.get('/api/audit-log', { schema: S('The audit log, newest first', { querystring: limitQuery }) }, async (req) => {
    const q = req.query;
    return { entries: await auditLog.read(Math.min(q.limit ?? 100, 1000)) };
  });
}

/** For pos-routes: a cashier may refund up to the limit; above it is a manager's (audited) action. */
export interface CheckoutWarnings {
  quantity: number;
  totalCents: number;
}
export const DEFAULT_CHECKOUT_WARNINGS: CheckoutWarnings = { quantity: 50, totalCents: 100_000 };

/**
 * A discount or a price other than the catalog's is a manager's (audited as
 * `sale.discount`): a cashier's sale that carries one is refused with
 * FORBIDDEN_ROLE before anything is written. `catalogPrice` answers the
 * item's price (undefined: unknown item, which the sale itself refuses).
 */
export function checkPriceOverride(req: FastifyRequest, lines: unknown, catalogPrice: (item: string) => number | undefined): void {
  if (!Array.isArray(lines)) return;
  const overrides = lines.filter((l: unknown) => {
    if (l === null || typeof l !== 'object') return false;
    const { item, discount, unitPrice } = l as { item?: unknown; discount?: unknown; unitPrice?: unknown };
    if (discount !== undefined && discount !== 0) return true;
    return unitPrice !== undefined && (typeof item !== 'string' || unitPrice !== catalogPrice(item));
  }).length;
  if (overrides === 0) return;
  req.audit = { action: 'sale.discount', details: { lines: overrides } };
  if (req.actor?.role !== 'manager') {
    throw new TillsyncError('FORBIDDEN_ROLE', 'a discount or a price other than the catalog\'s needs a manager', { details: { need: 'manager', have: req.actor?.role ?? 'none' } });
  }
}

export function checkRefund(req: FastifyRequest, amount: unknown, limit: number): void {
  if (typeof amount !== 'number' || amount <= limit) return;
  req.audit = { action: 'refund.over-limit', details: { ...(req.params as Record<string, string>), limit } };
  if (req.actor?.role !== 'manager') {
    throw new TillsyncError('FORBIDDEN_ROLE', `a refund above ${limit} cents needs a manager`, { details: { need: 'manager', have: req.actor?.role ?? 'none', limit } });
  }
}
