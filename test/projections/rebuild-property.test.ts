/**
 * Property: for random interleavings of sales (all tenders), refunds, voids,
 * balance adjustments, voucher issue/redeem and downstream changes (items,
 * customers, cloud balance states that include some of our seqs), the views
 * maintained incrementally equal a full rebuild from history — byte for byte.
 * Also: a second, independent rebuild into a scratch area diffs clean.
 *
 * Seeded: the seed is printed; replay one with SEED=<n> npx tap <this file>.
 */
import t from 'tap';
import { createRng, seedFromEnv } from '../../src/fixtures/prng.ts';
import { TerminalViews, diffViews } from '../../src/projections/terminal-views.ts';
import type { Change } from '../../src/events/event-types.ts';
import { CUSTOMERS, ITEMS, openSmallStore } from '../helpers/small-store.ts';

const card = { token: 'tok_x_1234', brand: 'mastercard' as const, last4: '0004', authCode: 'Z9' };

for (let round = 0; round < 3; round++) {
  const seed = seedFromEnv() + round;
  t.test(`rebuild equals incremental (seed ${seed})`, async (t) => {
    t.comment(`seed ${seed} — replay with SEED=${seed - round}`);
    const rng = createRng(seed);
    const term = await openSmallStore(t.testdir(), { isOffline: () => rng.chance(0.5), settings: { offlineStoredValue: 'allow' } });
    t.teardown(() => term.close());
    const sales: string[] = [];
    let cursor = 1000;
    let refused = 0;
    // The cloud's includes for a terminal only grow (it is that terminal's acknowledged seq).
    const included = new Map<string, number>();
    const grow = (key: string): number => {
      const next = rng.int(included.get(key) ?? 0, term.log.head.seq);
      included.set(key, next);
      return next;
    };
    for (let i = 0; i < 300; i++) {
      const op = rng.weighted([['sale', 10], ['refund', 2], ['void', 1], ['adjust', 2], ['voucher', 2], ['change', 3]] as const);
      try {
        if (op === 'sale') {
          const lines = Array.from({ length: rng.int(1, 3) }, () => ({ item: rng.pick(ITEMS).id, qty: rng.int(1, 3) }));
          const price = lines.reduce((s, l) => s + ITEMS.find((x) => x.id === l.item)!.price * l.qty, 0) * 2;
          const customer = rng.pick(CUSTOMERS).id;
          const tender = rng.pick(['cash', 'card', 'account', 'voucher'] as const);
          // Pay part by stored value/card when it fits, the rest in cash (over-tendered: change).
          const payments = tender === 'cash' ? [{ tender: 'cash' as const, tendered: price }]
            : tender === 'card' ? [{ tender: 'card' as const, amount: 1, card }, { tender: 'cash' as const, tendered: price }]
            : tender === 'account' ? [{ tender: 'account' as const, amount: rng.int(1, 200) }, { tender: 'cash' as const, tendered: price }]
            : [{ tender: 'voucher' as const, voucher: 'GV-TEST-0001', amount: rng.int(1, 200) }, { tender: 'cash' as const, tendered: price }];
          const r = await term.completeSale({ customer, lines, payments });
          sales.push(r.sale);
        } else if (op === 'refund' && sales.length > 0) {
          await term.refund({ sale: rng.pick(sales), amount: rng.int(1, 300), tender: rng.pick(['cash', 'account', 'voucher'] as const), reason: 'test' });
        } else if (op === 'void' && sales.length > 0) {
          await term.voidSale({ sale: rng.pick(sales), reason: 'test' });
        } else if (op === 'adjust') {
          await term.adjustBalance({ customer: rng.pick(CUSTOMERS).id, delta: rng.int(-300, 300) || 1 });
        } else if (op === 'voucher') {
          if (rng.chance(0.5)) await term.issueVoucher({ voucher: rng.pick(['GV-TEST-0001', 'GV-NEW-0002']), amount: rng.int(1, 500) });
          else await term.redeemVoucher({ voucher: rng.pick(['GV-TEST-0001', 'GV-NEW-0002']), amount: rng.int(1, 100) });
        } else if (op === 'change') {
          const changes: Change[] = [];
          const kind = rng.int(0, 3);
          if (kind === 0) changes.push({ cursor: ++cursor, type: 'item.upserted', body: { ...rng.pick(ITEMS), price: rng.int(1, 2000) } });
          else if (kind === 1) {
            const customer = rng.pick(CUSTOMERS).id;
            changes.push({ cursor: ++cursor, type: 'balance.state', body: { customer, balance: rng.int(0, 20_000), includes: { 'till-1': grow(customer), 'till-2': rng.int(0, 50) } } });
          }
          else if (kind === 2) changes.push({ cursor: ++cursor, type: 'voucher.state', body: { voucher: 'GV-TEST-0001', balance: rng.int(0, 5_000), includes: { 'till-1': grow('voucher') } } });
          else changes.push({ cursor: ++cursor, type: 'customer.upserted', body: { ...rng.pick(CUSTOMERS), name: `Renamed ${rng.int(1, 99)}` } });
          await term.log.applyChanges(changes, cursor);
        }
      } catch (err) {
        const code = (err as { code?: string }).code;
        // Business refusals are part of the property (they must change nothing); anything else fails.
        t.ok(code && /INSUFFICIENT|REFUND_EXCEEDS|ALREADY|NOT_FOUND|PAYMENT_MISMATCH|CHANGE_NOT_CASH|OFFLINE/.test(code), `refusal ${code}`);
        refused++;
      }
    }
    t.comment(`${term.log.head.seq} events, ${refused} refusals`);
    t.ok(term.log.head.seq > 100, 'a real history was built');

    const incremental = await term.views.digest();
    // Independent rebuild into a scratch area, compared key by key.
    const scratch = new TerminalViews(term.log.db, 'till-1', 'scratch');
    await scratch.rebuildFrom(term.log);
    t.same(await diffViews(term.views, scratch), [], 'scratch rebuild diffs clean');
    await scratch.clear();
    // Rebuild in place: identical digests.
    await term.views.rebuildFrom(term.log);
    await term.views.load();
    t.same(await term.views.digest(), incremental, 'in-place rebuild digest equals incremental');
    // And the cashier-facing reads agree.
    for (const c of CUSTOMERS) t.type(term.customerAccount(c.id).balance, 'number');
  });
}

t.test('no-op changes keep the same record object (structural sharing)', async (t) => {
  const term = await openSmallStore(t.testdir());
  t.teardown(() => term.close());
  const before = term.views.balanceRecord('cus-ana');
  await term.log.applyChanges([{ cursor: 500, type: 'balance.state', body: { customer: 'cus-ana', balance: 10_000, includes: {} } }], 500);
  t.equal(term.views.balanceRecord('cus-ana'), before, 'same object: nothing changed');
});

t.test('rebuild after cleanup starts from a snapshot', async (t) => {
  const term = await openSmallStore(t.testdir(), { isOffline: () => false });
  t.teardown(() => term.close());
  for (let i = 0; i < 20; i++) await term.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'account', amount: 150 }] });
  const info = await term.views.snapshot(term.log);
  t.equal(info.seq, 60);
  t.equal((await term.views.snapshotInfo())?.seq, 60);
  const digest = await term.views.digest();
  await term.views.rebuildFrom(term.log);
  t.same(await term.views.digest(), digest);
});
