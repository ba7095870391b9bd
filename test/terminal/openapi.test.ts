/**
 * The agent's OpenAPI document (GET /api/openapi.json), through its real HTTP
 * server (a real cloud on loopback behind it): behind the agent's Host and
 * Origin checks and its auth like every /api route; an OpenAPI 3 document
 * listing every /api route fastify has (so a route added without a schema
 * fails here: only a schema gives an operation its summary); no secret in it;
 * and a request that breaks a route's schema is refused with VALIDATION_FAILED
 * and changes nothing (the log's head, the views, the status).
 */
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { recordedRoutes } from '../../src/http/error-contract.ts';
import { PERMISSIONS } from '../../src/terminal/permissions.ts';
import { api, pairingToken, smallEnvironment, until } from '../helpers/env.ts';

interface Operation { summary?: string; requestBody?: unknown; parameters?: Array<{ name: string; in: string }> }
interface OpenApiDoc { openapi: string; info: { title: string }; security?: unknown[]; paths: Record<string, Record<string, Operation>> }
type Failure = { error: { code: string; details?: { path?: string } } };

const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path} within 10 s`)));
    req.end();
  });
}

t.test('the agent serves its OpenAPI document behind its own checks', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const host = `127.0.0.1:${agent.port}`;
  const token = pairingToken(agent);

  t.equal((await api<Failure>(agent.url, 'GET', '/api/openapi.json')).body.error.code, 'AUTH_REQUIRED', 'no caller: refused');
  const foreign = await rawGet(agent.port, '/api/openapi.json', { host: 'evil.example', authorization: `Bearer ${token}` });
  t.equal((JSON.parse(foreign.body) as Failure).error.code, 'BAD_HOST', 'a foreign Host: refused');
  const crossOrigin = await rawGet(agent.port, '/api/openapi.json', { host, origin: 'http://evil.example', authorization: `Bearer ${token}` });
  t.equal((JSON.parse(crossOrigin.body) as Failure).error.code, 'BAD_ORIGIN', 'a foreign Origin: refused');
  t.equal(PERMISSIONS['GET /api/openapi.json']?.role, 'cashier', 'any signed-in role may read it');

  const res = await api<OpenApiDoc>(agent, 'GET', '/api/openapi.json');
  t.equal(res.status, 200);
  const doc = res.body;
  t.match(doc.openapi, /^3\.\d+\.\d+$/, 'an OpenAPI 3 document');
  t.ok(doc.security && doc.security.length > 0, 'names how to authenticate');

  // Every /api route fastify has is in the document with a summary, and nothing else is.
  const routes = recordedRoutes(agent.app).filter((r) => r.url.startsWith('/api/'));
  t.ok(routes.length >= 45, `the agent has its /api routes (${routes.length})`);
  for (const r of routes) t.ok(doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()]?.summary, `${r.method} ${r.url} is documented from its schema`);
  const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
  t.same(listed, routes.map((r) => `${r.method} ${openApiPath(r.url)}`).sort(), 'the document is exactly the /api route list (no page)');
  t.ok(doc.paths['/api/sales']?.post?.requestBody, 'POST /api/sales documents its body (sale-input.ts)');
  t.same(doc.paths['/api/sales/{id}/refund']?.post?.parameters?.map((p) => `${p.in}:${p.name}`), ['path:id']);

  const text = JSON.stringify(doc);
  t.notOk(text.includes(token), 'no pairing token in the document');
  t.notOk(text.includes('store-1') || text.includes('till-1'), 'nothing of this till in the document');
});

t.test('a request that breaks a route schema is refused with VALIDATION_FAILED and changes nothing', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  await until('catalog downloaded', () => agent.terminal.searchItems('cola').length === 1);
  const head = agent.terminal.log.head.seq;
  const digest = await agent.terminal.views.digest();
  const localMode = agent.status().sync.connection.state;

  const cases: Array<[string, 'GET' | 'POST', string, unknown, string, string]> = [
    ['a sale with a text quantity', 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 'two' }], payments: [{ tender: 'cash', tendered: 500 }] }, 'VALIDATION_FAILED', 'body.lines.0.qty'],
    ['a sale with an unknown field', 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 500 }], tip: 5 }, 'UNKNOWN_FIELD', 'body'],
    ['a voucher redeem without an amount', 'POST', '/api/vouchers/GV-TEST-0001/redeem', {}, 'VALIDATION_FAILED', 'body.amount'],
    ['local mode with a text flag', 'POST', '/api/local-mode', { on: 'yes' }, 'VALIDATION_FAILED', 'body.on'],
    ['a cleanup of negative days', 'POST', '/api/cleanup', { olderThanDays: -1 }, 'VALIDATION_FAILED', 'body.olderThanDays'],
    ['a search with a bad limit', 'GET', '/api/items?q=cola&limit=abc', undefined, 'VALIDATION_FAILED', 'query.limit'],
    ['a sale id that is not one', 'GET', '/api/sales/not-a-ulid', undefined, 'VALIDATION_FAILED', 'params.id'],
  ];
  for (const [name, method, path, body, code, field] of cases) {
    const r = await api<Failure>(agent, method, path, body);
    t.equal(r.status, 400, `${name}: 400`);
    t.equal(r.body.error.code, code, `${name}: ${code}`);
    t.equal(r.body.error.details?.path, field, `${name}: names ${field}`);
  }
  t.equal(agent.terminal.log.head.seq, head, 'nothing appended to the log');
  t.same(await agent.terminal.views.digest(), digest, 'views unchanged');
  t.equal(agent.status().sync.connection.state, localMode, 'local mode unchanged');
  t.equal((await api<{ balance: number }>(agent, 'GET', '/api/vouchers/GV-TEST-0001')).body.balance, 2_500, 'voucher unchanged');
});
