/**
 * F10 on a 200k-event log: only acknowledged events older than the retention go;
 * views, search and balances are identical after; disk space is reclaimed; a
 * rebuild after cleanup still equals the live views; SIGKILL mid-cleanup is harmless.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupOldEvents, type CleanupReport } from '../../src/terminal/cleanup.ts';
import { writeAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import { agentHeaders, api, until } from '../helpers/env.ts';
import { folderBytes } from '../../src/events/level-util.ts';
import { TerminalViews, diffViews } from '../../src/projections/terminal-views.ts';
import { appendHistory } from '../helpers/history.ts';
import { openSmallStore } from '../helpers/small-store.ts';
import { exitWithin, onceWithin, WAIT_MS } from '../helpers/wait.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 27);

t.test('cleanup of a 200k-event log', async (t) => {
  const dir = t.testdir();
  const term = await openSmallStore(dir, { clock: { now: () => NOW - 60 * DAY } });
  t.teardown(() => term.close());
  await appendHistory(term, 200_000, { time: NOW - 60 * DAY });
  await term.log.setMeta({ ackSeq: 150_000 });
  const fresh = await term.completeSale({ lines: [{ item: 'itm-cafe', qty: 1 }], payments: [{ tender: 'cash', tendered: 500 }] });
  t.equal(term.log.head.seq, 200_002);

  const digest = await term.views.digest();
  const search = term.searchItems('cola');
  const balance = term.customerAccount('cus-ana').balance;
  const report = await cleanupOldEvents({ log: term.log, views: term.views, dir, olderThanMs: 30 * DAY, now: NOW });
  t.comment(`cleanup: ${report.events} events, ${report.bytesBefore} → ${report.bytesAfter} bytes (${report.bytesFreed} freed)`);
  t.equal(report.events, 150_000, 'exactly the acknowledged prefix');
  t.equal(report.base, 150_000);
  t.equal(report.stoppedAt, 150_001, 'stopped at the first unacknowledged event');
  t.equal(report.keptUnacknowledged, 50_002);
  t.ok(report.bytesFreed > 0 && report.bytesAfter < report.bytesBefore, 'disk space reclaimed');
  t.equal(report.bytesAfter, await folderBytes(dir));

  t.equal(await term.log.get(150_000), undefined, 'removed');
  t.ok(await term.log.get(150_001), 'first unacknowledged event kept');
  t.ok(await term.sale(fresh.sale), 'the recent sale is still there');
  t.same(await term.views.digest(), digest, 'views identical');
  t.same(term.searchItems('cola'), search, 'search identical');
  t.equal(term.customerAccount('cus-ana').balance, balance);
  t.equal((await term.log.verify({ full: true })).ok, true, 'retained log verifies from the new base');

  // A rebuild after cleanup starts from the snapshot and still equals the live views.
  const scratch = new TerminalViews(term.log.db, 'till-1', 'after-cleanup');
  await scratch.rebuildFrom(term.log);
  t.same(await diffViews(term.views, scratch), []);
  await scratch.clear();

  // Unacknowledged events are never removed, however old: a second run removes nothing.
  const again = await cleanupOldEvents({ log: term.log, views: term.views, dir, olderThanMs: 0, now: NOW + DAY });
  t.equal(again.events, 0);
  t.equal(term.log.base.seq, 150_000);
  // Appends continue on top of the retained chain.
  await term.adjustBalance({ customer: 'cus-ana', delta: 5 });
  t.equal((await term.log.verify({ full: true })).ok, true);
});

t.test('SIGKILL in the middle of cleanup is harmless', async (t) => {
  const base = t.testdir();
  const term = await openSmallStore(base, { clock: { now: () => NOW - 60 * DAY } });
  await appendHistory(term, 30_000, { time: NOW - 60 * DAY });
  await term.log.setMeta({ ackSeq: 20_000 });
  const digest = await term.views.digest();
  await term.close();
  const child = fileURLToPath(new URL('./fixtures/cleanup-child.ts', import.meta.url));
  for (const delay of [5, 40, 120, 250, 500]) {
    const dir = mkdtempSync(join(tmpdir(), 'tillsync-cleanup-kill-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(base, dir, { recursive: true });
    const p = spawn(process.execPath, ['--import=tsx', child, dir, String(NOW)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await onceWithin(p.stdout, 'data', 2 * WAIT_MS, 'the cleanup child to start');
    await new Promise((r) => setTimeout(r, delay));
    // The cleanup may have finished (and the child exited) before the kill.
    const exited = exitWithin(p, WAIT_MS, 'the killed cleanup child to exit');
    p.kill('SIGKILL');
    await exited;
    const after = await openSmallStore(dir, { verifyOnOpen: Infinity });
    t.equal(after.log.health.state, 'ok', `kill after ${delay} ms: log healthy`);
    t.ok(after.log.base.seq === 0 || after.log.base.seq === 20_000, `base is all or nothing (${after.log.base.seq})`);
    t.ok(await after.log.get(20_001), 'unacknowledged events intact');
    t.equal(after.log.head.seq, 30_000);
    t.same(await after.views.digest(), digest, 'views intact');
    const report = await cleanupOldEvents({ log: after.log, views: after.views, dir, olderThanMs: 30 * DAY, now: NOW });
    t.equal(after.log.base.seq, 20_000, 'a rerun completes the cleanup');
    t.equal(await after.log.get(1), undefined, 'leftovers below the base are gone');
    t.ok(report.events === 0 || report.events === 20_000);
    t.equal((await after.log.verify({ full: true })).ok, true);
    await after.close();
  }
});

t.test('issue 21.4: a cleanup killed after the base moved is finished at the next agent start; an operation cut short is reported interrupted', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'db');
  const term = await openSmallStore(db, { clock: { now: () => NOW - 60 * DAY } });
  await appendHistory(term, 30_000, { time: NOW - 60 * DAY });
  await term.log.setMeta({ ackSeq: 20_000 });
  await term.close();
  // An enrolled folder whose cloud is unreachable (the agent works offline).
  await writeAgentConfig(dir, { store: 'store-1', terminal: 'till-1', cloudUrl: 'http://127.0.0.1:9', token: 'offline-token-0123456789' });

  const cleaner = spawn(process.execPath, ['--import=tsx', fileURLToPath(new URL('./fixtures/cleanup-child.ts', import.meta.url)), db, String(NOW), 'stall'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (cleaner.exitCode === null && cleaner.signalCode === null) cleaner.kill('SIGKILL'); });
  await lineFrom(cleaner, 'removing');
  const exited = new Promise((r) => cleaner.once('exit', r));
  cleaner.kill('SIGKILL');
  await exited;
  const cut = await openSmallStore(db);
  t.equal(cut.log.base.seq, 20_000, 'the kill came after the base moved');
  t.ok(await cut.log.get(1), 'leftovers below the base');
  await cut.close();

  const agentChild = fileURLToPath(new URL('./fixtures/agent-child.ts', import.meta.url));
  const startAgent = async (): Promise<{ child: ChildProcess; url: string; pairingTokenFile: string }> => {
    const child = spawn(process.execPath, ['--import=tsx', agentChild, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    const line = await lineFrom(child, 'url ');
    return { child, url: line.slice(4), pairingTokenFile: join(dir, 'agent-token') };
  };
  let agent = await startAgent();
  const resumed = await until('the start finished the interrupted cleanup', async () => {
    const s = (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
    return s.operation === null && s.lastOperation?.name === 'cleanup' ? s.lastOperation : undefined;
  }, 60_000);
  t.equal(resumed.ok, true);
  const rr = resumed.result as CleanupReport;
  t.equal(rr.events, 0, 'no new events cut');
  t.equal(rr.leftovers, 20_000, 'the leftovers are counted as such');
  const again = await api<CleanupReport>(agent, 'POST', '/api/cleanup', { olderThanDays: 30 });
  t.equal(again.body.events, 0);
  t.equal(again.body.leftovers, 0, 'nothing left for the next cleanup');

  // An operation killed midway: the next start says it was interrupted.
  void fetch(`${agent.url}/api/audit`, { method: 'POST', headers: { 'content-type': 'application/json', ...agentHeaders(agent) }, body: '{}' }).catch(() => undefined);
  await until('audit running', async () => (await api<AgentStatus>(agent, 'GET', '/api/status')).body.operation?.name === 'audit', 30_000);
  const gone = new Promise((r) => agent.child.once('exit', r));
  agent.child.kill('SIGKILL');
  await gone;
  agent = await startAgent();
  const st = await api<AgentStatus>(agent, 'GET', '/api/status');
  t.equal(st.status, 200, 'the restarted agent answers its status');
  const s = st.body;
  t.equal(s.lastOperation?.name, 'audit', 'killed audit reported');
  t.equal(s.lastOperation?.ok, false, 'killed audit reported');
  t.equal(s.lastOperation?.interrupted, true, 'killed audit reported');
  t.equal(s.lastOperation?.error?.code, 'OPERATION_INTERRUPTED', 'killed audit reported');
  const stopped = new Promise((r) => agent.child.once('exit', r));
  agent.child.kill('SIGTERM');
  await stopped;
  const after = await openSmallStore(db, { verifyOnOpen: Infinity });
  t.teardown(() => after.close());
  t.equal(await after.log.get(1), undefined, 'leftovers gone');
  t.equal(after.log.health.state, 'ok');
});

/** Resolves with the child's first stdout line starting with `prefix` (bounded). */
function lineFrom(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child printed no "${prefix}" line within 60 s`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (l) => { if (l.startsWith(prefix)) { clearTimeout(timer); resolve(l); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited ${code} before "${prefix}"`)); });
  });
}
