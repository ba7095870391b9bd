/**
 * The terminal agent over TLS (issue 19, "Off loopback"), through its real
 * HTTPS server on 127.0.0.1 with a self-signed certificate made by openssl in
 * the test folder: it answers HTTPS with the pairing token, its URL says
 * https://, plain HTTP to the same port gets no answer, the sign-in cookie is
 * Secure and the agent's own https:// page origin is accepted. The cloud is an
 * unreachable address: the agent works offline, which is all these routes need.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_STAFF } from '../../src/cli/demo-env.ts';
import { TerminalAgent } from '../../src/terminal/agent.ts';
import { pairingToken } from '../helpers/env.ts';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One request over HTTPS trusting only the test's certificate (`ca`), bounded by its own deadline. */
function httpsCall(port: number, ca: Buffer, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { host: `127.0.0.1:${port}`, ...(opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers };
    // servername: the certificate is for CN=localhost; the connection goes to 127.0.0.1.
    const req = httpsRequest({ host: '127.0.0.1', port, servername: 'localhost', ca, method: opts.method ?? 'GET', path: opts.path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no HTTPS answer to ${opts.path} within 10 s`)));
    req.end(opts.body);
  });
}

/** Plain HTTP to the TLS port: resolves 'answered <status>' or 'failed <code>' (never hangs: own deadline). */
function plainCall(port: number, token: string): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/status', headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      resolve(`answered ${res.statusCode}`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`failed ${err.code ?? err.message}`));
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'TIMEOUT' })));
    req.end();
  });
}

t.test('a TLS agent serves HTTPS only, and its session cookie is Secure', async (t) => {
  const dir = t.testdir();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'c'));
  const agent = await TerminalAgent.start({
    dataDir: join(dir, 'till'), store: 'store-1', terminal: 'till-1', cloudUrl: 'http://127.0.0.1:9', token: 'offline-token-0123456789',
    host: '127.0.0.1', port: 0, staff: DEMO_STAFF, tls: { key: readFileSync(join(dir, 'k')), cert },
    worker: { backoff: { initialMs: 1_000, maxMs: 5_000 } },
  });
  t.teardown(() => agent.stop());
  t.match(agent.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the agent URL is https://');

  const token = pairingToken(agent);
  const status = await httpsCall(agent.port, cert, { path: '/api/status', headers: { authorization: `Bearer ${token}` } });
  t.equal(status.status, 200, 'GET /api/status over HTTPS with the pairing token');
  t.equal((JSON.parse(status.body) as { terminal: string }).terminal, 'till-1');
  const anonymous = await httpsCall(agent.port, cert, { path: '/api/status' });
  t.equal((JSON.parse(anonymous.body) as { error: { code: string } }).error.code, 'AUTH_REQUIRED', 'TLS is no credential: a caller is still needed');

  t.match(await plainCall(agent.port, token), /^failed /, 'plain HTTP to the TLS port gets no answer');

  const signIn = await httpsCall(agent.port, cert, { method: 'POST', path: '/api/session', body: JSON.stringify({ staff: 'manager', pin: '2580' }) });
  t.equal(signIn.status, 201, 'the manager signs in over HTTPS');
  const cookies = ([] as string[]).concat(signIn.headers['set-cookie'] ?? []);
  t.equal(cookies.length, 1, 'one session cookie');
  t.match(cookies[0], /;\s*Secure(;|$)/i, 'the session cookie is Secure');
  t.match(cookies[0], /;\s*HttpOnly(;|$)/i);
  const cookie = cookies[0]!.split(';')[0]!;

  // The agent's own page now has an https:// origin: accepted; the http:// one is another origin.
  const same = await httpsCall(agent.port, cert, { method: 'POST', path: '/api/sync/down', headers: { cookie, origin: `https://127.0.0.1:${agent.port}` }, body: '{}' });
  t.not((JSON.parse(same.body) as { error?: { code: string } }).error?.code, 'BAD_ORIGIN', 'the https:// page origin is the agent\'s own');
  const other = await httpsCall(agent.port, cert, { method: 'POST', path: '/api/sync/down', headers: { cookie, origin: `http://127.0.0.1:${agent.port}` }, body: '{}' });
  t.equal((JSON.parse(other.body) as { error: { code: string } }).error.code, 'BAD_ORIGIN', 'http:// is another origin of a TLS agent');
});
