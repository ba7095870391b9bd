/**
 * Issue 21.4: a full disk, on a real small tmpfs (mounted by the test; it skips,
 * saying so, where `mount -t tmpfs` is not allowed — nothing is simulated).
 * - while the agent runs: every sale fails 507 DISK_FULL, the status shows the
 *   log's health as `disk-full` (not `ok`), and sales resume once space is freed;
 * - starting `tillsync terminal` on the full disk fails with DISK_FULL (and its
 *   what-to-do hint), not LEVEL_DATABASE_NOT_OPEN.
 */
import t from 'tap';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalAgent, writeAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import { runCli } from '../cli/run-cli.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';
import { storeChanges } from '../helpers/small-store.ts';
import { mountSmallDisk } from '../helpers/small-disk.ts';

const disk = mountSmallDisk(8);
const mountPoint = disk.path;
const mounted = disk.mounted;
if (!mounted) t.comment(`${disk.why}: skipping the disk-full tests`);
t.teardown(() => disk.remove());
const fill = (): string => disk.fill();

t.test('a full disk while selling shows in the status, and sales resume once space is freed', { skip: !mounted && 'no tmpfs' }, async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: [] });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const dataDir = join(mountPoint, 'till-1');
  mkdirSync(dataDir, { recursive: true });
  const agent = await TerminalAgent.start({ store: 'store-1', terminal: 'till-1', cloudUrl: env.cloudUrl, token: created.token, dataDir, port: 0 });
  t.teardown(() => agent.stop());
  await until('catalog downloaded', () => agent.terminal.views.views.items.size === 5);
  const sale = () => api<{ error?: { code: string } }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  t.equal((await sale()).status, 201);
  const head = agent.terminal.log.head.seq;

  const filler = fill();
  const codes = new Set<string>();
  for (let i = 0; i < 20; i++) codes.add((await sale()).body.error?.code ?? 'ok');
  t.same([...codes], ['DISK_FULL'], 'every sale refused DISK_FULL');
  t.equal(agent.terminal.log.head.seq, head, 'nothing acknowledged');
  const s = (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  t.equal(s.log.health, 'disk-full', 'the Sync Manager status shows the full disk');

  rmSync(filler);
  t.equal((await sale()).status, 201, 'sales resume once space is freed');
  t.equal((await api<AgentStatus>(agent, 'GET', '/api/status')).body.log.health, 'ok');
});

t.test('sales acknowledged after a full disk was freed survive a restart (no write lands behind a torn write-ahead-log record)', { skip: !mounted && 'no tmpfs' }, async (t) => {
  // Found by the fault simulator (seed 200): a write that failed for lack of space left part of
  // its record in LevelDB's write-ahead log, every later write went in behind it, and the next
  // open dropped them ("dropping N bytes; Corruption: checksum mismatch").
  const env = await smallEnvironment(t.testdir(), { terminals: [] });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-3' });
  const dataDir = join(mountPoint, 'till-3');
  mkdirSync(dataDir, { recursive: true });
  const start = () => TerminalAgent.start({ store: 'store-1', terminal: 'till-3', cloudUrl: 'http://127.0.0.1:9', token: created.token, dataDir, port: 0 });
  let agent = await start();
  // Offline (the cloud address answers nobody): the sales stay in the log only.
  await agent.terminal.log.applyChanges(storeChanges(), storeChanges().length);
  const sale = () => api<{ sale: string; error?: { code: string } }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  t.equal((await sale()).status, 201);
  const filler = fill();
  // Big enough groups that the failing write is cut inside its record, not before it.
  const refused = await api<{ error?: { code: string } }>(agent, 'POST', '/api/sales', { lines: Array.from({ length: 200 }, () => ({ item: 'itm-cola', qty: 1 })), payments: [{ tender: 'cash', tendered: 100_000 }] });
  t.equal(refused.body.error?.code, 'DISK_FULL');
  rmSync(filler);
  const acked: string[] = [];
  for (let i = 0; i < 40; i++) {
    const r = await sale();
    t.equal(r.status, 201, `sale ${i} after the space was freed`);
    acked.push(r.body.sale);
  }
  const head = agent.terminal.log.head.seq;
  await agent.stop();
  agent = await start();
  t.teardown(() => agent.stop());
  t.same(agent.terminal.log.droppedOnOpen, [], 'LevelDB dropped nothing on open');
  t.equal(agent.terminal.log.health.state, 'ok', 'the log is healthy');
  t.equal(agent.terminal.log.head.seq, head, 'the head is where it was');
  const missing = [];
  for (const id of acked) if ((await api(agent, 'GET', `/api/sales/${id}`)).status !== 200) missing.push(id);
  t.same(missing, [], 'every sale acknowledged after the space was freed is there');
});

t.test('starting on a full disk fails with DISK_FULL', { skip: !mounted && 'no tmpfs' }, async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: [] });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-2' });
  const dataDir = join(mountPoint, 'till-2');
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-2', cloudUrl: env.cloudUrl, token: created.token });
  // Enroll and stop once, so the folder holds a real log.
  const agent = await TerminalAgent.start({ store: 'store-1', terminal: 'till-2', cloudUrl: env.cloudUrl, token: created.token, dataDir, port: 0 });
  await until('catalog downloaded', () => agent.terminal.views.views.items.size === 5);
  await agent.stop();
  const filler = fill();
  t.teardown(() => rmSync(filler, { force: true }));
  const r = await runCli(['terminal', '--data', dataDir, '--port', '0']);
  t.equal(/^error ([A-Z_]+):/m.exec(r.stderr)?.[1], 'DISK_FULL', 'a documented code');
  t.match(r.stderr, /what to do:/, 'with what to do');
  t.equal(r.code, 1);
});
