/**
 * End-of-day close (issue 17, section 3): X and Z reports, the day closed only
 * when the cloud holds the same events, the refusal naming the seqs that
 * differ, the kept report checked again later (edited → REPORT_TAMPERED,
 * history changed → REPORT_MISMATCH), through the library with a real log and
 * end to end through a real agent, cloud and the CLI.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { businessDay, DaySummaryBuilder, type DaySummary } from '../../src/events/day-summary.ts';
import { closeDay, REPORTS_DIR, verifyDayReport, type CloseDayDeps, type DayReport } from '../../src/terminal/close-day.ts';
import type { AgentStatus } from '../../src/terminal/agent.ts';
import { appendHistory } from '../helpers/history.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';
import { openSmallStore } from '../helpers/small-store.ts';
import { runCli } from '../cli/run-cli.ts';

const DAY_MS = 86_400_000;
const TZ = 'America/Toronto';
// 2026-11-30 12:00 in Toronto (UTC-5): the day before and after are other days.
const NOON = Date.UTC(2026, 10, 30, 17, 0, 0);

t.test('business days follow the time zone, not UTC', async (t) => {
  // 23:30 in Toronto on the 30th is already the 1st in UTC.
  const lateEvening = Date.UTC(2026, 11, 1, 4, 30);
  t.equal(businessDay(lateEvening, TZ), '2026-11-30');
  t.equal(businessDay(lateEvening, 'UTC'), '2026-12-01');
});

/** A log with sales on three days; the cloud is simulated from the same log with `tamper` applied to its events. */
async function fixture(t: Test, tamper: (seq: number, hash: string) => string | null = (_s, h) => h) {
  const dir = t.testdir();
  const term = await openSmallStore(join(dir, 'db'));
  t.teardown(() => term.close());
  await appendHistory(term, 10, { time: NOON - DAY_MS });
  await appendHistory(term, 21, { time: NOON });
  await appendHistory(term, 6, { time: NOON + DAY_MS });
  let syncs = 0;
  const deps: CloseDayDeps = {
    log: term.log, dataDir: dir, store: term.store, terminal: term.terminal, now: () => NOON + 2 * DAY_MS,
    syncUp: async () => { syncs++; },
    cloudDay: async (day, q) => {
      const b = new DaySummaryBuilder(day, q.timeZone, term.store, term.terminal);
      for await (const page of term.log.read(q.from, { to: q.to })) {
        for (const e of page) {
          const hash = tamper(e.seq, e.hash);
          if (hash !== null) b.add({ ...e, hash });
        }
      }
      return { summary: b.summary(), hashes: [...b.hashes] };
    },
  };
  return { dir, term, deps, syncs: () => syncs };
}

t.test('a Z report closes a day that matches, keeps it 0600, and answers it again', async (t) => {
  const { dir, deps, syncs } = await fixture(t);
  const z = await closeDay(deps, { day: '2026-11-30', timeZone: TZ });
  t.equal(syncs(), 1, 'pending events were uploaded first');
  t.equal(z.kind, 'Z');
  t.equal(z.matched, true);
  const s = z.terminalSummary;
  t.equal(s.events, 21, 'only the events of that day');
  t.equal(s.fromSeq, 11);
  t.equal(s.toSeq, 31);
  t.equal(s.sales.count, 10);
  t.equal(s.tenders.cash, s.sales.total, 'every sale was paid in cash');
  t.equal(s.storedValueChanges, 1);
  const file = join(dir, REPORTS_DIR, 'z-2026-11-30.json');
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.equal((await stat(join(dir, REPORTS_DIR))).mode & 0o777, 0o700);
  const again = await closeDay(deps, { day: '2026-11-30', timeZone: TZ });
  t.equal(again.alreadyClosed, true);
  t.equal(again.reportDigest, z.reportDigest, 'the kept report, not a new one');
  t.equal(syncs(), 1, 'a closed day is not closed again');

  // Checked later: the same history verifies; an edited file or a changed history does not.
  const kept = JSON.parse(await readFile(file, 'utf8')) as DayReport;
  t.same(verifyDayReport(kept, s).problems, []);
  const edited: DayReport = { ...kept, terminalSummary: { ...kept.terminalSummary, tenders: { ...kept.terminalSummary.tenders, cash: kept.terminalSummary.tenders.cash - 100 } } };
  t.same(verifyDayReport(edited, s).problems.map((p) => p.code), ['REPORT_TAMPERED', 'REPORT_MISMATCH']);
  const changed: DaySummary = { ...s, digest: 'f'.repeat(64) };
  t.same(verifyDayReport(kept, changed).problems.map((p) => p.code), ['REPORT_MISMATCH']);
});

t.test('a day the cloud holds differently is refused, naming the seqs, and nothing is kept', async (t) => {
  // The cloud lacks seq 14 and holds seq 20 with other bytes.
  const { dir, deps } = await fixture(t, (seq, hash) => (seq === 14 ? null : seq === 20 ? 'a'.repeat(64) : hash));
  const refused = await closeDay(deps, { day: '2026-11-30', timeZone: TZ }).then(() => undefined, (err: unknown) => err as { code: string; details: { missing: number[]; differing: number[]; extra: number[] } });
  t.equal(refused?.code, 'DAY_NOT_RECONCILED');
  t.same(refused?.details.missing, [14]);
  t.same(refused?.details.differing, [20]);
  t.same(refused?.details.extra, []);
  await t.rejects(stat(join(dir, REPORTS_DIR, 'z-2026-11-30.json')), { code: 'ENOENT' }, 'no report kept');
  // An X reading shows the same difference without closing anything.
  const x = await closeDay(deps, { day: '2026-11-30', timeZone: TZ, preview: true });
  t.equal(x.kind, 'X');
  t.equal(x.matched, false);
  t.same(x.difference, { missing: [14], differing: [20], extra: [] });
  // The other days are unaffected.
  t.equal((await closeDay(deps, { day: '2026-11-29', timeZone: TZ })).matched, true);
});

t.test('bad requests change nothing: a day not begun, an unknown time zone, a malformed day', async (t) => {
  const { deps, syncs } = await fixture(t);
  for (const req of [{ day: '2026-12-31', timeZone: TZ }, { day: '2026-11-30', timeZone: 'Mars/Olympus' }, { day: '2026-02-30', timeZone: TZ }, { day: '30/11/2026', timeZone: TZ }]) {
    await t.rejects(closeDay(deps, req), { code: 'VALIDATION_FAILED' }, JSON.stringify(req));
  }
  t.equal(syncs(), 0, 'nothing was uploaded for a refused request');
});

t.test('end to end: close-day through the agent and the CLI, X offline, audit --report against the agent and the cloud', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const target = { url: agent.url, pairingTokenFile: join(dir, 'till-1', 'agent-token') };
  await until('catalog downloaded', async () => (await api<{ items: unknown[] }>(target, 'GET', '/api/items?q=cola')).body.items.length === 1);
  for (let i = 0; i < 3; i++) {
    const sale = await api(target, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 + i }], payments: [{ tender: 'cash', tendered: 1_000 }] });
    t.equal(sale.status, 201);
  }
  const today = businessDay(Date.now(), 'UTC');

  // Local mode: a Z is refused with LOCAL_MODE, an X is the terminal's reading alone.
  await api(target, 'POST', '/api/local-mode', { on: true, hours: 1 });
  const zOffline = await api<{ error: { code: string } }>(target, 'POST', '/api/close-day', { timeZone: 'UTC' });
  t.equal(zOffline.body.error.code, 'LOCAL_MODE');
  const x = await api<DayReport>(target, 'POST', '/api/day-report', { timeZone: 'UTC' });
  t.equal(x.status, 200);
  t.equal(x.body.kind, 'X');
  t.equal(x.body.cloudSummary, null);
  t.equal(x.body.cloudError, 'LOCAL_MODE');
  t.equal(x.body.terminalSummary.sales.count, 3);
  await api(target, 'POST', '/api/local-mode', { on: false });
  t.equal((await api<{ error: { code: string } }>(target, 'GET', `/api/day-reports/${today}`)).body.error.code, 'DAY_NOT_CLOSED');

  // The CLI closes the day (uploading first) and prints the Z report.
  const env2 = { TILLSYNC_AGENT_TOKEN_FILE: target.pairingTokenFile };
  const closed = await runCli(['close-day', '--agent', agent.url, '--time-zone', 'UTC', '--json'], { env: env2 });
  t.equal(closed.code, 0, closed.stderr);
  const z = JSON.parse(closed.stdout) as DayReport;
  t.equal(z.kind, 'Z');
  t.equal(z.matched, true);
  t.same(z.cloudSummary, z.terminalSummary, 'the cloud summed the same from what it holds');
  t.equal((await api<AgentStatus>(target, 'GET', '/api/status')).body.sync.pending, 0, 'everything was uploaded first');
  const kept = await api<DayReport>(target, 'GET', `/api/day-reports/${today}`);
  t.equal(kept.body.reportDigest, z.reportDigest);

  // Checked again later, against the agent and against the cloud; an edited copy fails.
  const file = join(dir, 'z.json');
  await writeFile(file, JSON.stringify(z));
  const mine = await api<{ summary: DaySummary }>(target, 'GET', `/api/day-summary?day=${today}&tz=UTC`);
  t.same(verifyDayReport(z, mine.body.summary).problems, [], 'the agent\'s log still adds up to the report');
  t.equal((await api<{ error: { code: string } }>(target, 'GET', `/api/day-summary?day=${today}&tz=Nowhere%2FLand`)).body.error.code, 'VALIDATION_FAILED');
  const viaCloud = await runCli(['audit', '--report', file, '--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--store', 'store-1', '--json']);
  t.equal(viaCloud.code, 0, viaCloud.stdout + viaCloud.stderr);
  await writeFile(file, JSON.stringify({ ...z, terminalSummary: { ...z.terminalSummary, sales: { count: 2, total: z.terminalSummary.sales.total } } }));
  const edited = await runCli(['audit', '--report', file, '--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--store', 'store-1', '--json']);
  t.equal(edited.code, 3, 'findings exit 3');
  t.same((JSON.parse(edited.stdout) as { problems: Array<{ code: string }> }).problems.map((p) => p.code), ['REPORT_TAMPERED', 'REPORT_MISMATCH']);

  // The cloud's day route: a terminal sees only its own events; bad queries are refused.
  const noTz = await fetch(`${env.cloudUrl}/v1/admin/stores/store-1/terminals/till-1/days/${today}?from=1&to=5`, { headers: { authorization: `Bearer ${env.adminToken}` } });
  t.equal(noTz.status, 400);
  const unknown = await fetch(`${env.cloudUrl}/v1/admin/stores/store-1/terminals/till-9/days/${today}?tz=UTC&from=1&to=5`, { headers: { authorization: `Bearer ${env.adminToken}` } });
  t.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'TERMINAL_NOT_FOUND');
  const anon = await fetch(`${env.cloudUrl}/v1/days/${today}?tz=UTC&from=1&to=5`);
  t.equal(anon.status, 401);
});
