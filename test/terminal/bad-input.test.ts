/**
 * Every invalid sale and operation is refused with its code, and the LevelDB
 * folder (log, views, meta) is byte-for-byte unchanged afterwards, as are the
 * in-memory views the cashier reads.
 */
import t from 'tap';
import { dumpDb, openSmallStore } from '../helpers/small-store.ts';

const card = { token: 'tok_visa_8f2a', brand: 'visa', last4: '4242', authCode: 'A1B2C3' };
const ok = { customer: 'cus-ana', lines: [{ item: 'itm-cola', qty: 2 }], payments: [{ tender: 'cash', tendered: 500 }] };

const BAD_SALES: Array<[string, unknown, string]> = [
  ['unknown top-level field', { ...ok, discountCode: 'X' }, 'UNKNOWN_FIELD'],
  ['unknown line field', { ...ok, lines: [{ item: 'itm-cola', qty: 1, colour: 'red' }] }, 'UNKNOWN_FIELD'],
  ['float quantity', { ...ok, lines: [{ item: 'itm-cola', qty: 1.5 }] }, 'VALIDATION_FAILED'],
  ['negative quantity', { ...ok, lines: [{ item: 'itm-cola', qty: -1 }] }, 'VALIDATION_FAILED'],
  ['float money', { ...ok, payments: [{ tender: 'cash', tendered: 500.5 }] }, 'MONEY_NOT_INTEGER'],
  ['money as string', { ...ok, payments: [{ tender: 'cash', tendered: '500' }] }, 'VALIDATION_FAILED'],
  ['negative discount', { ...ok, lines: [{ item: 'itm-cola', qty: 1, discount: -5 }] }, 'NEGATIVE_AMOUNT'],
  ['discount above the line', { ...ok, lines: [{ item: 'itm-cola', qty: 1, discount: 151 }] }, 'SALE_TOTAL_MISMATCH'],
  ['no lines', { ...ok, lines: [] }, 'VALIDATION_FAILED'],
  ['no payments', { ...ok, payments: [] }, 'VALIDATION_FAILED'],
  ['unknown tender', { ...ok, payments: [{ tender: 'iou', amount: 300 }] }, 'VALIDATION_FAILED'],
  ['unknown item', { ...ok, lines: [{ item: 'itm-none', qty: 1 }] }, 'ITEM_NOT_FOUND'],
  ['unknown customer', { ...ok, customer: 'cus-none' }, 'CUSTOMER_NOT_FOUND'],
  ['card overpays', { ...ok, payments: [{ tender: 'card', amount: 301, card }] }, 'PAYMENT_MISMATCH'],
  ['card and cash overpay', { ...ok, payments: [{ tender: 'card', amount: 400, card }, { tender: 'cash', tendered: 100 }] }, 'PAYMENT_MISMATCH'],
  ['cash short', { ...ok, payments: [{ tender: 'cash', tendered: 299 }] }, 'PAYMENT_MISMATCH'],
  ['two cash payments', { ...ok, payments: [{ tender: 'cash', tendered: 200 }, { tender: 'cash', tendered: 200 }] }, 'PAYMENT_MISMATCH'],
  ['full card number in token', { ...ok, payments: [{ tender: 'card', amount: 300, card: { ...card, token: '4111111111111111' } }] }, 'FULL_CARD_NUMBER'],
  ['card number field', { ...ok, payments: [{ tender: 'card', amount: 300, card: { ...card, number: '5500 0000 0000 0004' } }] }, 'FULL_CARD_NUMBER'],
  ['cvv', { ...ok, payments: [{ tender: 'card', amount: 300, card: { ...card, cvv: '123' } }] }, 'CVV_REJECTED'],
  ['last4 too long', { ...ok, payments: [{ tender: 'card', amount: 300, card: { ...card, last4: '42424' } }] }, 'VALIDATION_FAILED'],
  ['account over balance', { customer: 'cus-bob', lines: [{ item: 'itm-cola', qty: 4 }], payments: [{ tender: 'account', amount: 600 }] }, 'INSUFFICIENT_BALANCE'],
  ['account without customer', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'account', amount: 150 }] }, 'CUSTOMER_NOT_FOUND'],
  ['voucher over value', { lines: [{ item: 'itm-coffee', qty: 2 }], payments: [{ tender: 'voucher', voucher: 'GV-TEST-0001', amount: 2_728 }] }, 'INSUFFICIENT_VOUCHER'],
  ['unknown voucher', { ...ok, payments: [{ tender: 'voucher', voucher: 'GV-NONE-0000', amount: 300 }] }, 'VOUCHER_NOT_FOUND'],
  ['__proto__ key', JSON.parse('{"lines":[{"item":"itm-cola","qty":1}],"payments":[{"tender":"cash","tendered":500}],"__proto__":{"x":1}}'), 'UNKNOWN_FIELD'],
];

t.test('bad sales change nothing, byte for byte', async (t) => {
  const term = await openSmallStore(t.testdir(), { isOffline: () => false });
  t.teardown(() => term.close());
  await term.completeSale(ok as never); // some history first
  const before = await dumpDb(term);
  const digestBefore = await term.views.digest();
  const balanceBefore = term.customerAccount('cus-bob').balance;
  for (const [name, input, code] of BAD_SALES) {
    await t.rejects(term.completeSale(input as never), { code }, name);
  }
  const after = await dumpDb(term);
  t.same([...after.entries()], [...before.entries()], 'LevelDB unchanged');
  t.same(await term.views.digest(), digestBefore, 'views unchanged');
  t.equal(term.customerAccount('cus-bob').balance, balanceBefore);
  t.equal(({} as { x?: number }).x, undefined, 'no prototype pollution');
});

t.test('bad refunds, voids, adjustments and vouchers change nothing', async (t) => {
  const term = await openSmallStore(t.testdir(), { isOffline: () => false });
  t.teardown(() => term.close());
  const sale = await term.completeSale(ok as never);
  const before = await dumpDb(term);
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['refund of unknown sale', () => term.refund({ sale: '01ARZ3NDEKTSV4RRFFQ69G5FAV', amount: 1, tender: 'cash', reason: '' }), 'SALE_NOT_FOUND'],
    ['refund too much', () => term.refund({ sale: sale.sale, amount: 301, tender: 'cash', reason: '' }), 'REFUND_EXCEEDS_SALE'],
    ['refund zero', () => term.refund({ sale: sale.sale, amount: 0, tender: 'cash', reason: '' }), 'NEGATIVE_AMOUNT'],
    ['refund float', () => term.refund({ sale: sale.sale, amount: 1.25, tender: 'cash', reason: '' }), 'MONEY_NOT_INTEGER'],
    ['refund with extra field', () => term.refund({ sale: sale.sale, amount: 1, tender: 'cash', reason: '', extra: 1 } as never), 'UNKNOWN_FIELD'],
    ['refund to unknown customer', () => term.refund({ sale: sale.sale, amount: 1, tender: 'account', customer: 'nobody', reason: '' }), 'CUSTOMER_NOT_FOUND'],
    ['void unknown', () => term.voidSale({ sale: '01ARZ3NDEKTSV4RRFFQ69G5FAV', reason: '' }), 'SALE_NOT_FOUND'],
    ['adjust unknown customer', () => term.adjustBalance({ customer: 'nobody', delta: 5 }), 'CUSTOMER_NOT_FOUND'],
    ['adjust below zero', () => term.adjustBalance({ customer: 'cus-bob', delta: -501 }), 'INSUFFICIENT_BALANCE'],
    ['adjust by zero', () => term.adjustBalance({ customer: 'cus-bob', delta: 0 }), 'MONEY_NOT_INTEGER'],
    ['redeem unknown voucher', () => term.redeemVoucher({ voucher: 'GV-NONE-0000', amount: 5 }), 'VOUCHER_NOT_FOUND'],
    ['redeem too much', () => term.redeemVoucher({ voucher: 'GV-TEST-0001', amount: 2_501 }), 'INSUFFICIENT_VOUCHER'],
    ['issue bad code', () => term.issueVoucher({ voucher: 'x', amount: 5 }), 'VALIDATION_FAILED'],
    ['issue card-number-like code', () => term.issueVoucher({ voucher: '4111111111111111', amount: 5 }), 'FULL_CARD_NUMBER'],
  ];
  for (const [name, run, code] of cases) await t.rejects(run(), { code }, name);
  t.same([...(await dumpDb(term)).entries()], [...before.entries()], 'LevelDB unchanged');
});
