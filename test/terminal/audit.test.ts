/**
 * F12 audit: POST /api/audit through the real agent, and `auditTerminal` on
 * copies of a stopped agent's LevelDB folder damaged the way a disk fault or a
 * careless tool would (raw classic-level access, as in
 * test/events/corruption.test.ts). The copies are opened with
 * `verifyOnOpen: 0`, so it is the audit, not the open, that finds the problem.
 *
 * - a clean store audits clean (agent and copy): ok, no findings;
 * - a flipped byte in a stored record (still valid msgpack) → CHAIN_BROKEN;
 *   in the last record → CHAIN_BROKEN at the head;
 * - bytes that no longer decode → RECORD_UNREADABLE at that record's seq;
 * - a deleted record → SEQ_GAP at its seq;
 * - a view entry that disagrees with history → VIEW_MISMATCH naming view and key
 *   (on a copy, and through the agent after a restart).
 */
import t, { type Test } from 'tap';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { decodeTrusted, encodeCanonical } from '../../src/events/codec.ts';
import { seqKey } from '../../src/events/level-util.ts';
import type { StoredValue } from '../../src/projections/reducers.ts';
import { TerminalAgent, readAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import { auditTerminal, type AuditReport } from '../../src/terminal/audit.ts';
import { Terminal } from '../../src/terminal/terminal.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';
import { appendHistory } from '../helpers/history.ts';

const STORE = 'store-1';
const TERMINAL = 'till-1';
/** Long enough that the log spans several read pages (1000 records each). */
const HISTORY = 2_500;

type Raw = ClassicLevel<string, Uint8Array>;
const logKey = (seq: number): string => `!log!${seqKey(seq)}`;

async function withRaw(dir: string, fn: (db: Raw) => Promise<void>): Promise<void> {
  const db: Raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

/** Adds 1 cent to the cloud part of a customer's stored balance record (the `balances` view). */
async function skewBalance(db: Raw, customer: string): Promise<void> {
  const key = `!v-balances!${customer}`;
  const raw = await db.get(key);
  if (!raw) throw new Error(`no balance view entry at ${key}`);
  const rec = decodeTrusted<StoredValue>(raw);
  await db.put(key, encodeCanonical({ ...rec, cloud: rec.cloud + 1 }));
}

/** Opens a copy without verifying anything, checks that the open saw nothing, audits it. */
async function auditCopy(t: Test, dir: string): Promise<AuditReport> {
  const term = await Terminal.open(dir, { store: STORE, terminal: TERMINAL, verifyOnOpen: 0 });
  try {
    t.equal(term.log.health.state, 'ok', 'the open itself did not look');
    const report = await auditTerminal(term.log, term.views);
    if (report.findings.some((f) => f.code !== 'VIEW_MISMATCH')) {
      // A broken history found by the audit also stops the log from growing on top of it.
      await t.rejects(term.log.append([{ type: 'balance.delta', body: { customer: 'cus-ana', delta: 1, reason: 'adjustment' } }]), { code: 'LOG_CORRUPTED' });
    }
    return report;
  } finally {
    await term.close();
  }
}

t.test('audit: clean store, flipped byte, unreadable record, missing seq, view mismatch', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(join(dir, 'env'), { terminals: [TERMINAL] });
  t.teardown(() => env.stop());
  let agent = env.agents[0]!;
  const base = (): TerminalAgent => agent;
  const status = async (): Promise<AgentStatus> => (await api<AgentStatus>(base(), 'GET', '/api/status')).body;

  // A history with every kind of stored-value movement, plus a long tail of sales.
  await until('catalog downloaded', () => agent.terminal.searchItems('cola').length === 1);
  const post = async (path: string, body: unknown): Promise<void> => {
    const r = await api<unknown>(base(), 'POST', path, body);
    t.ok(r.status === 200 || r.status === 201, `${path} accepted`);
  };
  await post('/api/sales', { lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'cash', tendered: 500 }] });
  await post('/api/sales', { customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'account', amount: 300 }] });
  await post('/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'voucher', voucher: 'GV-TEST-0001', amount: 150 }] });
  await post('/api/customers/cus-bob/adjust', { delta: 250 });
  await appendHistory(agent.terminal, HISTORY, { time: Date.now() });
  const head = agent.terminal.log.head.seq;
  t.equal(head, 9 + HISTORY);
  await until('history uploaded', async () => (await status()).sync.pending === 0, 60_000);

  // Clean, through the agent.
  const clean = await api<AuditReport>(base(), 'POST', '/api/audit');
  t.equal(clean.status, 200);
  t.same(clean.body, { ok: true, store: STORE, terminal: TERMINAL, events: head, from: 1, to: head, findings: [] }, 'a clean store audits clean');
  t.equal((await status()).lastOperation?.name, 'audit');

  // Stop the agent in local mode (so nothing changes its views when it starts again) and copy its folder.
  await api(base(), 'POST', '/api/local-mode', { on: true });
  const dataDir = join(dir, 'env', TERMINAL);
  await agent.stop();
  const copies = join(dir, 'copies');
  const pristine = join(copies, 'pristine');
  cpSync(join(dataDir, 'db'), pristine, { recursive: true });
  const copy = (name: string): string => {
    const to = join(copies, name);
    cpSync(pristine, to, { recursive: true });
    return to;
  };

  t.test('an untouched copy audits clean', async (t) => {
    const report = await auditCopy(t, copy('clean'));
    t.same(report, { ok: true, store: STORE, terminal: TERMINAL, events: head, from: 1, to: head, findings: [] });
  });

  t.test('a flipped byte in a stored record', async (t) => {
    const dir = copy('flipped');
    const seq = 1_502; // a sale.completed of the long tail, in the middle of a read page
    await withRaw(dir, async (db) => {
      const v = Buffer.from((await db.get(logKey(seq)))!);
      const at = v.indexOf('Cola can');
      t.ok(at > 0);
      v[at + 1]! ^= 0x01; // "Cola" → "Cnla": same length, still valid msgpack
      await db.put(logKey(seq), v);
      t.equal(decodeTrusted<{ seq: number }>(v).seq, seq, 'still decodes to its seq');
    });
    const report = await auditCopy(t, dir);
    t.equal(report.ok, false);
    t.equal(report.findings.length, 1);
    const f = report.findings[0]!;
    t.equal(f.code, 'CHAIN_BROKEN');
    t.equal(f.terminal, TERMINAL);
    // The changed record's hash no longer matches the `prev` of the record after it:
    // the broken link is reported at that next record.
    t.equal(f.seq, seq + 1, 'names the broken link (the record after the flipped one)');
    t.match(f.detail, /chain/);
  });

  t.test('a flipped byte in the last record', async (t) => {
    const dir = copy('flipped-last');
    await withRaw(dir, async (db) => {
      const v = Buffer.from((await db.get(logKey(head)))!);
      t.equal(decodeTrusted<{ type: string }>(v).type, 'payment.taken');
      const at = v.indexOf('cash');
      t.ok(at > 0);
      v[at + 1]! ^= 0x03; // "cash" → "cbsh"
      await db.put(logKey(head), v);
    });
    const report = await auditCopy(t, dir);
    t.equal(report.findings.length, 1);
    t.equal(report.findings[0]!.code, 'CHAIN_BROKEN');
    t.equal(report.findings[0]!.seq, head, 'the head hash no longer matches the last record');
  });

  t.test('a record that no longer decodes', async (t) => {
    const dir = copy('unreadable');
    const seq = 1_500;
    await withRaw(dir, async (db) => { await db.put(logKey(seq), new Uint8Array([0xc1, 0xff, 0x00])); });
    const report = await auditCopy(t, dir);
    t.equal(report.ok, false);
    t.equal(report.findings.length, 1);
    const f = report.findings[0]!;
    t.equal(f.code, 'RECORD_UNREADABLE', f.detail);
    t.match(f.detail, /unreadable/);
    // Fails today: the finding names the first seq of the 1000-record read page that holds
    // the damaged record (1001), not the record itself. See the report / EventLog.verify.
    t.equal(f.seq, seq, 'at the seq of the damaged record');
  });

  t.test('a missing seq', async (t) => {
    const dir = copy('gap');
    const seq = 777;
    await withRaw(dir, async (db) => { await db.del(logKey(seq)); });
    const report = await auditCopy(t, dir);
    t.equal(report.ok, false);
    t.same(report.findings.map((f) => [f.code, f.seq]), [['SEQ_GAP', seq]]);
    t.match(report.findings[0]!.detail, /missing/);
  });

  t.test('a missing last record', async (t) => {
    const dir = copy('gap-tail');
    await withRaw(dir, async (db) => { await db.del(logKey(head)); });
    const report = await auditCopy(t, dir);
    t.same(report.findings.map((f) => [f.code, f.seq]), [['SEQ_GAP', head]]);
  });

  t.test('a view entry that disagrees with history', async (t) => {
    const dir = copy('view');
    await withRaw(dir, (db) => skewBalance(db, 'cus-ana'));
    const report = await auditCopy(t, dir);
    t.equal(report.ok, false);
    t.same(report.findings.map((f) => ({ code: f.code, view: f.view, key: f.key, seq: f.seq })), [
      { code: 'VIEW_MISMATCH', view: 'balances', key: 'cus-ana', seq: undefined },
    ]);
    t.match(report.findings[0]!.detail, /different/);
    // The audit rebuilt into a scratch area: the live (wrong) entry is left as it was, for a human to look at.
    const term = await Terminal.open(dir, { store: STORE, terminal: TERMINAL, verifyOnOpen: 0 });
    t.teardown(() => term.close());
    const again = await auditTerminal(term.log, term.views);
    t.same(again.findings.map((f) => [f.code, f.view, f.key]), [['VIEW_MISMATCH', 'balances', 'cus-ana']], 'a second audit finds the same');
  });

  t.test('a view mismatch through the agent', async (t) => {
    await withRaw(join(dataDir, 'db'), (db) => skewBalance(db, 'cus-ana'));
    const config = (await readAgentConfig(dataDir))!;
    agent = await TerminalAgent.start({ ...config, dataDir, worker: { uploadPollMs: 200, download: { intervalMs: 500 }, stallMs: 5_000 } });
    env.agents[0] = agent; // env.stop() stops it
    t.equal((await status()).sync.connection.state, 'local', 'still in local mode: nothing downloads over the skewed entry');
    const r = await api<AuditReport>(base(), 'POST', '/api/audit');
    t.equal(r.status, 200);
    t.equal(r.body.ok, false);
    t.same(r.body.findings.map((f) => ({ code: f.code, view: f.view, key: f.key, terminal: f.terminal })), [
      { code: 'VIEW_MISMATCH', view: 'balances', key: 'cus-ana', terminal: TERMINAL },
    ]);
    const last = (await status()).lastOperation;
    t.equal(last?.name, 'audit');
    t.equal(last?.ok, true, 'the audit ran; its findings are the result');
  });
});
