/**
 * Issue 21.2: a full resync never harms a healthy till. Through the agent API,
 * with a real cloud behind a forwarder that can refuse routes (CloudGate):
 * - cloud down, nothing pending → CLOUD_UNREACHABLE, catalog intact, also after a restart;
 * - local mode on, nothing pending → LOCAL_MODE, catalog intact, sales go on;
 * - the resync's cloud routes refused while sellers keep selling → refused, no sale refused;
 * - the cloud goes away after the checks, during the download → the old catalog
 *   keeps serving, the status shows the resync waiting (resyncInProgress), and the
 *   next resync finishes it with data equal to the cloud's.
 * (Before the fix the views were wiped first and every sale then failed ITEM_NOT_FOUND.)
 */
import t, { type Test } from 'tap';
import { storeDigest } from '../../src/server/store-digest.ts';
import { TerminalAgent, type AgentStatus } from '../../src/terminal/agent.ts';
import { localDigest, RESYNC_META_KEY } from '../../src/terminal/full-resync.ts';
import { api, until } from '../helpers/env.ts';
import { gatedTerminal } from './helpers/cloud-gate.ts';

type Err = { error: { code: string } };

async function setup(t: Test) {
  const { env, gate, opts } = await gatedTerminal(t, t.testdir());
  const box: { agent: TerminalAgent } = { agent: await TerminalAgent.start(opts) };
  t.teardown(() => box.agent.stop());
  const restart = async () => {
    await box.agent.stop();
    box.agent = await TerminalAgent.start(opts);
  };
  await until('catalog downloaded', () => box.agent.terminal.views.views.items.size === 5 && box.agent.status().sync.pending === 0);
  return { env, gate, box, restart };
}

function catalogOf(agent: TerminalAgent) {
  const d = localDigest(agent.terminal.views);
  return { items: d.items, customers: d.customers, balances: d.balances.count, vouchers: d.vouchers.count };
}

async function sell(agent: TerminalAgent): Promise<{ status: number; code?: string }> {
  const r = await api<Err>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  return r.status === 201 ? { status: 201 } : { status: r.status, code: r.body.error.code };
}

/** Sellers posting sales until stopped; every refusal is kept. */
function sellers(t: Test, agentOf: () => TerminalAgent, n = 4) {
  let stop = false;
  let sold = 0;
  const refused: string[] = [];
  const loops = Array.from({ length: n }, async () => {
    while (!stop) {
      const r = await sell(agentOf());
      if (r.status === 201) sold++;
      else refused.push(r.code ?? String(r.status));
    }
  });
  // A failed wait must not leave the loops running past the test.
  t.teardown(async () => { stop = true; await Promise.all(loops); });
  return {
    get sold() { return sold; },
    refused,
    async stop() { stop = true; await Promise.all(loops); },
  };
}

t.test('cloud down, nothing pending: refused before anything is touched; catalog intact across a restart', async (t) => {
  const { gate, box, restart } = await setup(t);
  const before = catalogOf(box.agent);
  gate.setDown(true);
  const r = await api<Err>(box.agent, 'POST', '/api/resync/full', {});
  t.equal(r.body.error.code, 'CLOUD_UNREACHABLE');
  t.same(catalogOf(box.agent), before, 'items, customers and balances untouched');
  t.equal(await box.agent.terminal.log.readMeta(RESYNC_META_KEY), undefined, 'no resync marker left behind');
  t.equal(box.agent.status().resyncInProgress, false);
  const load = sellers(t, () => box.agent);
  await until('sales go on with the cloud down', () => load.sold >= 50);
  await load.stop();
  t.same(load.refused, [], 'no sale refused');
  await restart();
  t.same(catalogOf(box.agent), before, 'catalog intact after a restart');
  t.equal((await sell(box.agent)).status, 201, 'sells after the restart');
});

t.test('local mode on, nothing pending: LOCAL_MODE, catalog intact, sales go on', async (t) => {
  const { box, restart } = await setup(t);
  const before = catalogOf(box.agent);
  await api(box.agent, 'POST', '/api/local-mode', { on: true });
  const r = await api<Err>(box.agent, 'POST', '/api/resync/full', {});
  t.equal(r.body.error.code, 'LOCAL_MODE');
  t.same(catalogOf(box.agent), before, 'catalog untouched');
  const load = sellers(t, () => box.agent);
  await until('sales go on in local mode', () => load.sold >= 50);
  // A resync asked while local-mode sales are pending is refused too, and changes nothing.
  const again = await api<Err>(box.agent, 'POST', '/api/resync/full', {});
  t.ok(['UNSYNCED_EVENTS', 'LOCAL_MODE'].includes(again.body.error.code), `refused (${again.body.error.code})`);
  await load.stop();
  t.same(load.refused, [], 'no sale refused');
  t.same(catalogOf(box.agent), before, 'catalog untouched');
  await restart();
  t.same(catalogOf(box.agent), before, 'catalog intact after a restart');
});

t.test('the resync\'s cloud routes refused while sellers keep selling: refused, no sale refused', async (t) => {
  const { gate, box } = await setup(t);
  const before = catalogOf(box.agent);
  const load = sellers(t, () => box.agent);
  await until('sales flowing', () => load.sold >= 20);
  gate.refuse.add('/v1/digest');
  gate.refuse.add('/v1/feed');
  const r = await api<Err>(box.agent, 'POST', '/api/resync/full', {});
  t.ok(['CLOUD_UNREACHABLE', 'UNSYNCED_EVENTS'].includes(r.body.error.code), `refused (${r.body.error.code})`);
  const sold = load.sold;
  await until('sales go on after the refusal', () => load.sold >= sold + 30);
  await load.stop();
  t.same(load.refused, [], 'no sale refused');
  t.same(catalogOf(box.agent), before, 'catalog untouched');
});

t.test('a revoked terminal: the full resync is refused with CREDENTIAL_REVOKED (the cloud\'s code, not a bad answer), catalog untouched', async (t) => {
  const { env, box } = await setup(t);
  const before = catalogOf(box.agent);
  await env.admin('POST', '/v1/admin/stores/store-1/terminals/till-1/revoke', {});
  const r = await api<Err>(box.agent, 'POST', '/api/resync/full', {});
  t.equal(r.body.error.code, 'CREDENTIAL_REVOKED');
  t.equal(r.status, 401);
  t.same(catalogOf(box.agent), before, 'catalog untouched');
});

t.test('the cloud goes away during the download: old data serves, status shows the waiting resync, the next one finishes', async (t) => {
  const { env, gate, box } = await setup(t);
  const before = catalogOf(box.agent);
  gate.refuse.add('/v1/feed'); // the checks pass (digest answers); the download then fails
  const r = await api<Err>(box.agent, 'POST', '/api/resync/full', {});
  t.equal(r.body.error.code, 'CLOUD_UNREACHABLE');
  t.ok(gate.refused > 0, 'the download was refused');
  t.same(catalogOf(box.agent), before, 'old catalog still there');
  let s = (await api<AgentStatus>(box.agent, 'GET', '/api/status')).body;
  t.equal(s.resyncInProgress, true, 'the status shows a resync waiting to finish');
  t.equal(s.lastOperation?.name, 'full-resync');
  t.equal(s.lastOperation?.ok, false);
  t.equal((await sell(box.agent)).status, 201, 'sells meanwhile');
  // The cloud is back: the next resync carries on and finishes.
  gate.refuse.clear();
  const done = await api<{ digest: { items: { count: number } } }>(box.agent, 'POST', '/api/resync/full', {});
  t.equal(done.status, 200);
  t.equal(done.body.digest.items.count, 5);
  s = (await api<AgentStatus>(box.agent, 'GET', '/api/status')).body;
  t.equal(s.resyncInProgress, false);
  t.equal(await box.agent.terminal.log.readMeta(RESYNC_META_KEY), undefined, 'marker cleared');
  t.same(localDigest(box.agent.terminal.views), (await storeDigest(env.storage, 'store-1')).digest, 'views equal the cloud');
  t.equal((await sell(box.agent)).status, 201);
});

t.test('a resync left waiting resumes at start and keeps retrying until the cloud is back, by itself', async (t) => {
  const { env, gate, box, restart } = await setup(t);
  const before = catalogOf(box.agent);
  gate.refuse.add('/v1/feed');
  t.equal((await api<Err>(box.agent, 'POST', '/api/resync/full', {})).body.error.code, 'CLOUD_UNREACHABLE');
  // Across a restart (the resume at start fails too: the feed is still refused).
  await restart();
  const first = await until('resume at start attempted', () => {
    const last = box.agent.status().lastOperation;
    return last?.name === 'full-resync' ? last : undefined;
  });
  let s = (await api<AgentStatus>(box.agent, 'GET', '/api/status')).body;
  t.equal(s.resyncInProgress, true, 'still shown after a restart');
  t.same(catalogOf(box.agent), before, 'old catalog still there after a restart');
  await until('the resume tried again while the cloud was away', () => {
    const last = box.agent.status().lastOperation;
    return last?.name === 'full-resync' && last.ok === false && last.at > first.at;
  });
  t.equal((await sell(box.agent)).status, 201, 'sells while the resume waits');
  // The cloud is back: nobody asks, the waiting resync finishes by itself.
  gate.refuse.clear();
  await until('the waiting resync finished by itself', () => {
    const now = box.agent.status();
    return !now.resyncInProgress && now.operation === null;
  });
  s = (await api<AgentStatus>(box.agent, 'GET', '/api/status')).body;
  t.equal(s.lastOperation?.name, 'full-resync');
  t.equal(s.lastOperation?.ok, true, 'the resumed resync ended well');
  t.equal(await box.agent.terminal.log.readMeta(RESYNC_META_KEY), undefined, 'marker cleared');
  t.same(localDigest(box.agent.terminal.views), (await storeDigest(env.storage, 'store-1')).digest, 'views equal the cloud');
  t.equal((await sell(box.agent)).status, 201);
});

t.test('progress: a full resync reports download, verify and switch; a cleanup reports real counts per phase', async (t) => {
  const { box } = await setup(t);
  const agent = box.agent;
  // Every status change the agent pushes to its stream, as the status reads at that moment.
  const seen: Array<{ name: string; phase: string; done: number; total: number }> = [];
  const changed = agent.stream.changed.bind(agent.stream);
  agent.stream.changed = () => {
    const op = agent.status().operation;
    if (op) seen.push({ name: op.name, phase: op.phase, done: op.done, total: op.total });
    changed();
  };
  for (let i = 0; i < 5; i++) t.equal((await sell(agent)).status, 201);
  await until('sales uploaded', () => agent.status().sync.pending === 0);
  t.equal((await api(agent, 'POST', '/api/resync/full', {})).status, 200);
  const resync = seen.filter((s) => s.name === 'full-resync');
  t.same([...new Set(resync.map((s) => s.phase))].filter((p) => p !== 'full-resync'), ['download', 'verify', 'switch'], 'phases in order');
  t.ok(resync.some((s) => s.phase === 'download' && s.total > 0 && s.done === s.total), 'download counts to the cloud head');
  t.ok(resync.some((s) => s.phase === 'switch' && s.total > 0), 'switch has a total');

  const r = await api<{ events: number }>(agent, 'POST', '/api/cleanup', { olderThanDays: 0 });
  t.equal(r.status, 200);
  t.equal(r.body.events, 10, 'the five acknowledged sales (sale + payment each) were cut');
  const clean = seen.filter((s) => s.name === 'cleanup');
  t.same([...new Set(clean.map((s) => s.phase))].filter((p) => p !== 'cleanup'), ['scanning', 'snapshot', 'removing', 'compacting']);
  t.ok(clean.some((s) => s.phase === 'scanning' && s.total === 10 && s.done === 10), 'scanning counts the retained events');
  t.ok(clean.some((s) => s.phase === 'removing' && s.total === 10 && s.done === 10), 'removing counts the deleted records');
});
