/**
 * Every Sync Manager operation through the real terminal agent over HTTP, with
 * a real cloud on loopback: status, local mode, sync up/down, restore, force
 * resync (dry run + real), cleanup, audit, replay, and the POS routes' errors.
 */
import t from 'tap';
import type { AgentStatus } from '../../src/terminal/agent.ts';
import { agentHeaders, api, smallEnvironment, until } from '../helpers/env.ts';

t.test('agent operations end to end', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const [agent] = env.agents;
  const base = agent!;
  const status = async () => (await api<AgentStatus>(base, 'GET', '/api/status')).body;

  await until('catalog downloaded', async () => (await api<{ items: unknown[] }>(base, 'GET', '/api/items?q=cola')).body.items.length === 1);
  t.equal((await api<{ item: { id: string } }>(base, 'GET', '/api/items/scan/4006381333931')).body.item.id, 'itm-cafe');
  const miss = await api<{ error: { code: string } }>(base, 'GET', '/api/items/scan/999999');
  t.equal(miss.status, 404);
  t.equal(miss.body.error.code, 'ITEM_NOT_FOUND');
  t.equal((await api<{ balance: number }>(base, 'GET', '/api/customers/cus-ana')).body.balance, 10_000, 'opening balance arrived from the cloud');

  // Local mode: no network; a sale stays pending.
  const lm = await api<AgentStatus>(base, 'POST', '/api/local-mode', { on: true, hours: 2 });
  t.equal(lm.body.sync.connection.state, 'local');
  const sale = await api<{ sale: string; total: number }>(base, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'cash', tendered: 500 }] });
  t.equal(sale.status, 201);
  t.equal((await status()).sync.pending, 2);
  // In store terms: one sale and its total, the oldest's age (the events behind it are sync.pending).
  const unsynced = await until('the sale counted', async () => {
    const u = (await status()).unsynced;
    return u.sales === 1 ? u : undefined;
  });
  t.equal(unsynced.amount, sale.body.total, 'its total in cents');
  t.ok(unsynced.oldest !== null && unsynced.oldestAgeMs !== null && unsynced.oldestAgeMs >= 0, 'the oldest one is dated');
  const refused = await api<{ error: { code: string } }>(base, 'POST', '/api/resync/force', { dryRun: true });
  t.equal(refused.body.error.code, 'LOCAL_MODE', 'no cloud calls in local mode');
  await api(base, 'POST', '/api/local-mode', { on: false });
  await until('pending uploaded after local mode ends', async () => (await status()).sync.pending === 0);
  t.equal((await status()).sync.uploaded, 2);
  t.same((await status()).unsynced, { sales: 0, amount: 0, oldest: null, oldestAgeMs: null }, 'nothing left to upload');

  // Sync up / down report what moved.
  await api(base, 'POST', '/api/sales', { lines: [{ item: 'itm-cafe', qty: 1 }], payments: [{ tender: 'cash', tendered: 500 }] });
  const up = await api<{ uploaded: number }>(base, 'POST', '/api/sync/up');
  t.equal(up.status, 200);
  t.ok(up.body.uploaded >= 0);
  await until('second sale uploaded', async () => (await status()).sync.pending === 0);
  await env.admin('POST', '/v1/admin/stores/store-1/items', [{ id: 'itm-new', sku: 'NEW-1', name: 'Brand new thing', barcodes: ['4006381333979'], price: 100, taxRate: 0 }]);
  const down = await api<{ changes: number }>(base, 'POST', '/api/sync/down');
  t.equal(down.status, 200);
  await until('new item searchable', async () => (await api<{ items: Array<{ id: string }> }>(base, 'GET', '/api/items?q=brand')).body.items[0]?.id === 'itm-new');

  // Restore restarts both directions.
  const restored = await api<AgentStatus>(base, 'POST', '/api/restore');
  t.equal(restored.status, 200);
  t.ok(restored.body.sync.restarts >= 1);

  // Force resync: dry run, then real run; the cloud skips what it has.
  const dry = await api<{ total: number; have: number; lack: number; different: number }>(base, 'POST', '/api/resync/force', { dryRun: true });
  t.same({ ...dry.body, differentSeqs: undefined }, { total: 4, have: 4, lack: 0, different: 0, differentSeqs: undefined });
  const force = await api<{ uploaded: number; skipped: number }>(base, 'POST', '/api/resync/force', { dryRun: false });
  t.equal(force.body.uploaded, 0);
  t.equal(force.body.skipped, 4);

  // Audit and replay.
  const audit = await api<{ ok: boolean; events: number }>(base, 'POST', '/api/audit');
  t.equal(audit.body.ok, true);
  t.equal(audit.body.events, 4);
  const replay = await fetch(`${base.url}/api/replay?from=2`, { headers: agentHeaders(base) }).then((r) => r.text());
  const lines = replay.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string });
  t.same(lines.map((l) => l.seq), [2, 3, 4]);
  t.equal(lines[1]!.type, 'sale.completed');

  // Cleanup: everything is acknowledged but young: nothing goes; with 0 days, all goes.
  const keep = await api<{ events: number }>(base, 'POST', '/api/cleanup', { olderThanDays: 30 });
  t.equal(keep.body.events, 0);
  const all = await api<{ events: number; bytesBefore: number }>(base, 'POST', '/api/cleanup', { olderThanDays: 0 });
  t.equal(all.body.events, 4);
  t.equal((await status()).log.base, 4);
  t.equal((await api<{ items: unknown[] }>(base, 'GET', '/api/items?q=cola')).body.items.length, 1, 'search still works');

  // Bad input on operations: stable codes, nothing changes.
  const bad = await api<{ error: { code: string } }>(base, 'POST', '/api/cleanup', { olderThanDays: -1 });
  t.equal(bad.status, 400);
  t.equal((await api<{ error: { code: string } }>(base, 'POST', '/api/local-mode', { on: 'yes' })).body.error.code, 'VALIDATION_FAILED');
  t.equal((await api<{ error: { code: string } }>(base, 'POST', '/api/local-mode', { on: true, hours: 0.05 })).body.error.code, 'VALIDATION_FAILED', 'the page\'s range: 0.1 to 336 hours');
  t.equal((await api<{ error: { code: string } }>(base, 'POST', '/api/local-mode', { on: true, hours: 337 })).body.error.code, 'VALIDATION_FAILED');
  const icon = await fetch(`${base.url}/favicon.svg`);
  t.equal(icon.status, 200, 'the pages have a favicon');
  t.match(icon.headers.get('content-type'), /^image\/svg\+xml/);
  t.equal((await api<{ error: { code: string } }>(base, 'POST', '/api/resync/force', { dryRun: true, extra: 1 })).body.error.code, 'UNKNOWN_FIELD');
  const notFound = await api<{ error: { code: string } }>(base, 'GET', '/api/nothing');
  t.equal(notFound.body.error.code, 'NOT_FOUND');
  const malformed = await fetch(`${base.url}/api/sales`, { method: 'POST', headers: { 'content-type': 'application/json', ...agentHeaders(base) }, body: '{"lines":' });
  t.equal(malformed.status, 400);
  t.equal(((await malformed.json()) as { error: { code: string } }).error.code, 'JSON_MALFORMED');
});

t.test('operations are one at a time', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  let release: (() => void) | undefined;
  const running = agent.run('audit', () => new Promise<void>((r) => { release = r; }));
  // Refused from the moment it is claimed, before its journal entry is on disk...
  await t.rejects(agent.cleanup({ olderThanDays: 1 }), { code: 'OPERATION_IN_PROGRESS' });
  await until('the audit started', async () => release !== undefined, 30_000);
  // ...and while it runs.
  await t.rejects(agent.cleanup({ olderThanDays: 1 }), { code: 'OPERATION_IN_PROGRESS' });
  release!();
  await running;
});
