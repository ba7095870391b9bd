/**
 * Browser defences shared by the terminal agent (every HTTP request and the
 * status stream's WebSocket upgrade) and the cloud's dashboard (its pages and
 * every request authenticated by its session cookie), checked before any body
 * is read:
 *
 * - **Host allow-list** (DNS rebinding): the Host header must name the agent by
 *   one of its own bound names, 127.0.0.1, localhost, [::1] or the configured
 *   `--host` (for a wildcard bind, this machine's addresses and host name),
 *   with the port it listens on. Anything else: BAD_HOST.
 * - **Same origin only**: an `Origin` header, when sent, must be exactly
 *   `http://<Host>` (`https://<Host>` when the agent serves TLS); a `Sec-Fetch-Site` of `cross-site` or `same-site` (another
 *   port of the same host is same-site, not same-origin) is refused too, except
 *   a plain navigation to a page. There is no CORS: preflights get no grant.
 *   Refused: BAD_ORIGIN.
 * - **JSON-only writes**: a request that is not GET/HEAD must be
 *   `application/json` or carry an `Authorization` header; both force a CORS
 *   preflight in a browser, so a body-less or `text/plain` no-cors POST from
 *   another page never runs. Refused: UNSUPPORTED_MEDIA_TYPE.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { TillsyncError } from '../errors.ts';

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);

function bracket(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function isLoopbackHost(host: string): boolean {
  const h = bracket(host.toLowerCase());
  return LOOPBACK.includes(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host names a request may use to reach an agent bound to `configured`. */
export function allowedHostnames(configured = '127.0.0.1'): Set<string> {
  const names = new Set(LOOPBACK);
  const c = bracket(configured.toLowerCase());
  if (WILDCARD.has(c)) {
    // Bound to every interface: the machine's own addresses and name, nothing else.
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(bracket(a.address.toLowerCase().replace(/%.*$/, '')));
    }
    names.add(hostname().toLowerCase());
  } else {
    names.add(c);
  }
  return names;
}

/** Splits a Host header into name and port (80 when absent); undefined if it is not one. */
export function parseHostHeader(value: string): { name: string; port: number } | undefined {
  const v = value.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return undefined;
  return { name: m[1]!, port: m[2] === undefined ? 80 : Number(m[2]) };
}

/** `port` undefined: any port (the cloud, often behind a proxy whose port is not its own). */
export function checkHost(headers: IncomingHttpHeaders, names: ReadonlySet<string>, port: number | undefined, who = 'this agent'): void {
  const raw = headers.host;
  const parsed = typeof raw === 'string' ? parseHostHeader(raw) : undefined;
  if (!parsed || !names.has(parsed.name) || (port !== undefined && parsed.port !== port)) {
    throw new TillsyncError('BAD_HOST', `${who} answers only to its own address`);
  }
}

export function checkOrigin(headers: IncomingHttpHeaders, method: string, path: string, scheme: 'http' | 'https' = 'http'): void {
  const origin = headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `${scheme}://${String(headers.host).toLowerCase()}`) {
    throw new TillsyncError('BAD_ORIGIN', 'requests from other origins are refused');
  }
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    const navigation = (method === 'GET' || method === 'HEAD') && headers['sec-fetch-mode'] === 'navigate' && !path.startsWith('/api/');
    if (!navigation) throw new TillsyncError('BAD_ORIGIN', 'requests from other sites are refused');
  }
}

export function checkWriteShape(headers: IncomingHttpHeaders, method: string): void {
  if (method === 'GET' || method === 'HEAD') return;
  const type = headers['content-type'];
  if (typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type)) return;
  if (typeof headers.authorization === 'string') return;
  throw new TillsyncError('UNSUPPORTED_MEDIA_TYPE', 'a request that changes something must be application/json (or carry Authorization)');
}
