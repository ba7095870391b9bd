/**
 * The agent's browser defences in real Chromium. A manager is signed in on the
 * Sync Manager (so the browser holds a live session cookie); then a page served
 * from another origin (another port of 127.0.0.1, which is the same *site*, so
 * the SameSite=Strict cookie is sent; and localhost, another site) tries every
 * state-changing route the way the reported attack did: body-less no-cors POSTs,
 * text/plain no-cors POSTs, CORS JSON POSTs, a form POST, and the status
 * WebSocket. Each request that reaches the agent is refused (seen on the
 * agent's server), the stream never sends a frame, and the status shows that
 * nothing ran. Then: a cashier's session cannot run a manager option from the
 * page, signing out ends the session, and a browser without a cookie is refused.
 */
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentStatus } from '../../src/terminal/agent.ts';
import type { AuditEntry } from '../../src/terminal/audit-log.ts';
import { api } from '../helpers/env.ts';
import { SEE_TIMEOUT_MS, VOUCHER, see, signIn, startBrowserEnv, until } from './helpers/browser-env.ts';

const ROUTES = [
  '/api/restore', '/api/resync/full', '/api/resync/force', '/api/cleanup', '/api/local-mode', '/api/sync/up',
  '/api/sync/down', '/api/audit', '/api/credential', `/api/vouchers/${VOUCHER.code}/issue`, `/api/vouchers/${VOUCHER.code}/redeem`,
  '/api/customers/cus-ana/adjust', '/api/sales', '/api/pairings', '/api/session',
];

t.test('a page from another origin can change nothing, and roles hold on the pages', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;

  // One browser context (one cookie jar) for the manager's page and the attacker's pages.
  const context = await env.browser.newContext();
  t.teardown(() => context.close());
  const sm = await context.newPage();
  sm.setDefaultTimeout(SEE_TIMEOUT_MS);
  await sm.goto(`${agent.url}/`);
  await signIn(sm, 'manager');
  await see(sm, '#live', 'Live');
  await see(sm, '#conn-label', 'Online');

  // The attacker's site: a blank page on another port (same site) and on localhost (another site).
  const evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>prize</title><body>You won!</body>'));
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => evil.close(() => r())));
  const evilPort = (evil.address() as AddressInfo).port;

  // What reaches the agent, and what it answered.
  const seen: Array<{ method: string; path: string; status: number; origin: string | undefined }> = [];
  agent.app.server.on('request', (req, res) => {
    res.on('finish', () => seen.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status: res.statusCode, origin: req.headers.origin }));
  });
  const before = (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  const headBefore = agent.terminal.log.head.seq;

  for (const origin of [`http://127.0.0.1:${evilPort}`, `http://localhost:${evilPort}`]) {
    const page = await context.newPage();
    page.setDefaultTimeout(SEE_TIMEOUT_MS);
    await page.goto(`${origin}/`);
    const outcome = await page.evaluate(async ({ base, routes }) => {
      const out: string[] = [];
      for (const r of routes) {
        // The reported attack: a body-less no-cors POST, then one with a text/plain "JSON" body.
        await fetch(base + r, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => {});
        await fetch(base + r, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"dryRun":false,"olderThanDays":0,"on":true,"amount":50000,"delta":50000}' }).catch(() => {});
        // A real JSON request needs a CORS preflight, which the agent never grants.
        try {
          await fetch(base + r, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' });
          out.push(`cors allowed ${r}`);
        } catch {
          // refused by the browser: no CORS grant
        }
      }
      const ws = await new Promise<string>((resolve) => {
        const w = new WebSocket(`${base.replace(/^http/, 'ws')}/api/status/stream`);
        const timer = setTimeout(() => { w.close(); resolve('no answer within 10 s'); }, 10_000);
        w.onmessage = () => { clearTimeout(timer); resolve('got a status frame'); };
        w.onclose = () => { clearTimeout(timer); resolve('closed'); };
      });
      out.push(`ws ${ws}`);
      return out;
    }, { base: agent.url, routes: ROUTES });
    t.same(outcome, ['ws closed'], `${origin}: no CORS grant, and the stream closed without a frame`);

    // A classic form POST (a navigation): the agent answers with its refusal.
    await page.setContent(`<form method="POST" action="${agent.url}/api/restore" enctype="text/plain"><input name="x" value="y"></form>`);
    await Promise.all([page.waitForURL(`${agent.url}/api/restore`), page.$eval('form', (f) => (f as unknown as { submit(): void }).submit())]);
    t.match(await page.textContent('body'), /BAD_ORIGIN/, `${origin}: a form POST is refused with BAD_ORIGIN`);
    await page.close();
  }

  // Every route was really tried by the browser and refused by the agent.
  const attempts = seen.filter((s) => s.origin !== undefined && !s.origin.endsWith(`:${agent.port}`));
  for (const r of ROUTES) {
    const tries = attempts.filter((s) => s.path === r && s.method === 'POST');
    t.ok(tries.length >= 4, `${r}: the no-cors POSTs reached the agent (${tries.length})`);
    t.same([...new Set(tries.map((s) => s.status))], [403], `${r}: every one refused (403)`);
  }
  t.notOk(seen.some((s) => s.method === 'OPTIONS' && s.status < 400), 'no preflight was granted');

  // Nothing ran: the status through the pairing token says so.
  const after = (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  t.equal(after.sync.restarts, before.sync.restarts, 'restore did not run');
  t.same(after.lastOperation, before.lastOperation, 'no operation ran (no resync, cleanup, audit, sync)');
  t.equal(after.sync.localMode.on, false, 'local mode was not switched on');
  t.equal(agent.terminal.log.head.seq, headBefore, 'no voucher, adjustment or sale was appended');
  const log = (await api<{ entries: AuditEntry[] }>(agent, 'GET', '/api/audit-log')).body.entries;
  t.same(log.map((e) => e.action), ['sign-in'], 'the audit log holds only the manager\'s sign-in');
  await see(sm, '#live', 'Live');

  // A cashier's session: the page shows the refusal of a manager option; nothing runs.
  const cashier = await env.open(agent, '/', 'cashier');
  await see(cashier, '#live', 'Live');
  await cashier.click('#btn-restore');
  await see(cashier, '#result-restore', 'FORBIDDEN_ROLE');
  await see(cashier, '#result-restore', 'Ask a manager');
  t.equal(agent.status().sync.restarts, before.sync.restarts, 'the cashier could not restore');
  const refused = await until('the refused restore in the audit log', async () => {
    const entries = (await api<{ entries: AuditEntry[] }>(agent, 'GET', '/api/audit-log')).body.entries;
    return entries.find((e) => e.action === 'restore' && !e.ok);
  });
  t.match(refused, { actor: { kind: 'staff', id: 'cashier', role: 'cashier' }, code: 'FORBIDDEN_ROLE' }, 'logged with who tried');

  // Sign out: back to the sign-in page, and the old cookie opens nothing.
  await cashier.click('#sign-out');
  await cashier.waitForURL(/\/sign-in\?next=%2F$/);
  const afterSignOut = await cashier.evaluate(async () => (await fetch('/api/status')).status);
  t.equal(afterSignOut, 401, 'signed out: the API refuses the page');

  // A browser without any session: the page sends it to sign in; the API refuses it.
  const stranger = await env.browser.newPage();
  await stranger.goto(`${agent.url}/`);
  await stranger.waitForURL(/\/sign-in\?next=%2F$/);
  const noCookie = await stranger.evaluate(async () => {
    const r = await fetch('/api/status');
    return { status: r.status, code: ((await r.json()) as { error: { code: string } }).error.code };
  });
  t.same(noCookie, { status: 401, code: 'AUTH_REQUIRED' }, 'no cookie: refused');
  await stranger.close();
});
