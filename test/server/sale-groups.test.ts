// Issue 24, item 2: a sale's atomic group is accepted or quarantined as one; a
// delta against a customer the back office removed is money that moved (applied,
// with an exception); quarantined events are reviewed and released through the
// admin API, a sale group as one. Real LevelDB cloud through fastify inject.
import t from 'tap';
import type { EventDraft } from '../../src/events/event-types.ts';
import { admin, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';

/** The group Terminal.completeSale appends for a sale paid on account. */
function accountSale(saleId: string, customer: string, amount: number, currency = 'EUR'): EventDraft[] {
  return [
    { ...sale(amount, currency, customer), id: saleId },
    { type: 'payment.taken', body: { sale: saleId, tender: 'account', amount, customer } },
    { type: 'balance.delta', body: { customer, delta: -amount, reason: 'sale', sale: saleId } },
  ];
}
function voucherSale(saleId: string, voucher: string, amount: number): EventDraft[] {
  return [
    { ...sale(amount), id: saleId },
    { type: 'payment.taken', body: { sale: saleId, tender: 'voucher', amount, voucher } },
    { type: 'voucher.redeemed', body: { voucher, amount, sale: saleId } },
  ];
}
const SALE_A = '01JD0AAAAAAAAAAAAAAAAAAAA1';
const SALE_B = '01JD0AAAAAAAAAAAAAAAAAAAA2';

t.test('an offline account sale to a customer removed meanwhile: all accepted, debited, one exception', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append(accountSale(SALE_A, 'c1', 2_000)); // taken offline, before the removal reached the till
  t.equal((await admin(app, 'DELETE', '/v1/admin/stores/s1/customers/c1')).status, 200);

  const r = await upload(app, tokens.t1!, evs);
  t.same(r.body, { ackSeq: 3, accepted: 3, duplicates: 0, quarantined: 0, conflicts: [] }, 'the group is not split');
  t.same(await storage.listQuarantine('s1', 10), []);
  const bal = await admin(app, 'GET', '/v1/admin/stores/s1/customers/c1/balance');
  t.equal(bal.status, 200, "the removed customer's ledger is kept");
  t.equal(bal.body.balance, 8_000, 'the credit spent at the till is debited');
  const ex = await admin(app, 'GET', '/v1/admin/stores/s1/exceptions');
  t.equal(ex.body.exceptions.length, 1, 'one exception raised');
  t.match(ex.body.exceptions[0], { reason: 'customer-removed', subject: { kind: 'balance', customer: 'c1' }, status: 'open', shortfall: 0, events: [{ seq: 3, amount: 2_000 }] });

  // A second delta joins the open exception instead of opening another.
  const more = await log.append(accountSale(SALE_B, 'c1', 9_000));
  t.same((await upload(app, tokens.t1!, more)).body.accepted, 3);
  const ex2 = await admin(app, 'GET', '/v1/admin/stores/s1/exceptions');
  t.equal(ex2.body.exceptions.length, 1);
  t.match(ex2.body.exceptions[0], { reason: 'customer-removed', shortfall: 1_000, lowest: -1_000 });
  t.equal(ex2.body.exceptions[0].events.length, 2);
});

t.test('a customer removed before it ever had a balance keeps an (empty) ledger too', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append(accountSale(SALE_A, 'c2', 300)); // c2 was created without an opening balance
  t.equal((await admin(app, 'DELETE', '/v1/admin/stores/s1/customers/c2')).status, 200);
  t.same((await upload(app, tokens.t1!, evs)).body.accepted, 3);
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/customers/c2/balance')).body.balance, -300);
  const ex = await admin(app, 'GET', '/v1/admin/stores/s1/exceptions');
  t.match(ex.body.exceptions, [{ reason: 'customer-removed', shortfall: 300 }]);
});

t.test('one refused event quarantines its whole sale group; the next sale is judged on its own', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append([...voucherSale(SALE_A, 'NO-SUCH-VOUCHER', 700), ...accountSale(SALE_B, 'c1', 400)]);
  const r = await upload(app, tokens.t1!, evs);
  t.same(r.body, { ackSeq: 6, accepted: 3, duplicates: 0, quarantined: 3, conflicts: [] });
  const q = await storage.listQuarantine('s1', 10);
  t.same(q.map((x) => [x.seq, x.type, x.code]), [
    [1, 'sale.completed', 'VOUCHER_NOT_FOUND'],
    [2, 'payment.taken', 'VOUCHER_NOT_FOUND'],
    [3, 'voucher.redeemed', 'VOUCHER_NOT_FOUND'],
  ], 'the sale, its payment and the redeem together');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/customers/c1/balance')).body.balance, 9_600, 'the other sale applied');
});

t.test('a sale in the wrong currency takes its account payment and delta with it into quarantine; release applies the group', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append(accountSale(SALE_A, 'c1', 1_500, 'USD'));
  t.same((await upload(app, tokens.t1!, evs)).body, { ackSeq: 3, accepted: 0, duplicates: 0, quarantined: 3, conflicts: [] });
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/customers/c1/balance')).body.balance, 10_000, 'nothing debited while quarantined');

  // Review: the listing, then release by any event of the group.
  const list = await admin(app, 'GET', '/v1/admin/stores/s1/quarantine');
  t.same(list.body.quarantined.map((x: { seq: number; code: string }) => [x.seq, x.code]), [[1, 'CURRENCY_MISMATCH'], [2, 'CURRENCY_MISMATCH'], [3, 'CURRENCY_MISMATCH']]);
  const rel = await admin(app, 'POST', '/v1/admin/stores/s1/quarantine/t1/2/release');
  t.equal(rel.status, 200);
  t.same(rel.body.released.map((x: { seq: number }) => x.seq), [1, 2, 3], 'the whole group released');
  t.same(await storage.listQuarantine('s1', 10), []);
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/customers/c1/balance')).body.balance, 8_500, 'the delta applied on release');
  t.equal((await storage.getHighWater('s1', 't1')).quarantined, 0);
  t.equal((await storage.getCounters('s1')).quarantined, 0);
  const read = await admin(app, 'GET', '/v1/admin/stores/s1/events?terminal=t1');
  t.notOk(read.body.events.some((e: { quarantine?: unknown }) => e.quarantine), 'events read as accepted');

  const again = await admin(app, 'POST', '/v1/admin/stores/s1/quarantine/t1/2/release');
  t.equal(again.status, 404);
  t.equal(again.body.error.code, 'NOT_FOUND', 'nothing left to release');
  const bad = await admin(app, 'POST', '/v1/admin/stores/s1/quarantine/t1/zero/release');
  t.equal(bad.body.error.code, 'VALIDATION_FAILED');
  const unknown = await admin(app, 'POST', '/v1/admin/stores/s1/quarantine/t9/1/release');
  t.equal(unknown.body.error.code, 'TERMINAL_NOT_FOUND');
});

t.test('an event whose id another event holds is never released', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const [first] = await log.append([sale()]);
  await upload(app, tokens.t1!, [first!]);
  const { encodeCanonical } = await import('../../src/events/codec.ts');
  const reused = { ...first!.event, seq: 2, prev: first!.hash };
  t.same((await upload(app, tokens.t1!, [encodeCanonical(reused)])).body.quarantined, 1);
  const r = await admin(app, 'POST', '/v1/admin/stores/s1/quarantine/t1/2/release');
  t.equal(r.status, 409);
  t.equal(r.body.error.code, 'EVENT_CONFLICT');
});
