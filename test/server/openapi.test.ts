/**
 * The cloud's OpenAPI document (GET /v1/openapi.json): served without a
 * credential, an OpenAPI 3 document that lists every route of the JSON API
 * (compared with fastify's own route list, so a route added without a schema
 * fails here: only a schema gives an operation its summary), holds no secret,
 * and the schemas it shows are the ones enforced: a request that breaks one is
 * refused with the error contract's code, in JSON or msgpack, and changes nothing.
 */
import t from 'tap';
import { decode, encode } from '@msgpack/msgpack';
import { routeTable } from '../../src/server/app.ts';
import { ADMIN, admin, body, get, MSGPACK, setupStore, startCloud } from './harness.ts';

interface Operation { summary?: string; security?: unknown; requestBody?: unknown; parameters?: Array<{ name: string; in: string }> }
interface OpenApiDoc { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components?: { securitySchemes?: Record<string, unknown> } }

const isApi = (url: string) => url.startsWith('/v1/') || url === '/healthz' || url === '/metrics';
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

t.test('the document is served, is OpenAPI 3, and lists every JSON route with its schema', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app, 's1', ['t1']);

  const res = await app.inject({ method: 'GET', url: '/v1/openapi.json' });
  t.equal(res.statusCode, 200, 'open: no credential needed');
  t.match(String(res.headers['content-type']), /^application\/json/);
  const doc = JSON.parse(res.payload) as OpenApiDoc;
  t.match(doc.openapi, /^3\.\d+\.\d+$/, 'an OpenAPI 3 document');
  t.equal(typeof doc.info.title, 'string');
  t.equal(typeof doc.info.version, 'string');
  t.same(Object.keys(doc.components?.securitySchemes ?? {}).sort(), ['admin', 'dashboardSession', 'terminal']);
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      t.ok(METHODS.includes(method), `${method} ${path} is an HTTP method`);
      t.ok((op as { responses?: unknown }).responses, `${method} ${path} has responses`);
    }
  }

  // Every JSON route fastify has is in the document, with a summary (which only a route schema gives) ...
  const routes = routeTable(app).filter((r) => isApi(r.url));
  t.ok(routes.length >= 30, `the cloud has its JSON routes (${routes.length})`);
  for (const r of routes) {
    const op = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()];
    t.ok(op?.summary, `${r.method} ${r.url} is documented from its schema`);
    if (r.auth === 'none') t.notOk(op?.security, `${r.method} ${r.url}: open`);
    else t.ok(op?.security, `${r.method} ${r.url}: names its security (${r.auth})`);
  }
  // ... and the document lists nothing else (no page, no stale route).
  const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
  t.same(listed, routes.map((r) => `${r.method} ${openApiPath(r.url)}`).sort(), 'the document is exactly the route list');

  // Inputs come from the zod schemas the routes validate with.
  const create = doc.paths['/v1/admin/stores']!.post!;
  t.ok(create.requestBody, 'POST /v1/admin/stores documents its body');
  t.same(doc.paths['/v1/feed']!.get!.parameters?.map((p) => `${p.in}:${p.name}`).sort(), ['query:limit', 'query:since']);

  // No secret: no token of this cloud, no store data.
  for (const secret of [ADMIN, tokens.t1!]) t.notOk(res.payload.includes(secret), 'no credential in the document');
  t.notOk(res.payload.includes('Store s1'), 'no store data in the document');
});

t.test('a request that breaks a schema is refused with the contract code and changes nothing', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app, 's1', ['t1']);
  const stores = (await admin(app, 'GET', '/v1/admin/stores')).body;

  // A body field of the wrong type (JSON): VALIDATION_FAILED naming the field, nothing created.
  const bad = await admin(app, 'POST', '/v1/admin/stores', { id: 's2', name: 5, currency: 'EUR' });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'VALIDATION_FAILED');
  t.equal(bad.body.error.details.path, 'body.name');
  t.equal(bad.res.headers['content-type'], 'application/json; charset=utf-8', 'the contract body, not fastify\'s');
  t.same((await admin(app, 'GET', '/v1/admin/stores')).body, stores, 'no store was created');

  // The same in msgpack: the refusal is answered in msgpack, like any answer to a msgpack request.
  const packed = await app.inject({
    method: 'POST', url: '/v1/admin/stores/s1/vouchers',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': MSGPACK },
    payload: Buffer.from(encode({ code: 'GIFT-2', amount: 'lots' })),
  });
  t.equal(packed.statusCode, 400);
  t.equal(String(packed.headers['content-type']), MSGPACK);
  t.equal((decode(packed.rawPayload) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/vouchers/GIFT-2')).body.error.code, 'VOUCHER_NOT_FOUND', 'no voucher was issued');

  // An unknown field: UNKNOWN_FIELD, as before the schemas moved to the routes.
  const extra = await admin(app, 'PATCH', '/v1/admin/stores/s1/settings', { currency: 'USD', colour: 'red' });
  t.equal(extra.body.error.code, 'UNKNOWN_FIELD');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1')).body.settings.currency, 'EUR', 'settings unchanged');

  // Query and path parameters of terminal routes, in msgpack and JSON alike.
  const feed = await get(app, tokens.t1!, '/v1/feed?since=abc');
  t.equal(feed.status, 400);
  t.equal(feed.body.error.code, 'VALIDATION_FAILED');
  t.equal(feed.body.error.details.path, 'query.since');
  t.equal((await get(app, tokens.t1!, '/v1/sync-state?x=1')).body.error.code, 'UNKNOWN_FIELD');
  const check = await app.inject({
    method: 'POST', url: '/v1/events/check',
    headers: { authorization: `Bearer ${tokens.t1}`, 'content-type': MSGPACK },
    payload: Buffer.from(encode({ v: 1, events: [{ seq: 0, id: 'x', hash: 'y' }] })),
  });
  t.equal((body(check) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s%24/terminals')).body.error.code, 'VALIDATION_FAILED', 'a bad path parameter');

  // Auth still comes first: an unauthenticated bad request is UNAUTHORIZED, its input never looked at.
  const anon = await app.inject({ method: 'POST', url: '/v1/admin/stores', headers: { 'content-type': 'application/json' }, payload: '{"name":5}' });
  t.equal(JSON.parse(anon.payload).error.code, 'UNAUTHORIZED');
});
