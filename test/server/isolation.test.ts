// Tenant isolation (F13): walks the server's route table, so a new route cannot be forgotten.
import t from 'tap';
import { routeTable } from '../../src/server/app.ts';
import { PUBLIC_DASHBOARD_ROUTES } from '../../src/server/dashboard/dashboard.ts';
import { OPENAPI_PATH } from '../../src/server/openapi.ts';
import { admin, body, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';

const PARAMS: Record<string, string> = { store: 's2', terminal: 't1', id: 'c1', code: 'GIFT-1' };
const fill = (url: string) => url.replace(/:(\w+)/g, (_, k: string) => PARAMS[k] ?? 'x');

t.test('every route refuses another store; revoked credentials get 401', async (t) => {
  const { app, storage } = await startCloud(t);
  const a = await setupStore(t, app, 's1', ['t1', 't2']);
  const b = await setupStore(t, app, 's2', ['t1']);
  const routes = routeTable(app);
  t.ok(routes.length >= 20, `route table has ${routes.length} routes`);
  const tokenA = a.tokens.t1!;

  for (const r of routes) {
    const url = fill(r.url);
    const res = await app.inject({
      method: r.method as 'GET', url, headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/json' },
      ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { payload: '{}' }),
    });
    if (r.auth === 'none') {
      // Public: /healthz, the OpenAPI document (no secret in it: openapi.test.ts) and the dashboard's sign-in,
      // page shell and files (its data needs the admin: dashboard.ts).
      t.ok(r.url === '/healthz' || r.url === OPENAPI_PATH || PUBLIC_DASHBOARD_ROUTES.some((p) => p.method === r.method && p.url === r.url), `${r.method} ${r.url} is one of the public routes`);
      continue;
    }
    if (r.auth === 'admin') {
      t.equal(res.statusCode, 403, `${r.method} ${url}: store A's terminal token refused`);
      t.equal(body(res)?.error?.code, 'FORBIDDEN');
    } else {
      // Terminal routes take store and terminal from the credential: they can only ever see store A.
      t.notOk(/:store/.test(r.url), `${r.method} ${r.url} has no store parameter`);
      t.not(res.statusCode >= 500, true, `${r.method} ${url}: no 5xx`);
    }
  }
  // Terminal routes answer with A's data only, and refuse B's events.
  const st = await app.inject({ method: 'GET', url: '/v1/sync-state', headers: { authorization: `Bearer ${tokenA}` } });
  t.equal(body(st).store, 's1');
  const feed = await app.inject({ method: 'GET', url: '/v1/feed', headers: { authorization: `Bearer ${tokenA}` } });
  t.ok(body(feed).changes.every((c: { type: string; body: { id?: string } }) => c.type !== 'item.upserted' || c.body.id === 'i1'));
  const logB = await terminalLog(t, 's2', 't1');
  const evB = await logB.append([sale()]);
  t.equal((await upload(app, tokenA, evB)).body.error.code, 'WRONG_TERMINAL');
  t.equal((await storage.getHighWater('s2', 't1')).seq, 0);

  // Revoke A's terminal: 401 on every authenticated route.
  t.equal((await admin(app, 'POST', '/v1/admin/stores/s1/terminals/t1/revoke')).status, 200);
  for (const r of routes) {
    if (r.auth === 'none') continue;
    const res = await app.inject({ method: r.method as 'GET', url: fill(r.url).replace('s2', 's1'), headers: { authorization: `Bearer ${tokenA}` } });
    t.equal(res.statusCode, 401, `${r.method} ${r.url}: revoked → 401`);
    t.equal(body(res)?.error?.code, 'CREDENTIAL_REVOKED');
  }
  // No token / unknown token: 401 UNAUTHORIZED.
  const none = await app.inject({ method: 'GET', url: '/v1/sync-state' });
  t.equal(body(none).error.code, 'UNAUTHORIZED');
  const unknown = await app.inject({ method: 'GET', url: '/v1/admin/stores', headers: { authorization: 'Bearer tsk_unknown-token-123' } });
  t.equal(body(unknown).error.code, 'UNAUTHORIZED');
  t.ok(b.tokens.t1, 'store B intact');
});

t.test('a re-enrolled terminal uploads what it sold while revoked', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  t.equal((await upload(app, tokens.t1!, await log.append([sale()]))).body.ackSeq, 1);
  await admin(app, 'POST', '/v1/admin/stores/s1/terminals/t1/revoke');
  const offline = await log.append([sale(200), sale(300)]);
  t.equal((await upload(app, tokens.t1!, offline)).status, 401);
  const re = await admin(app, 'POST', '/v1/admin/stores/s1/terminals/t1/token');
  t.equal(re.status, 201);
  const r = await upload(app, re.body.token, offline);
  t.same(r.body, { ackSeq: 3, accepted: 2, duplicates: 0, quarantined: 0, conflicts: [] });
  t.equal((await upload(app, tokens.t1!, offline)).body.error.code, 'CREDENTIAL_REVOKED', 'the old token stays revoked');
});
