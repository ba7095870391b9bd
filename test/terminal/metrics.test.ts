// The agent's GET /api/metrics through a real agent and cloud on loopback: a signed-in caller only,
// unsynced sales and their amount while in local mode, cleared once uploaded; store and terminal labels.
import t from 'tap';
import type { AgentStatus } from '../../src/terminal/agent.ts';
import { agentHeaders, api, smallEnvironment, until } from '../helpers/env.ts';
import { parseExposition, sampleValue, type Sample } from '../helpers/prometheus.ts';

t.test('metrics: unsynced sales and amount in local mode, zero once uploaded; signed-in callers only', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  await until('catalog downloaded', () => agent.terminal.searchItems('cola').length === 1);
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${agent.url}/api/metrics`, { headers: agentHeaders(agent) });
    if (res.status !== 200) throw new Error(`GET /api/metrics answered ${res.status}`);
    if (!res.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`content-type ${res.headers.get('content-type')}`);
    return parseExposition(await res.text());
  };

  const anonymous = await fetch(`${agent.url}/api/metrics`);
  t.equal(anonymous.status, 401);
  t.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'AUTH_REQUIRED');
  const foreign = await fetch(`${agent.url}/api/metrics`, { headers: { ...agentHeaders(agent), origin: 'http://evil.example' } });
  t.equal(((await foreign.json()) as { error: { code: string } }).error.code, 'BAD_ORIGIN', 'a page of another origin cannot read it');

  t.equal((await api(agent, 'POST', '/api/local-mode', { on: true })).status, 200);
  const totals: number[] = [];
  for (const qty of [1, 3]) {
    const r = await api<{ total: number }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty }], payments: [{ tender: 'cash', tendered: 1_000 }] });
    t.equal(r.status, 201);
    totals.push(r.body.total);
  }
  const expectedAmount = totals[0]! + totals[1]!;
  t.ok(expectedAmount > 0);
  const labels = { store: 'store-1', terminal: 'till-1' };
  const held = await until('both sales counted', async () => {
    const m = await scrape();
    return sampleValue(m, 'tillsync_terminal_unsynced_sales', labels) === 2 ? m : undefined;
  });
  t.equal(sampleValue(held, 'tillsync_terminal_unsynced_amount_cents', labels), expectedAmount, 'the amount not yet uploaded, in cents');
  t.ok((sampleValue(held, 'tillsync_terminal_oldest_unsynced_sale_age_seconds', labels) ?? -1) >= 0, 'the oldest sale has an age');
  t.ok((sampleValue(held, 'tillsync_terminal_pending_events', labels) ?? 0) >= 4, 'each sale and its payment pending');
  t.equal(sampleValue(held, 'tillsync_terminal_connection_state', { ...labels, state: 'local' }), 1);
  t.equal(sampleValue(held, 'tillsync_terminal_connection_state', { ...labels, state: 'online' }), 0);
  t.equal(sampleValue(held, 'tillsync_terminal_log_healthy', labels), 1);
  t.equal(sampleValue(held, 'tillsync_terminal_http_requests_total', { ...labels, method: 'POST', route: '/api/sales', status: '201' }), 2);
  t.ok(held.some((s) => s.name === 'nodejs_eventloop_lag_seconds'), 'process metrics come with them');

  t.equal((await api(agent, 'POST', '/api/local-mode', { on: false })).status, 200);
  const synced = await until('the sales uploaded', async () => {
    const m = await scrape();
    return sampleValue(m, 'tillsync_terminal_unsynced_sales', labels) === 0 ? m : undefined;
  });
  const status = (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  t.equal(sampleValue(synced, 'tillsync_terminal_unsynced_amount_cents', labels), 0);
  t.equal(sampleValue(synced, 'tillsync_terminal_oldest_unsynced_sale_age_seconds', labels), 0, 'no age when no sale is held');
  t.equal(sampleValue(synced, 'tillsync_terminal_uploaded_seq', labels), status.log.head, 'everything acknowledged');
  t.equal(sampleValue(synced, 'tillsync_terminal_pending_events', labels), 0);
});

t.test('the agent logs each request with its id, as the cloud does; no token or PIN reaches the log', async (t) => {
  const lines: string[] = [];
  const stream = { write: (l: string) => { lines.push(...l.split('\n').filter(Boolean)); } };
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'], logging: { level: 'info', stream } });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const res = await fetch(`${agent.url}/api/status`, { headers: agentHeaders(agent) });
  t.equal(res.status, 200);
  const id = res.headers.get('x-request-id');
  t.ok(id, 'the answer names its request');
  const parsed = lines.map((l) => JSON.parse(l) as { name?: string; reqId?: string; req?: { url?: string } });
  t.ok(parsed.some((l) => l.name === 'terminal' && l.reqId === id && l.req?.url === '/api/status'), 'the request is logged by the agent with that id');
  t.ok(parsed.some((l) => l.name === 'cloud'), 'the cloud of the environment logs too');
  const token = agentHeaders(agent).authorization!.replace(/^Bearer /, '');
  t.notOk(lines.some((l) => l.includes(token)), 'no pairing token logged');
});
