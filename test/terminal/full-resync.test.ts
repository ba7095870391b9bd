/**
 * F7 full data resync: refuses (and changes nothing) while unsynced sales
 * cannot reach the cloud; uploads first, rebuilds and verifies when it can; the
 * override exports the unsynced events to a file; and SIGKILL at random points
 * of a resync (real child process) always ends, on the next start, in a
 * complete store verified against the cloud with no sale lost.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { createRng, seedFromEnv } from '../../src/fixtures/prng.ts';
import { startEnvironment } from '../../src/cli/demo-env.ts';
import { encodeCanonical } from '../../src/events/codec.ts';
import { seqKey } from '../../src/events/level-util.ts';
import { storeDigest } from '../../src/server/store-digest.ts';
import { readAgentConfig, writeAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import { localDigest, RESYNC_META_KEY } from '../../src/terminal/full-resync.ts';
import { Terminal } from '../../src/terminal/terminal.ts';
import { agentHeaders, api, smallEnvironment, until } from '../helpers/env.ts';
import { dumpDb } from '../helpers/small-store.ts';
import { exitWithin, within, WAIT_MS } from '../helpers/wait.ts';

t.test('refuses while unsynced sales cannot be uploaded; changes nothing', async (t) => {
  // One testdir() call: a second one empties the folder, the agent's data (and pairing token) with it.
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  await until('catalog', () => agent.terminal.searchItems('cola').length === 1);
  await agent.setLocalMode({ on: true });
  await agent.terminal.completeSale({ lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  const before = await dumpDb(agent.terminal);
  const r = await api<{ error: { code: string; details: { pending: number } } }>(agent, 'POST', '/api/resync/full', {});
  t.equal(r.status, 409);
  t.equal(r.body.error.code, 'UNSYNCED_EVENTS');
  t.equal(r.body.error.details.pending, 2);
  t.same([...(await dumpDb(agent.terminal)).entries()], [...before.entries()], 'nothing changed');

  // The explicit override exports the unsynced events first (they stay in the log and upload later).
  const file = join(dir, 'unsynced.jsonl');
  await agent.setLocalMode({ on: false });
  await env.cloud.close(); // cloud down from here
  const over = await api<{ error?: { code: string; details?: { exportedTo?: string; exportedEvents?: number } } }>(agent, 'POST', '/api/resync/full', { exportUnsyncedTo: file });
  // With the cloud down the download cannot finish, but the export happened first.
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number });
  t.same(lines.map((l) => l.seq), [1, 2], 'unsynced events exported');
  t.ok(over.status >= 400, 'reported as failed while the cloud is down');
  t.same(over.body.error?.details && { to: over.body.error.details.exportedTo, n: over.body.error.details.exportedEvents }, { to: file, n: 2 }, 'the refusal says where the export went');
  t.equal(agent.terminal.log.head.seq, 2, 'the sale is still in the log');
});

t.test('uploads first, rebuilds, verifies against the cloud', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  await until('catalog', () => agent.terminal.searchItems('cola').length === 1);
  await agent.setLocalMode({ on: true });
  const sale = await agent.terminal.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'account', amount: 300 }] });
  await agent.setLocalMode({ on: false });
  const r = await api<{ uploadedFirst: boolean; digest: { items: { count: number }; customers: { count: number } } }>(agent, 'POST', '/api/resync/full', {});
  t.equal(r.status, 200);
  t.equal(r.body.uploadedFirst, true);
  t.equal(r.body.digest.items.count, 5);
  t.equal(r.body.digest.customers.count, 2);
  t.equal(agent.status().sync.pending, 0, 'everything uploaded');
  t.equal(agent.terminal.customerAccount('cus-ana').balance, 9_700, 'balance = cloud + nothing pending, counted once');
  t.ok(await agent.terminal.sale(sale.sale));
  t.equal(await agent.terminal.log.readMeta(RESYNC_META_KEY), undefined, 'marker cleared');
  const cloud = await storeDigest(env.storage, 'store-1');
  t.same(localDigest(agent.terminal.views), cloud.digest);
});

t.test('SIGKILL at random points of a full resync: the next start finishes it', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  const rng = createRng(seed);
  const dir = t.testdir();
  const items = generateCatalog({ seed: 7, items: 3_000 });
  const env = await startEnvironment({ dir, store: 'store-1', terminals: [], settings: { offlineStoredValue: 'allow' }, seed: () => ({ items, customers: [], vouchers: [] }) });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const dataDir = join(dir, 'till-1');
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-1', cloudUrl: env.cloudUrl, token: created.token });
  const childPath = fileURLToPath(new URL('./fixtures/agent-child.ts', import.meta.url));
  // The agent's pairing token file: what the CLI sends, so the test does too.
  const target = (url: string) => ({ url, pairingTokenFile: join(dataDir, 'agent-token') });
  const start = async (): Promise<{ child: ChildProcess; url: ReturnType<typeof target> }> => {
    const child = spawn(process.execPath, ['--import=tsx', childPath, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await within(new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => { if (l.startsWith('url ')) resolve(l.slice(4)); });
      child.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
    }), 2 * WAIT_MS, 'the agent child to print its url');
    return { child, url: target(url) };
  };
  const kill = async (child: ChildProcess, signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await exitWithin(child, WAIT_MS, `the agent child to exit on ${signal}`);
  };
  const acked: string[] = [];
  let kills = 0;
  const ROUNDS = Number(process.env.RESYNC_KILLS ?? 10); // npm run soak:resync runs 200
  for (let round = 0; round < ROUNDS; round++) {
    const roundStart = Date.now();
    const { child, url } = await start();
    t.teardown(() => kill(child, 'SIGKILL'));
    const settled = async () => {
      const s = (await api<AgentStatus>(url, 'GET', '/api/status')).body;
      return s.operation === null && s.sync.connection.state === 'online' && s.sync.pending === 0 && s.sync.feedHead !== null && s.sync.feedCursor >= s.sync.feedHead;
    };
    await until(`round ${round}: agent settled`, settled, 60_000);
    // A sale, then a full resync killed at a random moment.
    const sale = await api<{ sale: string }>(url, 'POST', '/api/sales', { lines: [{ item: items[round]!.id, qty: 1 }], payments: [{ tender: 'cash', tendered: 100_000 }] });
    t.equal(sale.status, 201);
    acked.push(sale.body.sale);
    const resync = fetch(`${url.url}/api/resync/full`, { method: 'POST', headers: { 'content-type': 'application/json', ...agentHeaders(url) }, body: '{}' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, rng.int(0, 250)));
    await kill(child, 'SIGKILL');
    kills++;
    await within(resync, WAIT_MS, 'the resync request to end with its killed agent');
    t.comment(`round ${round}: ${Date.now() - roundStart} ms`);
  }
  // Last start: it must finish any interrupted resync by itself and settle.
  const { child, url } = await start();
  let lastSeen: AgentStatus | undefined;
  await until('final agent settled', async () => {
    const s = (await api<AgentStatus>(url, 'GET', '/api/status')).body;
    lastSeen = s;
    // resyncInProgress stays true from start until the resumed resync has ended:
    // between listening and the resume's claim, `operation` alone reads null.
    return s.operation === null && !s.resyncInProgress && s.sync.pending === 0 && s.sync.feedHead !== null && s.sync.feedCursor >= s.sync.feedHead;
  }, 60_000).catch((err: unknown) => {
    t.comment(JSON.stringify(lastSeen));
    throw err;
  });
  await kill(child, 'SIGTERM');
  t.equal(kills, ROUNDS);

  const config = (await readAgentConfig(dataDir))!;
  const term = await Terminal.open(join(dataDir, 'db'), { store: config.store, terminal: config.terminal, verifyOnOpen: Infinity });
  t.teardown(() => term.close());
  t.equal(await term.log.readMeta(RESYNC_META_KEY), undefined, 'no resync left half done');
  t.equal(term.log.health.state, 'ok');
  for (const id of acked) t.ok(await term.sale(id), `sale ${id} kept`);
  t.same(localDigest(term.views), (await storeDigest(env.storage, 'store-1')).digest, 'views equal the cloud');
  t.equal(term.searchItems(items[0]!.name).length > 0, true, 'search works');
});

/** Spawns the agent child on `dataDir`; resolves with its URL once it serves. */
async function startChild(t: Test, dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const childPath = fileURLToPath(new URL('./fixtures/agent-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import=tsx', childPath, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => killChild(child, 'SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('agent child did not print its URL within 60 s')), 60_000);
    createInterface({ input: child.stdout! }).on('line', (l) => { if (l.startsWith('url ')) { clearTimeout(timer); resolve(l.slice(4)); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`agent exited ${code}`)); });
  });
  return { child, url };
}

async function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

t.test('issue 15.7: a killed resync resumed while sales (moving balances) go on ends verified, never RESYNC_VERIFY_FAILED', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  const rng = createRng(seed);
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: [] });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const dataDir = join(dir, 'till-1');
  // The agent child's pairing token file: what the CLI sends, so the test does too.
  const as = (u: string) => ({ url: u, pairingTokenFile: join(dataDir, 'agent-token') });
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-1', cloudUrl: env.cloudUrl, token: created.token });
  let url = '';
  let stop = false;
  let acked = 0;
  // Account sales and credits keep changing cus-ana's confirmed balance on the cloud (balance.state changes).
  const seller = async (i: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const r = n % 2 === 0
        ? await api(as(url), 'POST', '/api/sales', { customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'account', amount: 150 }] }).catch(() => undefined)
        : await api(as(url), 'POST', '/api/customers/cus-ana/adjust', { delta: 150 + i }).catch(() => undefined);
      if (r && r.status === 201) acked++;
      else await new Promise((res) => setTimeout(res, 20)); // agent down or refusing: try again shortly
    }
  };
  const settled = async () => {
    const s = (await api<AgentStatus>(as(url), 'GET', '/api/status')).body;
    return s.operation === null && !s.resyncInProgress ? s : undefined;
  };
  let resumed = 0;
  const ROUNDS = 4;
  let current = await startChild(t, dataDir);
  url = current.url;
  await until('first start settled', settled, 60_000);
  const sellers = [0, 1, 2].map((i) => seller(i));
  t.teardown(async () => { stop = true; await Promise.all(sellers); });
  for (let round = 0; round < ROUNDS; round++) {
    await until(`round ${round}: sales flowing`, () => acked > (round + 1) * 20, 60_000);
    const resync = fetch(`${url}/api/resync/full`, { method: 'POST', headers: { 'content-type': 'application/json', ...agentHeaders(as(url)) }, body: '{}' }).catch(() => undefined);
    // Kill once the resync is past its checks (its marker is written), at a random moment of its phases.
    const phase = await until(`round ${round}: resync past its checks`, async () => {
      const st = (await api<AgentStatus>(as(url), 'GET', '/api/status')).body;
      return st.operation && ['download', 'verify', 'switch'].includes(st.operation.phase) ? st.operation.phase : undefined;
    }, 60_000);
    await new Promise((r) => setTimeout(r, rng.int(0, 5)));
    await killChild(current.child, 'SIGKILL');
    t.comment(`round ${round}: killed in or after ${phase}`);
    await resync;
    current = await startChild(t, dataDir);
    url = current.url;
    const s = await until(`round ${round}: restarted agent settled`, settled, 90_000);
    if (s.lastOperation?.interrupted) {
      // Killed after the resync had cleared its marker: nothing to resume, reported as cut short.
      t.equal(s.lastOperation.error?.code, 'OPERATION_INTERRUPTED', `round ${round}: reported interrupted`);
    } else if (s.lastOperation?.name === 'full-resync') {
      resumed++;
      t.same(s.lastOperation.error ?? null, null, `round ${round}: the resumed resync succeeded`);
      t.equal(s.lastOperation.ok, true);
    }
  }
  t.comment(`${resumed} of ${ROUNDS} kills left a resync that the next start resumed; ${acked} sales/credits acknowledged`);
  // And one run to the end while the balances keep moving.
  const last = await api<{ error?: { code: string }; verifiedAt?: number }>(as(url), 'POST', '/api/resync/full', {});
  t.equal(last.body.error?.code, undefined, 'a full resync during sales succeeds');
  t.equal(last.status, 200);
  stop = true;
  await Promise.all(sellers);
  await killChild(current.child, 'SIGTERM');
});

t.test('a real difference between the downloaded data and the cloud is still reported, and the old data kept', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: [] });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const dataDir = join(dir, 'till-1');
  // The agent child's pairing token file: what the CLI sends, so the test does too.
  const as = (u: string) => ({ url: u, pairingTokenFile: join(dataDir, 'agent-token') });
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-1', cloudUrl: env.cloudUrl, token: created.token });
  let { child, url } = await startChild(t, dataDir);
  await until('settled', async () => (await api<AgentStatus>(as(url), 'GET', '/api/status')).body.sync.feedCursor >= 11, 60_000);
  await killChild(child, 'SIGTERM');
  // A resync stopped in its download with a staged change that differs from the cloud's (a bad download).
  const term = await Terminal.open(join(dataDir, 'db'), { store: 'store-1', terminal: 'till-1' });
  const live = term.item('itm-cola');
  const staging = term.log.db.sublevel<string, Uint8Array>('resync-feed', { keyEncoding: 'utf8', valueEncoding: 'view' });
  for await (const page of term.log.readChanges()) {
    for (const c of page) {
      const bad = c.type === 'item.upserted' && c.body.id === 'itm-cola' ? { ...c, body: { ...c.body, price: 1 } } : c;
      await staging.put(seqKey(c.cursor), encodeCanonical(bad));
    }
  }
  await term.log.setMeta({ [RESYNC_META_KEY]: { phase: 'download', started: Date.now() } });
  await term.close();
  ({ child, url } = await startChild(t, dataDir));
  const s = await until('the resumed resync ended', async () => {
    const st = (await api<AgentStatus>(as(url), 'GET', '/api/status')).body;
    return st.lastOperation?.name === 'full-resync' && st.operation === null ? st : undefined;
  }, 60_000);
  t.equal(s.lastOperation?.error?.code, 'RESYNC_VERIFY_FAILED', 'the difference is reported');
  t.equal(s.resyncInProgress, false, 'nothing left half done');
  const item = await api<{ item: { price: number } }>(as(url), 'GET', '/api/items/itm-cola');
  t.equal(item.body.item.price, live!.price, 'the live catalog was kept, not replaced by the bad download');
  await killChild(child, 'SIGTERM');
});
