// The cloud dashboard's server side through inject(): sign-in and its cookie, the
// browser checks on cookie requests (the bearer CLI is untouched), escaping, the
// terminal's report header, and the terminal-side tracker that computes it.
import t from 'tap';
import { build } from '../../src/server/app.ts';
import { MemoryStorage } from '../../src/server/memory-storage.ts';
import { parseTerminalReportHeader, REPORT_HEADER } from '../../src/replication/terminal-report.ts';
import { UnsyncedSalesTracker } from '../../src/replication/unsynced-sales.ts';
import { money } from '../../src/server/dashboard/render.ts';
import { ADMIN, admin, body, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';

const HOST = '127.0.0.1:8080';
const json = { 'content-type': 'application/json' };

async function signIn(app: Parameters<typeof admin>[0], headers: Record<string, string> = { host: HOST }) {
  const res = await app.inject({ method: 'POST', url: '/dashboard/session', headers: { ...headers, ...json }, payload: JSON.stringify({ token: ADMIN }) });
  const setCookie = String(res.headers['set-cookie'] ?? '');
  return { res, setCookie, cookie: setCookie.split(';')[0]! };
}

t.test('sign-in: the admin token buys an HttpOnly SameSite=Strict session; a wrong one nothing', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const root = await app.inject({ method: 'GET', url: '/', headers: { host: HOST } });
  t.equal(root.statusCode, 303, 'no session: the root sends to the sign-in');
  t.equal(root.headers.location, '/sign-in?next=/');
  const page = await app.inject({ method: 'GET', url: '/sign-in', headers: { host: HOST } });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/);
  t.equal(page.headers['x-frame-options'], 'DENY');

  const wrong = await app.inject({ method: 'POST', url: '/dashboard/session', headers: { host: HOST, ...json }, payload: JSON.stringify({ token: 'not-the-admin-token' }) });
  t.equal(body(wrong).error.code, 'UNAUTHORIZED');
  t.notOk(wrong.headers['set-cookie'], 'no cookie for a wrong token');
  const form = await app.inject({ method: 'POST', url: '/dashboard/session', headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${ADMIN}` });
  t.equal(body(form).error.code, 'UNSUPPORTED_MEDIA_TYPE', 'JSON only');

  const { res, setCookie, cookie } = await signIn(app);
  t.equal(res.statusCode, 201);
  t.match(setCookie, /^tillsync_admin=[A-Za-z0-9_-]{43};/);
  t.match(setCookie, /HttpOnly/);
  t.match(setCookie, /SameSite=Strict/);
  t.notMatch(setCookie, /Secure/, 'plain http: not Secure');
  t.notOk(res.payload.includes(ADMIN), 'the token is not answered back');
  const dash = await app.inject({ method: 'GET', url: '/', headers: { host: HOST, cookie } });
  t.equal(dash.statusCode, 200);
  t.equal(dash.headers['cache-control'], 'no-store');
  t.notOk(dash.payload.includes(ADMIN), 'the page holds no token');

  const out = await app.inject({ method: 'DELETE', url: '/dashboard/session', headers: { host: HOST, cookie, ...json }, payload: '{}' });
  t.equal(out.statusCode, 200);
  t.match(String(out.headers['set-cookie']), /Max-Age=0/);
  const after = await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { host: HOST, cookie } });
  t.equal(body(after).error.code, 'UNAUTHORIZED', 'the ended session is refused');
});

t.test('https: Secure cookie and https origins; wrong tokens are rate limited', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory', build: { dashboard: { https: true, publicHosts: ['pos.example.com'] } } });
  const { setCookie, cookie } = await signIn(app, { host: 'pos.example.com', origin: 'https://pos.example.com' });
  t.match(setCookie, /; Secure/);
  const ok = await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { host: 'pos.example.com', cookie, origin: 'https://pos.example.com' } });
  t.equal(ok.statusCode, 200, 'its public host and https origin pass');
  const http = await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { host: 'pos.example.com', cookie, origin: 'http://pos.example.com' } });
  t.equal(body(http).error.code, 'BAD_ORIGIN', 'an http origin is another origin');
  let last;
  for (let i = 0; i < 21; i++) {
    last = await app.inject({ method: 'POST', url: '/dashboard/session', headers: { host: 'pos.example.com', ...json }, payload: JSON.stringify({ token: `wrong-token-${i}` }) });
  }
  t.equal(body(last!).error.code, 'RATE_LIMITED');
  t.ok(Number(last!.headers['retry-after']) >= 1, 'with Retry-After');
  const right = await app.inject({ method: 'POST', url: '/dashboard/session', headers: { host: 'pos.example.com', ...json }, payload: JSON.stringify({ token: ADMIN }) });
  t.equal(body(right).error.code, 'RATE_LIMITED', 'even the right token waits out the minute');
});

t.test('cookie requests pass Host, Origin, Sec-Fetch-Site and JSON-only checks; the bearer CLI does not need to', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  await setupStore(t, app, 's1', ['t1']);
  const { cookie } = await signIn(app);
  const url = '/v1/admin/stores/s1/exceptions';
  const code = async (headers: Record<string, string>, method: 'GET' | 'POST' = 'GET', path = url, payload?: string) =>
    body(await app.inject({ method, url: path, headers: { cookie, ...headers }, ...(payload !== undefined ? { payload } : {}) }))?.error?.code ?? 'OK';
  t.equal(await code({ host: HOST }), 'OK', 'same origin reads');
  t.equal(await code({ host: 'evil.example:8080' }), 'BAD_HOST', 'DNS rebinding: an unknown host name');
  t.equal(await code({ host: HOST, origin: 'http://127.0.0.1:9999' }), 'BAD_ORIGIN', 'another port is another origin');
  t.equal(await code({ host: HOST, 'sec-fetch-site': 'same-site' }), 'BAD_ORIGIN');
  t.equal(await code({ host: HOST, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }), 'BAD_ORIGIN', 'no navigation into the API');
  const release = '/v1/admin/stores/s1/quarantine/t1/1/release';
  t.equal(await code({ host: HOST, 'content-type': 'text/plain' }, 'POST', release, '{}'), 'UNSUPPORTED_MEDIA_TYPE', 'a no-cors text/plain write');
  t.equal(await code({ host: HOST }, 'POST', release), 'UNSUPPORTED_MEDIA_TYPE', 'a body-less write');
  t.equal(await code({ host: HOST, cookie: 'tillsync_admin=forged-session-id' }), 'UNAUTHORIZED', 'an unknown session');
  // The CLI's bearer token works from any Host, as before.
  const cli = await app.inject({ method: 'GET', url, headers: { host: 'cloud.internal:8080', authorization: `Bearer ${ADMIN}` } });
  t.equal(cli.statusCode, 200);
  // A page may be opened by a link from another site (a navigation), but shows nothing without a session.
  const nav = await app.inject({ method: 'GET', url: '/', headers: { host: HOST, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } });
  t.equal(nav.statusCode, 303);
});

t.test('the overview escapes what it shows and reports what terminals say they hold', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app, 's1', ['t1']);
  await admin(app, 'POST', '/v1/admin/stores', { id: 's2', name: '<img src=x onerror=alert(1)>', currency: 'JPY' });
  const log = await terminalLog(t, 's1', 't1');
  const tracker = new UnsyncedSalesTracker(log);
  const sent = await log.append([sale(700)]);
  t.equal((await upload(app, tokens.t1!, sent)).body.ackSeq, 1);
  await log.append([sale(1250)]);
  await log.append([sale(990)]);
  await tracker.refresh(1);
  const report = tracker.report(1);
  t.same(report, { head: 3, sales: 2, amount: 2240, oldest: report.oldest }, 'two sales past the acknowledged seq');
  const { formatTerminalReport } = await import('../../src/replication/terminal-report.ts');
  await app.inject({ method: 'GET', url: '/v1/sync-state', headers: { authorization: `Bearer ${tokens.t1}`, [REPORT_HEADER]: formatTerminalReport(report) } });

  const { cookie } = await signIn(app);
  const html = (await app.inject({ method: 'GET', url: '/dashboard/overview', headers: { host: HOST, cookie } })).payload;
  t.notOk(html.includes('<img'), 'a store name is text, not markup');
  t.match(html, /&#60;img src=x onerror=alert\(1\)&#62;/);
  t.match(html, /2 sales \/ €22\.40<\/strong> not yet uploaded/);
  const data = body(await app.inject({ method: 'GET', url: '/v1/admin/overview', headers: { authorization: `Bearer ${ADMIN}` } }));
  const t1 = data.stores[0].terminals[0];
  t.same([t1.ackSeq, t1.presence.report.head, t1.presence.report.sales, t1.presence.report.amount], [1, 3, 2, 2240]);
  t.same(t1.presence.exchanges.map((x: { method: string; path: string }) => `${x.method} ${x.path}`), ['POST /v1/events', 'GET /v1/sync-state']);
  t.notOk(JSON.stringify(data).includes('tokenHash'), 'no token hash in the overview');

  // Uploaded: the sales leave the report.
  t.equal((await upload(app, tokens.t1!, [...(await collect(log, 2))])).body.ackSeq, 3);
  t.same(tracker.report(3), { head: 3, sales: 0, amount: 0 });
  // A refused request is the terminal's last error.
  await app.inject({ method: 'GET', url: '/v1/feed?since=x', headers: { authorization: `Bearer ${tokens.t1}` } });
  const again = body(await app.inject({ method: 'GET', url: '/v1/admin/overview', headers: { authorization: `Bearer ${ADMIN}` } }));
  t.equal(again.stores[0].terminals[0].presence.lastError.code, 'VALIDATION_FAILED');
});

async function collect(log: Awaited<ReturnType<typeof terminalLog>>, from: number) {
  const out = [];
  for await (const page of log.read(from)) out.push(...page);
  return out;
}

t.test('report header: exactly the documented shape, else ignored', async (t) => {
  t.same(parseTerminalReportHeader('head=12;sales=3;amount=4120;oldest=1733140000000'), { head: 12, sales: 3, amount: 4120, oldest: 1733140000000 });
  t.same(parseTerminalReportHeader('head=0;sales=0;amount=0'), { head: 0, sales: 0, amount: 0 });
  for (const bad of [undefined, '', 'head=1', 'head=1;sales=1;amount=-5', 'head=1;sales=1;amount=1;card=4111111111111111', 'head=1;head=2;sales=0;amount=0', 'head=99999999999999999;sales=0;amount=0', 'x'.repeat(300)]) {
    t.equal(parseTerminalReportHeader(bad), undefined, `ignored: ${String(bad).slice(0, 40)}`);
  }
  t.equal(money(4120, 'USD'), '$41.20');
  t.equal(money(4120, 'JPY'), '¥4,120', 'a currency without minor units');
  t.equal(money(-500, 'EUR'), '-€5.00');
});

t.test('a cloud without an admin token lets nobody sign in', async (t) => {
  const app = build({ storage: new MemoryStorage() });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/dashboard/session', headers: { host: HOST, ...json }, payload: JSON.stringify({ token: 'anything-at-all' }) });
  t.equal(body(res).error.code, 'UNAUTHORIZED');
});
