/**
 * Who may use the admin API, and how a browser does it without ever holding
 * the admin token.
 *
 * - A request with an `Authorization` header is checked as before (auth.ts):
 *   the admin bearer token, used by the CLI and scripts. No browser sends one
 *   by itself, so no page defence is needed for it.
 * - Otherwise the dashboard's session cookie: the sign-in page posts the admin
 *   token once (JSON), and gets a random session id in an HttpOnly,
 *   SameSite=Strict cookie (Secure when the dashboard is served over https).
 *   The token is never sent back, stored or put in a page. Every request that
 *   rides on the cookie first passes the browser defences (request-guard.ts):
 *   Host allow-list (DNS rebinding), same origin only (`Origin` and
 *   `Sec-Fetch-Site`), and JSON-only writes, so a page of another origin can
 *   neither read nor change anything, even on the same site where the cookie
 *   is sent (another port of the same host).
 *
 * Sessions live in this process's memory for SESSION_TTL_MS (a restart signs
 * everyone out); at most MAX_SESSIONS, the oldest goes first. Wrong tokens are
 * counted: past MAX_FAILURES within a minute every sign-in is refused with
 * RATE_LIMITED until the minute is over.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TillsyncError } from '../../errors.ts';
import { checkHost, checkOrigin, checkWriteShape } from '../../http/request-guard.ts';
import type { Clock } from '../../events/event-log.ts';

export const ADMIN_COOKIE = 'tillsync_admin';
export const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 1000;
const MAX_FAILURES = 20;
const FAILURE_WINDOW_MS = 60_000;

export interface PageGuardOptions {
  /** Host names the dashboard answers to (any port: it may sit behind a proxy). */
  hosts: ReadonlySet<string>;
  /** Pages are reached over https (directly or through a TLS proxy): https origins, Secure cookie. */
  https: boolean;
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

/** Host, Origin/Sec-Fetch-Site and JSON-only writes for a browser request to the cloud. */
export function guardBrowserRequest(headers: IncomingHttpHeaders, method: string, path: string, opts: PageGuardOptions): void {
  checkHost(headers, opts.hosts, undefined, 'the cloud dashboard');
  // checkOrigin lets a cross-site navigation open a page, never an API path (it names those `/api/...`):
  // the admin API and the dashboard's fragments and session routes count as API here.
  const api = path.startsWith('/v1/') || path.startsWith('/dashboard/');
  checkOrigin(headers, method, api ? '/api/' : path, opts.https ? 'https' : 'http');
  checkWriteShape(headers, method);
}

export class AdminSessions {
  /** sha256(session id) → expiry (cloud clock). */
  private readonly sessions = new Map<string, number>();
  private failures: { since: number; count: number } = { since: 0, count: 0 };

  constructor(
    private readonly isAdminToken: (token: string) => boolean,
    private readonly clock: Clock,
  ) {}

  /** A new session for the admin token, or throws UNAUTHORIZED / RATE_LIMITED. */
  signIn(token: string): string {
    const now = this.clock.now();
    if (now - this.failures.since > FAILURE_WINDOW_MS) this.failures = { since: now, count: 0 };
    if (this.failures.count >= MAX_FAILURES) {
      const retryAfterSeconds = Math.max(1, Math.ceil((this.failures.since + FAILURE_WINDOW_MS - now) / 1000));
      throw new TillsyncError('RATE_LIMITED', 'too many wrong admin tokens: wait a minute', { details: { retryAfterSeconds } });
    }
    if (!this.isAdminToken(token)) {
      this.failures.count++;
      throw new TillsyncError('UNAUTHORIZED', 'this is not the admin token');
    }
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(hash(id), now + SESSION_TTL_MS);
    return id;
  }

  /** The session cookie of a request, if it sent one. */
  cookieOf(headers: IncomingHttpHeaders): string | undefined {
    const c = headers.cookie;
    if (typeof c !== 'string') return undefined;
    // Session ids are base64url: a cookie of another shape is no session (nothing to decode).
    for (const part of c.split(';')) {
      const m = /^\s*([^=\s]+)\s*=\s*([A-Za-z0-9_-]{1,100})\s*$/.exec(part);
      if (m && m[1] === ADMIN_COOKIE) return m[2];
    }
    return undefined;
  }

  valid(session: string | undefined): boolean {
    if (session === undefined) return false;
    const key = hash(session);
    const exp = this.sessions.get(key);
    if (exp === undefined) return false;
    if (exp <= this.clock.now()) {
      this.sessions.delete(key);
      return false;
    }
    return true;
  }

  end(session: string | undefined): void {
    if (session !== undefined) this.sessions.delete(hash(session));
  }

  /** The Set-Cookie value of a new session. */
  cookie(session: string, https: boolean): string {
    return `${ADMIN_COOKIE}=${session}; Max-Age=${SESSION_TTL_MS / 1000}; Path=/; HttpOnly; SameSite=Strict${https ? '; Secure' : ''}`;
  }

  clearCookie(https: boolean): string {
    return `${ADMIN_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict${https ? '; Secure' : ''}`;
  }
}
