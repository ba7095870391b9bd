/**
 * The cloud dashboard's browser defences in real Chromium (no terminal agents:
 * a cloud, one store with a quarantined sale and an open exception). The owner
 * is signed in, so the browser holds a live session cookie; then pages served
 * from another origin (another port of 127.0.0.1: the same *site*, so the
 * SameSite=Strict cookie is sent; and localhost, another site) try the
 * dashboard's writes: body-less and text/plain no-cors POSTs, CORS JSON POSTs,
 * a form POST, reading the dashboard's data, and framing the page. Every
 * request that reaches the cloud is refused, nothing changed, and nothing the
 * browser ever received from the cloud holds the admin token or a terminal's.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { build } from '../../src/server/app.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import { CHROMIUM_ARGS, SEE_TIMEOUT_MS, see } from './helpers/browser-env.ts';
import { DELI, seedDeli, signInDashboard } from './helpers/dashboard-env.ts';

t.test('a page from another origin can neither drive nor read the dashboard, and no credential reaches a page', async (t) => {
  const dir = t.testdir();
  const adminToken = randomBytes(24).toString('base64url');
  const storage = await LevelStorage.open(join(dir, 'cloud'));
  const cloud = build({ storage, adminToken, dashboard: { pollMs: 500 } });
  await cloud.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => { await cloud.close(); await storage.close(); });
  const cloudUrl = `http://127.0.0.1:${(cloud.server.address() as AddressInfo).port}`;
  const terminalTokens: string[] = [];
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${cloudUrl}${path}`, {
      method, headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    const parsed = JSON.parse(text) as T & { token?: string };
    if (typeof parsed.token === 'string') terminalTokens.push(parsed.token);
    return parsed;
  };
  const deli = await seedDeli(dir, cloudUrl, admin);
  t.teardown(() => deli.close());
  t.equal(terminalTokens.length, 2, 'two terminal tokens issued');

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  const context = await browser.newContext();
  // Everything the browser receives from the cloud, to look for credentials in it.
  const received: Array<{ url: string; body: string; headers: Record<string, string> }> = [];
  context.on('response', (res) => {
    if (!res.url().startsWith(cloudUrl)) return;
    void res.text().then((body) => received.push({ url: res.url(), body, headers: res.headers() }), () => {});
  });
  const dash = await context.newPage();
  dash.setDefaultTimeout(SEE_TIMEOUT_MS);
  await signInDashboard(dash, cloudUrl, adminToken);
  const quarantined = `tr.quarantined-event[data-store="${DELI}"][data-terminal="t1"][data-seq="2"]`;
  await see(dash, quarantined, 'CURRENCY_MISMATCH');
  await see(dash, `section[data-store="${DELI}"] li.exception`, 'cus-eva');
  await dash.click(`tr[data-store="${DELI}"][data-terminal="t1"] button[data-action="history"]`);
  await see(dash, '#history h2', 'Sync history');

  // The attacker's site: a page on another port (same site) and on localhost (another site).
  const evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>prize</title><body>You won!</body>'));
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => evil.close(() => r())));
  const evilPort = (evil.address() as AddressInfo).port;
  const seen: Array<{ method: string; path: string; status: number; origin: string | undefined }> = [];
  cloud.server.on('request', (req, res) => {
    res.on('finish', () => seen.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status: res.statusCode, origin: req.headers.origin }));
  });
  const WRITES = [
    `/v1/admin/stores/${DELI}/quarantine/t1/2/release`,
    `/v1/admin/stores/${DELI}/exceptions/exc-1/resolve`,
    `/v1/admin/stores/${DELI}/terminals/t1/revoke`,
    `/v1/admin/stores/${DELI}/terminals/t1/token`,
  ];
  for (const origin of [`http://127.0.0.1:${evilPort}`, `http://localhost:${evilPort}`]) {
    const page = await context.newPage();
    page.setDefaultTimeout(SEE_TIMEOUT_MS);
    await page.goto(`${origin}/`);
    const outcome = await page.evaluate(async ({ base, writes }) => {
      const out: string[] = [];
      for (const w of writes) {
        await fetch(base + w, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => {});
        await fetch(base + w, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{}' }).catch(() => {});
        try {
          await fetch(base + w, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' });
          out.push(`cors allowed ${w}`);
        } catch {
          // refused by the browser: no CORS grant
        }
      }
      for (const r of ['/dashboard/overview', '/v1/admin/overview', '/v1/admin/stores']) {
        try {
          const res = await fetch(base + r, { credentials: 'include' });
          out.push(`read ${r}: ${res.status}`);
        } catch {
          // no CORS grant: the answer is not readable
        }
      }
      return out;
    }, { base: cloudUrl, writes: WRITES });
    t.same(outcome, [], `${origin}: no CORS grant to write or read`);

    // A form POST (a navigation) gets the refusal, not the action.
    await page.setContent(`<form method="POST" action="${cloudUrl}${WRITES[0]}" enctype="text/plain"><input name="x" value="y"></form>`);
    await Promise.all([page.waitForURL(`${cloudUrl}${WRITES[0]}`), page.$eval('form', (f) => (f as unknown as { submit(): void }).submit())]);
    t.match(await page.textContent('body'), /BAD_ORIGIN|UNAUTHORIZED/, `${origin}: a form POST is refused`);

    // Framing: the browser refuses to show the dashboard (or its sign-in) inside another page.
    await page.setContent(`<iframe id="f" src="${cloudUrl}/"></iframe>`);
    const child = await (await page.waitForSelector('#f')).contentFrame();
    if (!child) throw new Error('the iframe has no frame');
    await child.waitForLoadState('load');
    t.equal(await child.locator('#overview, #sign-in-form, #token').count(), 0, `${origin}: nothing of the dashboard renders in a frame (${child.url()})`);
    await page.close();
  }

  // Every write was tried by the browser and refused by the cloud.
  const attempts = seen.filter((s) => s.origin !== undefined && s.origin !== cloudUrl);
  for (const w of WRITES) {
    const tries = attempts.filter((s) => s.path === w && s.method === 'POST');
    t.ok(tries.length >= 4, `${w}: the no-cors POSTs reached the cloud (${tries.length})`);
    t.ok(tries.every((s) => s.status === 403 || s.status === 401), `${w}: every one refused (${[...new Set(tries.map((s) => s.status))].join(', ')})`);
  }
  t.ok(attempts.filter((s) => s.origin === `http://127.0.0.1:${evilPort}`).some((s) => s.status === 403), 'same-site attempts carried the cookie and were refused by the Origin check (403)');
  t.notOk(seen.some((s) => s.method === 'OPTIONS' && s.status < 400), 'no preflight was granted');

  // Nothing changed.
  const q = await admin<{ quarantined: Array<{ seq: number }> }>('GET', `/v1/admin/stores/${DELI}/quarantine`);
  t.same(q.quarantined.map((e) => e.seq), [2], 'the sale is still quarantined');
  const exc = await admin<{ exceptions: Array<{ id: string }> }>('GET', `/v1/admin/stores/${DELI}/exceptions`);
  t.same(exc.exceptions.map((e) => e.id), ['exc-1'], 'the exception is still open');
  const terms = await admin<{ terminals: Array<{ id: string; revoked: boolean }> }>('GET', `/v1/admin/stores/${DELI}/terminals`);
  t.notOk(terms.terminals.some((x) => x.revoked), 'no terminal was revoked');
  t.equal(terminalTokens.length, 2, 'no token was reissued');
  await see(dash, '#live', 'Live');

  // No credential ever reached a page: not the admin token, no terminal token or its hash, no session id in a body.
  const cookie = (await context.cookies(cloudUrl)).find((c) => c.name === 'tillsync_admin');
  t.ok(cookie, 'the browser holds the session cookie');
  t.ok(cookie!.httpOnly, 'HttpOnly');
  t.equal(cookie!.sameSite, 'Strict', 'SameSite=Strict');
  t.ok(received.length >= 5, `${received.length} answers received from the cloud`);
  t.ok(received.some((r) => r.url.endsWith('/dashboard/overview')), 'the live refresh was among them');
  const secrets = [adminToken, ...terminalTokens, ...terminalTokens.map((x) => x.slice(4)), cookie!.value];
  const leaks = received.filter((r) => secrets.some((s) => r.body.includes(s)) || /tokenHash|tsk_/.test(r.body)).map((r) => r.url);
  t.same(leaks, [], 'no answer holds the admin token, a terminal token, a token hash or the session id');
  const framable = received.filter((r) => !/frame-ancestors 'none'/.test(r.headers['content-security-policy'] ?? '')).map((r) => r.url);
  t.same(framable, [], "every answer says frame-ancestors 'none'");
  const html = await dash.content();
  t.notOk(secrets.some((s) => html.includes(s)), 'the live page holds no credential');
});
