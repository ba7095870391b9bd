/**
 * Issue 21.1: an audit of a till that keeps selling is a pure read of one
 * consistent point. Through the real agent API: concurrent sellers post sales
 * as fast as the agent takes them while `POST /api/audit` runs in a loop; no
 * audit raises a finding, the log stays healthy, and no sale is refused.
 * (Before the fix, verify read the head's seq at its start and the live head
 * hash at its end: CHAIN_BROKEN on a healthy log, then LOG_CORRUPTED for every sale.)
 */
import t from 'tap';
import type { AgentStatus } from '../../src/terminal/agent.ts';
import type { AuditReport } from '../../src/terminal/audit.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';

const SELLERS = 12;
const AUDITS = 12;

t.test('an audit loop during a sales load never raises a finding on a healthy log', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  await until('catalog downloaded', () => agent.terminal.searchItems('cola').length === 1);

  let stop = false;
  let sold = 0;
  const refused: string[] = [];
  const sell = async (): Promise<void> => {
    while (!stop) {
      const r = await api<{ error?: { code: string } }>(agent, 'POST', '/api/sales', {
        lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }],
      }).catch(() => undefined);
      if (!r) {
        if (!stop) refused.push('NO_ANSWER');
        return;
      }
      if (r.status === 201) sold++;
      else refused.push(r.body.error?.code ?? String(r.status));
    }
  };
  const started = Date.now();
  const sellers = Array.from({ length: SELLERS }, () => sell());
  // A failed wait must not leave the sellers running past the test.
  t.teardown(async () => { stop = true; await Promise.all(sellers); });
  // Let the load build up so the first audit already runs across moving state.
  await until('sales flowing', () => sold >= 100, 120_000);

  const findings: AuditReport['findings'] = [];
  let audited = 0;
  try {
    for (let i = 0; i < AUDITS; i++) {
      const before = sold;
      const r = await api<AuditReport & { error?: { code: string } }>(agent, 'POST', '/api/audit', {});
      t.equal(r.status, 200, `audit ${i} answered`);
      findings.push(...(r.body.findings ?? []));
      audited += r.body.events ?? 0;
      t.ok(sold > before || i === 0 || refused.length > 0, `sales went on during audit ${i}`);
    }
  } finally {
    stop = true;
    await Promise.all(sellers);
  }
  const seconds = (Date.now() - started) / 1000;
  t.comment(`${sold} sales in ${seconds.toFixed(1)} s (${Math.round(sold / seconds)} sales/s, ${SELLERS} sellers) during ${AUDITS} audits of ${audited} events in all`);
  t.same(findings, [], 'no audit raised a finding');
  t.same(refused, [], 'no sale was refused');
  const s = (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  t.equal(s.log.health, 'ok', 'the log is still healthy');
  t.equal(s.log.head, sold * 2, 'every acknowledged sale (sale + payment) is in the log');
  const after = await api<{ sale?: string }>(agent, 'POST', '/api/sales', {
    lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }],
  });
  t.equal(after.status, 201, 'the till still sells');
});
