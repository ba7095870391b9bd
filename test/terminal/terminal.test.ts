import t from 'tap';
import { openSmallStore } from '../helpers/small-store.ts';

const card = { token: 'tok_visa_8f2a', brand: 'visa' as const, last4: '4242', authCode: 'A1B2C3' };

t.test('search is case- and accent-insensitive, prefix, ranked', async (t) => {
  const term = await openSmallStore(t.testdir());
  t.teardown(() => term.close());
  t.same(term.searchItems('creme').map((i) => i.id), ['itm-creme']);
  t.same(term.searchItems('CRÈME BRU').map((i) => i.id), ['itm-creme']);
  t.same(term.searchItems('jalapeno').map((i) => i.id), ['itm-jal']);
  t.same(term.searchItems('caf').map((i) => i.id), ['itm-cafe']);
  t.same(term.searchItems('col-004').map((i) => i.id), ['itm-cola'], 'SKU, exact');
  // "co" prefixes cola, coffee and the SKU COL/COF: exact word ranks above prefix.
  const co = term.searchItems('co').map((i) => i.id);
  t.ok(co.includes('itm-cola') && co.includes('itm-coffee'));
  t.same(term.searchItems('coffee').map((i) => i.id)[0], 'itm-coffee');
  t.same(term.searchItems('zzz'), []);
  t.same(term.searchItems(''), []);
});

t.test('scan is exact; unknown barcode has its code', async (t) => {
  const term = await openSmallStore(t.testdir());
  t.teardown(() => term.close());
  t.equal(term.scan('5000112637939').id, 'itm-cola');
  t.equal(term.scan(' 4006381333931 ').id, 'itm-cafe');
  t.throws(() => term.scan('400638133393'), { code: 'ITEM_NOT_FOUND' });
});

t.test('customer search by name, phone digits and email', async (t) => {
  const term = await openSmallStore(t.testdir());
  t.teardown(() => term.close());
  t.same(term.searchCustomers('munoz').map((c) => c.id), ['cus-ana']);
  t.same(term.searchCustomers('(555) 010-2030').map((c) => c.id), ['cus-ana']);
  t.same(term.searchCustomers('2030').map((c) => c.id), ['cus-ana']);
  t.same(term.searchCustomers('bob@example').map((c) => c.id), ['cus-bob']);
  t.equal(term.customerAccount('cus-ana').balance, 10_000);
  t.throws(() => term.customerAccount('nobody'), { code: 'CUSTOMER_NOT_FOUND' });
});

t.test('a sale with split tenders is one atomic durable group', async (t) => {
  const dir = t.testdir();
  let term = await openSmallStore(dir);
  // 2 × café (350, 10% tax → 35 each line net 700 → tax 70) + cola 150 (0%) = 700 + 70 + 150 = 920
  const r = await term.completeSale({
    customer: 'cus-ana',
    lines: [{ item: 'itm-cafe', qty: 2 }, { item: 'itm-cola', qty: 1 }],
    payments: [{ tender: 'account', amount: 300 }, { tender: 'card', amount: 200, card }, { tender: 'cash', tendered: 500 }],
  });
  t.equal(r.total, 920);
  t.equal(r.change, 80);
  t.equal(r.events, 5, 'sale + 3 payments + balance delta');
  t.equal(term.customerAccount('cus-ana').balance, 9_700);
  t.equal(term.customerAccount('cus-ana').unconfirmed, -300);
  await term.close();
  term = await openSmallStore(dir);
  t.teardown(() => term.close());
  t.equal(term.log.head.seq, 5);
  t.equal(term.customerAccount('cus-ana').balance, 9_700, 'durable across reopen');
  const sale = await term.sale(r.sale);
  t.equal(sale?.payments.length, 3);
  t.equal((await term.log.verify({ full: true })).ok, true);
});

t.test('payments must cover the total exactly; only cash gives change', async (t) => {
  const term = await openSmallStore(t.testdir());
  t.teardown(() => term.close());
  const lines = [{ item: 'itm-cola', qty: 2 }]; // 300
  await t.rejects(term.completeSale({ lines, payments: [{ tender: 'card', amount: 299, card }] }), { code: 'PAYMENT_MISMATCH' });
  await t.rejects(term.completeSale({ lines, payments: [{ tender: 'card', amount: 400, card }] }), { code: 'PAYMENT_MISMATCH' });
  await t.rejects(term.completeSale({ lines, payments: [{ tender: 'card', amount: 400, card }, { tender: 'cash', tendered: 100 }] }), { code: 'PAYMENT_MISMATCH' });
  await t.rejects(term.completeSale({ lines, payments: [{ tender: 'cash', tendered: 200 }] }), { code: 'PAYMENT_MISMATCH' });
  await t.rejects(term.completeSale({ lines: [{ item: 'nope', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] }), { code: 'ITEM_NOT_FOUND' });
  t.equal(term.log.head.seq, 0, 'nothing appended');
});

t.test('stored value never goes below zero locally, even under concurrency', async (t) => {
  const term = await openSmallStore(t.testdir(), { isOffline: () => false });
  t.teardown(() => term.close());
  // Bob holds 500. Two concurrent sales of 300 each on account: exactly one may pass.
  const sale = () => term.completeSale({ customer: 'cus-bob', lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'account', amount: 300 }] });
  const results = await Promise.allSettled([sale(), sale()]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  t.equal(failed.reason.code, 'INSUFFICIENT_BALANCE');
  t.equal(term.customerAccount('cus-bob').balance, 200);
  await t.rejects(term.completeSale({ lines: [{ item: 'itm-cola', qty: 20 }], payments: [{ tender: 'voucher', voucher: 'GV-TEST-0001', amount: 3_000 }] }), { code: 'INSUFFICIENT_VOUCHER' });
  await t.rejects(term.completeSale({ lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'voucher', voucher: 'GV-NOPE-0001', amount: 150 }] }), { code: 'VOUCHER_NOT_FOUND' });
  const v = await term.completeSale({ lines: [{ item: 'itm-cola', qty: 10 }], payments: [{ tender: 'voucher', voucher: 'GV-TEST-0001', amount: 1_500 }] });
  t.equal(v.total, 1_500);
  t.equal(term.voucherBalance('GV-TEST-0001').balance, 1_000);
});

t.test('offline policy: forbid and cap', async (t) => {
  const forbid = await openSmallStore(t.testdir(), { settings: { offlineStoredValue: 'forbid' } });
  await t.rejects(forbid.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'account', amount: 150 }] }), { code: 'OFFLINE_STORED_VALUE_FORBIDDEN' });
  await t.rejects(forbid.redeemVoucher({ voucher: 'GV-TEST-0001', amount: 100 }), { code: 'OFFLINE_STORED_VALUE_FORBIDDEN' });
  t.equal(forbid.log.head.seq, 0);
  await forbid.close();

  const cap = await openSmallStore(t.testdir(), { settings: { offlineStoredValue: 'cap', offlineCap: 1_000 } });
  t.teardown(() => cap.close());
  await cap.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 6 }], payments: [{ tender: 'account', amount: 900 }] });
  await t.rejects(cap.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'account', amount: 150 }] }), { code: 'OFFLINE_STORED_VALUE_CAP' });
  t.equal(cap.customerAccount('cus-ana').balance, 9_100);
  // Once the cloud confirms the spend (includes our seq), the cap frees up again.
  await cap.log.applyChanges([{ cursor: 100, type: 'balance.state', body: { customer: 'cus-ana', balance: 9_100, includes: { 'till-1': cap.log.head.seq } } }], 100);
  t.equal(cap.customerAccount('cus-ana').balance, 9_100, 'no double counting');
  await cap.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'account', amount: 150 }] });
  t.equal(cap.customerAccount('cus-ana').balance, 8_950);
});

t.test('refund and void give stored value back, with limits', async (t) => {
  const term = await openSmallStore(t.testdir(), { isOffline: () => false });
  t.teardown(() => term.close());
  const s = await term.completeSale({ customer: 'cus-ana', lines: [{ item: 'itm-coffee', qty: 1 }], payments: [{ tender: 'account', amount: 1_364 }] });
  t.equal(s.total, 1_364); // 1299 + 5% (64.95 → 65)
  await term.refund({ sale: s.sale, amount: 364, tender: 'account', reason: 'damaged' });
  t.equal(term.customerAccount('cus-ana').balance, 10_000 - 1_000);
  await t.rejects(term.refund({ sale: s.sale, amount: 1_001, tender: 'cash', reason: 'x' }), { code: 'REFUND_EXCEEDS_SALE' });
  await t.rejects(term.voidSale({ sale: s.sale, reason: 'x' }), { code: 'SALE_ALREADY_REFUNDED' });
  const s2 = await term.completeSale({ lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'voucher', voucher: 'GV-TEST-0001', amount: 150 }] });
  const [a, b] = await Promise.allSettled([term.voidSale({ sale: s2.sale, reason: 'mistake' }), term.voidSale({ sale: s2.sale, reason: 'again' })]);
  t.equal(a.status, 'fulfilled');
  t.equal(b.status === 'rejected' && (b.reason as { code: string }).code, 'SALE_ALREADY_VOIDED');
  t.equal(term.voucherBalance('GV-TEST-0001').balance, 2_500);
  await t.rejects(term.refund({ sale: s2.sale, amount: 10, tender: 'cash', reason: 'x' }), { code: 'SALE_ALREADY_VOIDED' });
  await t.rejects(term.refund({ sale: '01ARZ3NDEKTSV4RRFFQ69G5FAV', amount: 10, tender: 'cash', reason: 'x' }), { code: 'SALE_NOT_FOUND' });
});

t.test('balance adjustments and voucher issue/redeem', async (t) => {
  const term = await openSmallStore(t.testdir(), { isOffline: () => false });
  t.teardown(() => term.close());
  await term.adjustBalance({ customer: 'cus-bob', delta: 250, note: 'goodwill' });
  t.equal(term.customerAccount('cus-bob').balance, 750);
  await t.rejects(term.adjustBalance({ customer: 'cus-bob', delta: -751 }), { code: 'INSUFFICIENT_BALANCE' });
  await t.rejects(term.adjustBalance({ customer: 'cus-bob', delta: 1.5 }), { code: 'MONEY_NOT_INTEGER' });
  await term.issueVoucher({ voucher: 'GV-NEW-0002', amount: 1_000 });
  await term.redeemVoucher({ voucher: 'GV-NEW-0002', amount: 400 });
  t.equal(term.voucherBalance('GV-NEW-0002').balance, 600);
});
