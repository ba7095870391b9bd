/**
 * Issue 15, faults 1.1 and 1.2, end to end: a real cloud on loopback, the
 * terminal agent as a real child process killed with SIGKILL, real LevelDB
 * files changed on disk, the real CLI for the recovery.
 *
 * 1.1 A flipped byte in the write-ahead log drops acknowledged sales on the
 *     next open: the agent starts refusing sales (LOG_CORRUPTED), the status
 *     shows the lost seqs and, once connected, what the cloud holds;
 *     `tillsync recover --from-cloud` restores the seqs the cloud has, reports
 *     the ones nobody has as lost, and selling and syncing resume.
 * 1.2 A data folder restored from an earlier copy, which even sells before it
 *     connects: on connect the cloud's high-water mark is ahead, appends are
 *     refused (LOG_BEHIND_CLOUD), no seq is reused; the recovery restores the
 *     cloud's events and appends the copy's own sale again after them; the
 *     cloud ends with every sale exactly once and no conflict.
 */
import t, { type Test } from 'tap';
import { cpSync, openSync, readFileSync, readdirSync, readSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { startEnvironment, type Environment } from '../../src/cli/demo-env.ts';
import { seqKey } from '../../src/events/level-util.ts';
import { writeAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import type { RecoveryReport } from '../../src/terminal/recovery.ts';
import { agentCall, agentTokenFile, startAgentProcess, stopAgentProcess, type AgentProcess } from '../helpers/agent-process.ts';
import { until } from '../helpers/env.ts';
import { CUSTOMERS, ITEMS } from '../helpers/small-store.ts';
import { runCli } from '../cli/run-cli.ts';

const cashSale = { lines: [{ item: 'itm-cafe', qty: 1 }], payments: [{ tender: 'cash', tendered: 1000 }] };

async function setup(t: Test): Promise<{ env: Environment; dataDir: string; start: () => Promise<AgentProcess> }> {
  const dir = t.testdir();
  const env = await startEnvironment({
    dir, store: 'store-1', terminals: [], settings: { offlineStoredValue: 'allow' },
    seed: () => ({ items: ITEMS, customers: CUSTOMERS.map((c) => ({ record: c, openingBalance: 1000 })), vouchers: [] }),
  });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const dataDir = join(dir, 'till-1');
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-1', cloudUrl: env.cloudUrl, token: created.token });
  const start = async (): Promise<AgentProcess> => {
    const p = await startAgentProcess(dataDir);
    t.teardown(() => stopAgentProcess(p.child));
    return p;
  };
  return { env, dataDir, start };
}

const status = async (url: string): Promise<AgentStatus> => (await agentCall<AgentStatus>(url, 'GET', '/api/status')).body;

async function sell(t: Test, url: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await agentCall<{ sale: string }>(url, 'POST', '/api/sales', cashSale);
    t.equal(r.status, 201, 'sale acknowledged');
    ids.push(r.body.sale);
  }
  return ids;
}

const uploaded = (url: string, what: string) =>
  until(what, async () => {
    const s = await status(url);
    return s.sync.connection.state === 'online' && s.sync.pending === 0 && s.log.head > 0 ? s : undefined;
  }, 60_000);

const online = (url: string) =>
  until('the agent to be online', async () => (await status(url)).sync.connection.state === 'online', 60_000);

/** The cloud's stored events of till-1, in seq order. */
async function cloudEvents(env: Environment): Promise<Array<{ seq: number; event: { id: string; type: string } }>> {
  const out: Array<{ seq: number; event: { id: string; type: string } }> = [];
  for (let from = 1; ;) {
    const page = await env.admin<{ events: Array<{ seq: number; event: { id: string; type: string } }>; next: number | null }>('GET', `/v1/admin/stores/store-1/events?terminal=till-1&from=${from}&limit=1000`);
    out.push(...page.events);
    if (page.next === null) return out;
    from = page.next;
  }
}

/** Flips one byte of the write-ahead log where the record of `seq` is (the batch holding it and all after it in the block are dropped). */
function flipWalAt(db: string, seq: number): void {
  const wal = readdirSync(db).filter((f) => f.endsWith('.log')).sort().pop()!;
  const path = join(db, wal);
  const bytes = readFileSync(path);
  const at = bytes.indexOf(`!log!${seqKey(seq)}`);
  if (at < 0) throw new Error(`seq ${seq} is not in ${wal}`);
  if (statSync(path).size > 32 * 1024) throw new Error('write-ahead log spans several blocks: the test expects one');
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at + 2);
  b[0]! ^= 0x20;
  writeSync(fd, b, 0, 1, at + 2);
  closeSync(fd);
}

t.test('1.1: acknowledged sales dropped from the write-ahead log are refused loudly and restored from the cloud', async (t) => {
  const { env, dataDir, start } = await setup(t);
  let agent = await start();
  await online(agent.url);
  const synced = await sell(t, agent.url, 6); // seqs 1..12
  await uploaded(agent.url, 'the six sales to be uploaded');
  t.equal((await agentCall(agent.url, 'POST', '/api/local-mode', { on: true })).status, 200);
  const unsynced = await sell(t, agent.url, 2); // seqs 13..16, never uploaded
  await stopAgentProcess(agent.child, 'SIGKILL');

  flipWalAt(join(dataDir, 'db'), 5); // drops sale 3 onwards on the next open
  agent = await start();
  const recovery = (await agentCall(agent.url, 'GET', '/api/recovery')).body;
  t.equal(recovery.refused?.code, 'LOG_CORRUPTED', 'the lost tail is a refusal');
  t.same(recovery.refused?.details.lost, { from: 5, to: 16 }, 'the status names the lost acknowledged seqs');
  const refusedSale = await agentCall(agent.url, 'POST', '/api/sales', cashSale);
  t.equal(refusedSale.body.error.code, 'LOG_CORRUPTED', 'sales are refused');
  t.equal((await status(agent.url)).log.health, 'corrupted');

  // Online again: the handshake learns what the cloud holds, and the upload stops with it.
  await agentCall(agent.url, 'POST', '/api/local-mode', { on: false });
  const stuck = await until('the upload to stop with LOG_CORRUPTED', async () => {
    const s = await status(agent.url);
    return s.sync.connection.state === 'stuck' && s.sync.connection.error === 'LOG_CORRUPTED' ? s : undefined;
  }, 30_000);
  t.ok(stuck);
  t.equal((await agentCall(agent.url, 'GET', '/api/recovery')).body.refused?.details.cloudAckSeq, 12, 'the status says what the cloud still holds');

  const cli = await runCli(['recover', '--from-cloud', '--yes', '--json', '--agent', agent.url, '--agent-token-file', agentTokenFile(agent.url)!]);
  t.equal(cli.code, 0, `recover exits 0 (${cli.stderr.trim().split('\n').pop()})`);
  const report = JSON.parse(cli.stdout) as RecoveryReport;
  t.same(report.restored, { from: 5, to: 12 }, 'the seqs the cloud has are restored');
  t.same(report.lost, { from: 13, to: 16 }, 'the seqs nobody has are reported lost');
  t.equal(report.head, 12);
  for (const id of synced) t.equal((await agentCall(agent.url, 'GET', `/api/sales/${id}`)).status, 200, `synced sale ${id} readable again`);
  for (const id of unsynced) t.equal((await agentCall(agent.url, 'GET', `/api/sales/${id}`)).status, 404, 'a lost sale is not invented');

  const after = await sell(t, agent.url, 1);
  const s = await uploaded(agent.url, 'the sale after the recovery to be uploaded');
  t.equal(s.log.health, 'ok');
  t.equal(s.sync.conflicts, 0, 'no conflict');
  const stored = await cloudEvents(env);
  t.same(stored.map((e) => e.seq), Array.from({ length: 14 }, (_, i) => i + 1), 'the cloud holds seqs 1..14, gapless');
  t.ok(stored.some((e) => e.event.id === after[0]), 'the new sale reached the cloud');
  const audit = await agentCall<{ ok: boolean }>(agent.url, 'POST', '/api/audit', {});
  t.equal(audit.body.ok, true, 'the recovered log audits clean');
});

t.test('1.2: a data folder restored from an earlier copy is detected on connect and recovered without reusing seqs', async (t) => {
  const { env, dataDir, start } = await setup(t);
  let agent = await start();
  await online(agent.url);
  const early = await sell(t, agent.url, 3); // seqs 1..6
  await uploaded(agent.url, 'the first sales to be uploaded');
  // The copy is taken in local mode, so the restored folder sells before it connects.
  await agentCall(agent.url, 'POST', '/api/local-mode', { on: true });
  await stopAgentProcess(agent.child, 'SIGTERM');
  const backup = `${dataDir}-backup`;
  cpSync(dataDir, backup, { recursive: true });

  agent = await start();
  await agentCall(agent.url, 'POST', '/api/local-mode', { on: false });
  const later = await sell(t, agent.url, 4); // seqs 7..14
  await uploaded(agent.url, 'the later sales to be uploaded');
  await stopAgentProcess(agent.child, 'SIGKILL');

  rmSync(dataDir, { recursive: true, force: true });
  cpSync(backup, dataDir, { recursive: true });
  agent = await start();
  const onCopy = await sell(t, agent.url, 1); // seqs 7..8 on the copy: the cloud holds other events there
  await agentCall(agent.url, 'POST', '/api/local-mode', { on: false });
  await until('the upload to stop with LOG_BEHIND_CLOUD', async () => {
    const s = await status(agent.url);
    return s.sync.connection.state === 'stuck' && s.sync.connection.error === 'LOG_BEHIND_CLOUD';
  }, 30_000);
  const refused = await agentCall(agent.url, 'POST', '/api/sales', cashSale);
  t.equal(refused.status, 409);
  t.equal(refused.body.error.code, 'LOG_BEHIND_CLOUD', 'no seq the cloud holds is reused');
  t.equal((await status(agent.url)).sync.conflicts, 0, 'no EVENT_CONFLICT was produced');

  const rec = await agentCall<RecoveryReport>(agent.url, 'POST', '/api/recover', { fromCloud: true });
  t.equal(rec.status, 200, JSON.stringify(rec.body));
  t.same(rec.body.restored, { from: 7, to: 14 }, "the cloud's events 7..14 are restored");
  t.equal(rec.body.reappended, 2, "the copy's own sale (2 events) is appended again");
  t.ok(rec.body.exportedTo, 'and kept in an export file');
  t.equal(rec.body.lost, null);
  t.equal(rec.body.head, 16);

  const s = await uploaded(agent.url, 'the re-appended sale to be uploaded');
  t.equal(s.sync.conflicts, 0, 'no conflict');
  t.equal(s.log.health, 'ok');
  const stored = await cloudEvents(env);
  t.same(stored.map((e) => e.seq), Array.from({ length: 16 }, (_, i) => i + 1), 'the cloud holds seqs 1..16, gapless');
  for (const id of [...early, ...later, ...onCopy]) {
    t.equal(stored.filter((e) => e.event.id === id).length, 1, `sale ${id} is on the cloud exactly once`);
    t.equal((await agentCall(agent.url, 'GET', `/api/sales/${id}`)).status, 200, `sale ${id} readable on the terminal`);
  }
});
