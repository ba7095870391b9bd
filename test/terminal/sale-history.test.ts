/**
 * The till's recent sales (issue 22 item 5, sale-history.ts): read from the
 * terminal's own log newest first, paged without gaps or repeats, with refund
 * and void state, no card token, and what happens after a cleanup; then the
 * same through a real agent and cloud, with hostile queries refused.
 */
import t from 'tap';
import { openSmallStore } from '../helpers/small-store.ts';
import { ACK_META_KEY } from '../../src/replication/upload-loop.ts';
import { readAckSeq } from '../../src/terminal/cleanup.ts';
import { recentSales, type SaleHistoryPage, type SaleSummary } from '../../src/terminal/sale-history.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';

const card = { token: 'tok_sim_0011223344556677', brand: 'visa', last4: '4242', authCode: 'A1B2C3' } as const;

t.test('recent sales from the log: newest first, paged exactly, with refund and void state', async (t) => {
  const term = await openSmallStore(t.testdir());
  t.teardown(() => term.close());
  const deps = { log: term.log, sale: (id: string) => term.sale(id), ackSeq: () => readAckSeq(term.log) };

  t.same(await recentSales(deps, { limit: 10 }), { sales: [], next: null, cleanedUpTo: 0 }, 'no sales yet');

  const made: string[] = [];
  for (let i = 0; i < 25; i++) {
    const payments = i % 3 === 0 ? [{ tender: 'card' as const, amount: 385, card }]
      : i % 3 === 1 ? [{ tender: 'account' as const, amount: 385, customer: 'cus-ana' }]
        : [{ tender: 'cash' as const, tendered: 500 }];
    const r = await term.completeSale({ lines: [{ item: 'itm-cafe', qty: 1 }], payments, ...(i % 3 === 1 ? { customer: 'cus-ana' } : {}) });
    made.push(r.sale);
    // Events that are not sales in between: they must not show or break the paging.
    if (i === 4) await term.adjustBalance({ customer: 'cus-bob', delta: 100 });
  }
  await term.refund({ sale: made[24]!, amount: 100, tender: 'cash', reason: 'cold' });
  await term.voidSale({ sale: made[23]!, reason: 'wrong till' });

  const pages: SaleHistoryPage[] = [];
  let before: number | undefined;
  do {
    const page = await recentSales(deps, { limit: 10, ...(before !== undefined ? { before } : {}) });
    pages.push(page);
    before = page.next ?? undefined;
  } while (before !== undefined && pages.length < 10);
  const all = pages.flatMap((p) => p.sales);
  t.same(pages.map((p) => p.sales.length), [10, 10, 5], 'three pages');
  t.same(all.map((s) => s.id), [...made].reverse(), 'every sale once, newest first');
  t.ok(all.every((s, i) => i === 0 || s.seq < all[i - 1]!.seq), 'seqs descend');

  const [refunded, voided] = [all[0]!, all[1]!]; // made[24] (card), made[23] (cash)
  t.equal(refunded.refunded, 100, 'the refund shows');
  t.equal(refunded.voided, false);
  t.equal(voided.voided, true, 'the void shows');
  t.same(refunded.lines.map((l) => [l.item, l.qty, l.unitPrice]), [['itm-cafe', 1, 350]], 'the lines, for a reprint');
  t.equal(refunded.total, 385);
  t.same(voided.payments, [{ tender: 'cash', amount: 385, tendered: 500, change: 115 }], 'cash with tendered and change');
  t.same(refunded.payments, [{ tender: 'card', amount: 385, brand: 'visa', last4: '4242' }], 'a card shows brand and last 4 only');
  t.notOk(JSON.stringify(all).includes(card.token) || JSON.stringify(all).includes(card.authCode), 'no processor token or auth code in the history');
  t.equal(all.find((s) => s.id === made[1])!.customer, 'cus-ana');
  t.ok(all.every((s) => !s.uploaded), 'nothing acknowledged yet');

  // Once the cloud acknowledged a prefix, those sales read as uploaded.
  const mid = all[12]!;
  await term.log.setMeta({ [ACK_META_KEY]: mid.seq });
  const again = (await recentSales(deps, { limit: 100 })).sales;
  t.same(again.filter((s) => s.uploaded).map((s) => s.id), all.slice(12).map((s) => s.id), 'uploaded up to the acknowledged seq');
  t.equal((await recentSales(deps, { limit: 100 })).next, null, 'one page holds all: no next');
});

t.test('through the agent: the list, hostile queries, and the list after a cleanup', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const sale = await api<{ sale: string }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-jal', qty: 2 }], payments: [{ tender: 'card', amount: 1_942, card }] });
  t.equal(sale.status, 201);
  const list = await api<SaleHistoryPage>(agent, 'GET', '/api/sales');
  t.equal(list.status, 200);
  t.same(list.body.sales.map((s: SaleSummary) => s.id), [sale.body.sale]);
  t.equal(list.body.sales[0]!.total, 1_942);

  for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1e2', 'before=0', 'before=-1', 'before=99999999999999999', 'other=1', 'limit=5&limit=6', 'before=%00']) {
    const r = await api<{ error: { code: string } }>(agent, 'GET', `/api/sales?${q}`);
    t.equal(r.status, 400, q);
    t.equal(r.body.error.code, q === 'other=1' ? 'UNKNOWN_FIELD' : 'VALIDATION_FAILED', q);
  }

  // Uploaded, then cleaned up: the list is empty and says the cloud keeps them.
  await until('uploaded', async () => ((await api<SaleHistoryPage>(agent, 'GET', '/api/sales')).body.sales[0]?.uploaded ? true : undefined));
  const cleaned = await api<{ events: number }>(agent, 'POST', '/api/cleanup', { olderThanDays: 0 });
  t.equal(cleaned.status, 200);
  t.ok(cleaned.body.events > 0, 'events were cleaned up');
  const after = await api<SaleHistoryPage>(agent, 'GET', '/api/sales');
  t.same(after.body.sales, [], 'no sales kept');
  t.ok(after.body.cleanedUpTo > 0, 'the page says up to where the log was cleaned');
  t.equal(after.body.next, null);
});
