/**
 * Who may call the terminal agent, through its real HTTP server and status
 * WebSocket (a real cloud on loopback behind it): no credential is refused on
 * every route and the stream; a foreign Host (DNS rebinding) and a foreign
 * Origin are refused; a cookie-only write must be JSON; a cashier may sell and
 * refund within the limit but not run a manager action; every privileged action
 * lands in the audit log with who did it; wrong PINs lock the staff id; front-end
 * tokens carry a role and can be revoked; the credential files are 0600.
 */
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { DEMO_STAFF } from '../../src/cli/demo-env.ts';
import type { AuditEntry } from '../../src/terminal/audit-log.ts';
import { PERMISSIONS } from '../../src/terminal/permissions.ts';
import type { TerminalAgent } from '../../src/terminal/agent.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';

type Failure = { error: { code: string } };

/** A raw HTTP request with headers fetch will not send (Host), answering status, headers and body. */
function raw(agent: TerminalAgent, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    // An explicit length: node sends a DELETE body unframed otherwise.
    const headers = { ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers };
    const req = httpRequest({ host: '127.0.0.1', port: agent.port, method: opts.method ?? 'GET', path: opts.path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${opts.path} within 10 s`)));
    req.end(opts.body);
  });
}

const codeOf = (body: string): string | undefined => (JSON.parse(body) as Partial<Failure>).error?.code;

async function signIn(agent: TerminalAgent, staff: string, pin?: string): Promise<{ status: number; cookie: string; code?: string }> {
  const who = DEMO_STAFF.find((s) => s.id === staff)!;
  const r = await raw(agent, {
    method: 'POST', path: '/api/session',
    headers: { host: `127.0.0.1:${agent.port}`, 'content-type': 'application/json' },
    body: JSON.stringify({ staff, pin: pin ?? who?.pin }),
  });
  const set = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
  return { status: r.status, cookie: set.map((c) => c.split(';')[0]).join('; '), ...(r.status >= 400 ? { code: codeOf(r.body)! } : {}) };
}

/** Opens the status stream; resolves 'status' on the first frame or the HTTP status of the refusal. */
function stream(agent: TerminalAgent, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${agent.port}/api/status/stream`, { headers });
    const timer = setTimeout(() => { ws.terminate(); resolve('no answer within 10 s'); }, 10_000);
    ws.on('message', () => { clearTimeout(timer); ws.close(); resolve('status'); });
    ws.on('unexpected-response', (_req, res) => { clearTimeout(timer); resolve(String(res.statusCode)); ws.terminate(); });
    ws.on('error', () => {});
  });
}

t.test('the agent refuses callers it cannot identify, foreign hosts and origins', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const host = `127.0.0.1:${agent.port}`;

  // No credential: every /api route (and an unknown one) answers AUTH_REQUIRED; nothing runs.
  const before = agent.status();
  for (const key of [...Object.keys(PERMISSIONS), 'GET /api/nothing']) {
    const [method, pattern] = key.split(' ') as [string, string];
    if (pattern === '/api/status/stream') continue;
    const path = pattern.replace(':barcode', '4006381333931').replace(':id', 'x').replace(':code', 'GV-TEST-0001');
    const r = await raw(agent, { method, path, headers: { host, 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{}' }) });
    t.equal(r.status, 401, `${key} without a credential`);
    t.equal(codeOf(r.body), 'AUTH_REQUIRED', key);
  }
  const wrong = await raw(agent, { method: 'POST', path: '/api/restore', headers: { host, 'content-type': 'application/json', authorization: 'Bearer not-the-pairing-token-at-all' }, body: '{}' });
  t.equal(codeOf(wrong.body), 'AUTH_REQUIRED', 'a wrong bearer token is no credential');
  t.equal(await stream(agent, {}), '401', 'the status stream needs a credential too');
  const after = agent.status();
  t.equal(after.sync.restarts, before.sync.restarts, 'restore did not run');
  t.equal(after.lastOperation, null, 'no operation ran');

  // The pages send a visitor without a session to the sign-in.
  const page = await raw(agent, { path: '/checkout', headers: { host } });
  t.equal(page.status, 303);
  t.equal(page.headers.location, '/sign-in?next=%2Fcheckout');
  t.equal((await raw(agent, { path: '/sign-in', headers: { host } })).status, 200, 'the sign-in page itself is open');

  // DNS rebinding: the right address and a valid token, but a foreign Host.
  const token = `Bearer ${(await import('node:fs')).readFileSync(agent.pairingTokenFile, 'utf8').trim()}`;
  for (const h of ['evil.example', `evil.example:${agent.port}`, '127.0.0.1:1', 'localhost.evil.example']) {
    const r = await raw(agent, { method: 'POST', path: '/api/restore', headers: { host: h, authorization: token, 'content-type': 'application/json' }, body: '{}' });
    t.equal(r.status, 403, `Host ${h}`);
    t.equal(codeOf(r.body), 'BAD_HOST', `Host ${h}`);
  }
  t.equal(codeOf((await raw(agent, { path: '/', headers: { host: 'evil.example' } })).body), 'BAD_HOST', 'pages too');
  t.equal(await stream(agent, { host: 'evil.example', authorization: token }), '403', 'the stream refuses a foreign Host');
  for (const h of [`127.0.0.1:${agent.port}`, `localhost:${agent.port}`]) {
    t.equal((await raw(agent, { path: '/api/status', headers: { host: h, authorization: token } })).status, 200, `Host ${h} is the agent's own`);
  }

  // A foreign Origin (a web page elsewhere) is refused, even with a valid credential.
  const manager = await signIn(agent, 'manager');
  t.equal(manager.status, 201);
  for (const origin of ['http://evil.example', `http://127.0.0.1:${agent.port + 1}`, `http://localhost:${agent.port}`, 'null']) {
    const r = await raw(agent, { method: 'POST', path: '/api/restore', headers: { host, origin, cookie: manager.cookie, 'content-type': 'application/json' }, body: '{}' });
    t.equal(codeOf(r.body), 'BAD_ORIGIN', `Origin ${origin}`);
  }
  const crossSite = await raw(agent, { path: '/api/customers?q=ana', headers: { host, cookie: manager.cookie, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' } });
  t.equal(codeOf(crossSite.body), 'BAD_ORIGIN', 'a same-site (other port) read is refused by Sec-Fetch-Site');
  t.equal(await stream(agent, { origin: 'http://evil.example', cookie: manager.cookie }), '403', 'the stream refuses a foreign Origin');
  t.equal(await stream(agent, { origin: `http://${host}`, cookie: manager.cookie }), 'status', 'the agent\'s own page gets the stream');
  const same = await raw(agent, { method: 'POST', path: '/api/sync/down', headers: { host, origin: `http://${host}`, cookie: manager.cookie, 'content-type': 'application/json' }, body: '{}' });
  t.equal(same.status, 200, 'same origin with a session works');

  // A cookie-only write that is not JSON (what a no-cors form or fetch can send) never runs.
  for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }]) {
    const r = await raw(agent, { method: 'POST', path: '/api/restore', headers: { host, cookie: manager.cookie, ...headers }, body: '' });
    t.equal(codeOf(r.body), 'UNSUPPORTED_MEDIA_TYPE', `cookie + ${JSON.stringify(headers)}`);
  }
  t.equal(agent.status().sync.restarts, before.sync.restarts, 'restore still never ran');
  t.equal(agent.status().lastOperation?.name, 'sync-down', 'only the allowed sync down ran');
  t.equal(page.headers['x-frame-options'], 'DENY', 'pages cannot be framed');
});

t.test('roles: a cashier sells and refunds within the limit; manager actions are audited with who', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: ['till-1'], refundLimit: 120 });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const host = `127.0.0.1:${agent.port}`;
  await until('catalog downloaded', () => agent.terminal.searchItems('cola').length === 1);
  const cashier = await signIn(agent, 'cashier');
  t.equal(cashier.status, 201, 'the cashier signs in');
  const as = async <T>(cookie: string, method: string, path: string, body?: unknown) => {
    const r = await raw(agent, { method, path, headers: { host, cookie, 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: JSON.stringify(body ?? {}) }) });
    return { status: r.status, body: JSON.parse(r.body) as T };
  };

  // What a cashier does all day.
  t.equal((await as<{ actor: { id: string; role: string } }>(cashier.cookie, 'GET', '/api/session')).body.actor.role, 'cashier');
  t.equal((await as(cashier.cookie, 'GET', '/api/items?q=cola')).status, 200);
  const sale = await as<{ sale: string }>(cashier.cookie, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'cash', tendered: 300 }] });
  t.equal(sale.status, 201, 'a cashier sells');
  const small = await as(cashier.cookie, 'POST', `/api/sales/${sale.body.sale}/refund`, { amount: 100, tender: 'cash', reason: 'dented can' });
  t.equal(small.status, 201, 'a refund within the limit');
  const head = agent.terminal.log.head.seq;

  // Every manager action is refused to the cashier, and changes nothing.
  const managerOnly = Object.entries(PERMISSIONS).filter(([, p]) => p.role === 'manager').map(([k]) => k);
  t.ok(managerOnly.length >= 15, 'the manager routes are listed');
  for (const key of managerOnly) {
    const [method, pattern] = key.split(' ') as [string, string];
    const path = pattern.replace(':id', pattern.includes('sales') ? sale.body.sale : 'cashier').replace(':code', 'GV-TEST-0001');
    const r = await as<Failure>(cashier.cookie, method, path, {});
    t.equal(r.status, 403, `cashier: ${key}`);
    t.equal(r.body.error.code, 'FORBIDDEN_ROLE', `cashier: ${key}`);
  }
  const big = await as<Failure>(cashier.cookie, 'POST', `/api/sales/${sale.body.sale}/refund`, { amount: 150, tender: 'cash', reason: 'whole sale' });
  t.equal(big.body.error.code, 'FORBIDDEN_ROLE', 'a refund above the limit needs a manager');
  t.equal(agent.terminal.log.head.seq, head, 'nothing was appended by the refused calls');
  t.equal(agent.status().sync.restarts, 0, 'restore did not run');
  t.notOk(agent.status().sync.localMode.on, 'local mode was not switched on');

  // The manager may; the audit log says who did what, and who was refused.
  const manager = await signIn(agent, 'manager');
  t.equal((await as(manager.cookie, 'POST', `/api/sales/${sale.body.sale}/refund`, { amount: 150, tender: 'cash', reason: 'whole sale' })).status, 201, 'the manager refunds above the limit');
  t.equal((await as(manager.cookie, 'POST', '/api/restore')).status, 200);
  t.equal((await as(manager.cookie, 'POST', '/api/vouchers/GV-NEW-0001/issue', { amount: 500 })).status, 201);
  t.equal((await api(agent, 'POST', '/api/customers/cus-ana/adjust', { delta: 250, note: 'goodwill' })).status, 201, 'the pairing token acts as the technician');
  const log = (await as<{ entries: AuditEntry[] }>(manager.cookie, 'GET', '/api/audit-log')).body.entries;
  const find = (action: string, ok: boolean) => log.find((e) => e.action === action && e.ok === ok);
  t.match(find('restore', true), { actor: { kind: 'staff', id: 'manager', role: 'manager' }, status: 200 }, 'restore by the manager');
  t.match(find('restore', false), { actor: { id: 'cashier', role: 'cashier' }, code: 'FORBIDDEN_ROLE' }, 'the cashier\'s refused restore');
  t.match(find('refund.over-limit', true), { actor: { id: 'manager' }, details: { amount: 150, limit: 120 } });
  t.match(find('refund.over-limit', false), { actor: { id: 'cashier' }, code: 'FORBIDDEN_ROLE' });
  t.match(find('voucher.issue', true), { actor: { id: 'manager' }, details: { code: 'GV-NEW-0001', amount: 500 } });
  t.match(find('balance.adjust', true), { actor: { kind: 'token', id: 'technician' }, details: { id: 'cus-ana', delta: 250 } });
  t.match(find('sign-in', true), { actor: { id: 'cashier' } });
  t.notOk(JSON.stringify(log).includes('goodwill'), 'free text is not copied into the audit log');
  t.notOk(JSON.stringify(log).includes(DEMO_STAFF[0]!.pin), 'no PIN in the audit log');
  t.equal((await as<Failure>(cashier.cookie, 'GET', '/api/audit-log')).body.error.code, 'FORBIDDEN_ROLE', 'cashiers cannot read it');

  // Signing out ends the session.
  t.equal((await as(cashier.cookie, 'DELETE', '/api/session')).status, 200);
  t.equal((await as<Failure>(cashier.cookie, 'GET', '/api/status')).body.error.code, 'AUTH_REQUIRED', 'the cookie is dead after sign-out');

  // The credential files are the agent user's alone.
  for (const f of ['agent-token', 'staff.json', 'audit-log.jsonl']) {
    t.equal(statSync(join(agent.dataDir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
});

t.test('sign-in: wrong PINs lock the staff id; front-end tokens carry a role and can be revoked', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  for (let i = 1; i <= 5; i++) t.equal((await signIn(agent, 'cashier', '0000')).code, 'SIGN_IN_FAILED', `wrong PIN ${i}`);
  const locked = await signIn(agent, 'cashier');
  t.equal(locked.code, 'SIGN_IN_LOCKED', 'locked after five wrong PINs, even with the right one');
  t.equal((await signIn(agent, 'nobody', '1234')).code, 'SIGN_IN_FAILED', 'an unknown staff id is just a failed sign-in');
  t.equal((await signIn(agent, 'manager')).status, 201, 'other staff are not locked out');

  const issued = await api<{ id: string; token: string; role: string }>(agent, 'POST', '/api/pairings', { name: 'POS front end 1', role: 'cashier' });
  t.equal(issued.status, 201);
  const pos = { token: issued.body.token };
  const posApi = (method: 'GET' | 'POST', path: string, body?: unknown) => api<Failure>(agent, method, path, body, { authorization: `Bearer ${pos.token}` });
  t.equal((await posApi('GET', '/api/items?q=cola')).status, 200, 'the front end looks up');
  t.equal((await posApi('POST', '/api/restore')).body.error.code, 'FORBIDDEN_ROLE', 'a cashier front end cannot restore');
  const listed = await api<{ pairings: Array<Record<string, unknown>> }>(agent, 'GET', '/api/pairings');
  t.notOk(JSON.stringify(listed.body).includes(pos.token), 'the token is not kept or shown again');
  t.equal((await api(agent, 'DELETE', `/api/pairings/${issued.body.id}`)).status, 200);
  t.equal((await posApi('GET', '/api/items?q=cola')).body.error.code, 'AUTH_REQUIRED', 'a revoked token is refused');
  t.equal(statSync(join(agent.dataDir, 'pairings.json')).mode & 0o777, 0o600);

  // A manager sets a staff member's PIN: the old PIN stops working.
  t.equal((await api(agent, 'PUT', '/api/staff/cashier', { name: 'Casey', role: 'cashier', pin: '8642' })).status, 200);
  t.equal((await signIn(agent, 'cashier', '8642')).status, 201, 'the new PIN works (and clears the lock)');
  t.equal((await signIn(agent, 'cashier')).code, 'SIGN_IN_FAILED', 'the old PIN does not');
});
