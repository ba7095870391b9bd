/**
 * Cashier safeguards at the agent (issue 22 item 6): a discount, or a price
 * other than the catalog's, is a manager's. A cashier's sale carrying one is
 * refused FORBIDDEN_ROLE with nothing written; a manager's goes through and
 * is in the audit log as `sale.discount`. The session answer carries the
 * checkout's warning limits, configurable per agent.
 */
import t from 'tap';
import type { AuditEntry } from '../../src/terminal/audit-log.ts';
import { DEFAULT_CHECKOUT_WARNINGS } from '../../src/terminal/access-control.ts';
import { api, smallEnvironment } from '../helpers/env.ts';

type Err = { error: { code: string } };

t.test('discounts and price overrides need a manager', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const cashier = (await api<{ token: string }>(agent, 'POST', '/api/pairings', { name: 'front end', role: 'cashier' })).body.token;
  const as = (token: string, body: unknown) => api<Err & { sale: string; total: number }>(agent.url, 'POST', '/api/sales', body, { authorization: `Bearer ${token}` });
  const cash = [{ tender: 'cash', tendered: 5_000 }];
  const head = () => agent.terminal.log.head.seq;

  const before = head();
  for (const line of [{ item: 'itm-cafe', qty: 1, discount: 50 }, { item: 'itm-cafe', qty: 1, unitPrice: 1 }, { item: 'itm-cafe', qty: 1, unitPrice: 0 }]) {
    const r = await as(cashier, { lines: [{ item: 'itm-cola', qty: 1 }, line], payments: cash });
    t.equal(r.status, 403, JSON.stringify(line));
    t.equal(r.body.error.code, 'FORBIDDEN_ROLE', JSON.stringify(line));
  }
  t.equal(head(), before, 'nothing written for the refused sales');
  const plain = await as(cashier, { lines: [{ item: 'itm-cafe', qty: 1, unitPrice: 350, discount: 0 }], payments: cash });
  t.equal(plain.status, 201, "the catalog's own price and no discount are a cashier's");

  const managed = await api<{ sale: string; total: number }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cafe', qty: 2, discount: 100 }], payments: cash });
  t.equal(managed.status, 201, 'a manager (the pairing token) may');
  t.equal(managed.body.total, 600 + 60, '$7.00 less $1.00, plus 10% tax on $6.00');
  const audit = (await api<{ entries: AuditEntry[] }>(agent, 'GET', '/api/audit-log')).body.entries;
  const discounts = audit.filter((e) => e.action === 'sale.discount');
  t.equal(discounts.length, 4, 'every discount tried is audited (3 refused, 1 allowed)');
  t.equal(discounts.filter((e) => e.ok).length, 1);

  const session = await api<{ checkoutWarnings: typeof DEFAULT_CHECKOUT_WARNINGS }>(agent, 'GET', '/api/session');
  t.same(session.body.checkoutWarnings, DEFAULT_CHECKOUT_WARNINGS, 'the page gets the warning limits');
});
