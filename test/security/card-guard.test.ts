// The card-data guard's pieces, each against what it fixed: notations the old guard let through,
// ids and barcodes, money bounds, agent.json, and ITEM_NOT_FOUND not echoing a scan.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { barcodeAllowed, containsCardNumber, isGtin, luhnValid } from '../../src/events/card-data.ts';
import { isTillsyncError } from '../../src/errors.ts';
import { fullPathsForTests, parseChange, parseDraft } from '../../src/events/validate.ts';
import { AGENT_CONFIG_FILE, writeAgentConfig } from '../../src/terminal/agent.ts';
import { openSmallStore } from '../helpers/small-store.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isTillsyncError(err) ? err.code : `not a TillsyncError: ${String(err)}`;
  }
}
async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    return isTillsyncError(err) ? err.code : `not a TillsyncError: ${String(err)}`;
  }
}

t.test('notations the old guard missed are found', async (t) => {
  const pan = '4111111111111111';
  for (const s of [
    `${pan} 123`, `${pan} 12/28`, '4111.1111.1111.1111', '4111/1111/1111/1111', '4111_1111_1111_1111', '4111,1111,1111,1111',
    '4111\t1111\t1111\t1111', '4111\n1111\n1111\n1111', '4111  1111  1111  1111', '4111\u00a01111\u00a01111\u00a01111',
    [...pan].join('\u200b'), '４１１１１１１１１１１１１１１１', '٤١١١١١١١١١١١١١١١', `${pan}7`, `98${pan}01`,
  ]) t.ok(containsCardNumber(s), JSON.stringify(s));
  t.notOk(containsCardNumber('Ana Muñoz, +1 (555) 010-2030'), 'a phone number is not one');
  t.notOk(containsCardNumber('Cola can 330ml x 12'), 'ordinary text is not one');
});

t.test('barcodes: GTINs pass, a card number never does', async (t) => {
  t.ok(isGtin('4006381333931') && barcodeAllowed('4006381333931'), 'an EAN-13');
  t.notOk(barcodeAllowed('4111111111111111'), 'a 16-digit card number');
  const item = { id: 'i1', sku: 'S', name: 'Tea', barcodes: ['4111111111111111'], price: 100, taxRate: 0 };
  t.equal(codeOf(() => parseChange({ cursor: 1, type: 'item.upserted', body: item })), 'FULL_CARD_NUMBER', 'in an item\'s barcodes');
  t.equal(codeOf(() => parseChange({ cursor: 1, type: 'item.upserted', body: { ...item, barcodes: [], id: '4111111111111111' } })), 'FULL_CARD_NUMBER', 'as an item id');
  t.equal(codeOf(() => parseChange({ cursor: 1, type: 'customer.upserted', body: { id: '5555555555554444', name: 'N' } })), 'FULL_CARD_NUMBER', 'as a customer id');
});

t.test('money above its bound is refused on the fast and the full path alike', async (t) => {
  const drafts = [
    { type: 'voucher.redeemed', body: { voucher: 'GV-1', amount: 4111111111111111 } },
    { type: 'balance.delta', body: { customer: 'c1', delta: -4111111111111111, reason: 'adjustment' } },
    { type: 'sale.completed', body: { currency: 'USD', lines: [{ item: 'i', name: 'n', qty: 1, unitPrice: 4111111111111111, discount: 0, tax: 0 }], subtotal: 4111111111111111, discount: 0, tax: 0, total: 4111111111111111 } },
  ];
  for (const d of drafts) {
    t.equal(codeOf(() => parseDraft(d)), 'AMOUNT_TOO_LARGE', d.type);
    t.equal(codeOf(() => fullPathsForTests.parseDraft(d)), 'AMOUNT_TOO_LARGE', `${d.type} (full path)`);
  }
  t.equal(codeOf(() => parseDraft({ type: 'voucher.redeemed', body: { voucher: 'GV-1', amount: 1_000_000_000 } })), 'ok', 'the bound itself is allowed');
});

t.test('agent.json never takes a card number', async (t) => {
  const dir = t.testdir();
  const code = await codeOfAsync(() => writeAgentConfig(dir, { store: 's1', terminal: 't1', cloudUrl: 'http://127.0.0.1:9', token: 'tsk_4111-1111-1111-1111' }));
  t.equal(code, 'FULL_CARD_NUMBER');
  t.notOk(existsSync(join(dir, AGENT_CONFIG_FILE)), 'nothing written');
});

t.test('ITEM_NOT_FOUND does not echo what was scanned', async (t) => {
  const term = await openSmallStore(join(t.testdir(), 'db'));
  t.teardown(() => term.close());
  // A valid EAN-13 that is also Luhn-valid (accepted as a barcode, unknown to the catalog).
  let code = '';
  for (let n = 400638133390; !code; n++) {
    const body = String(n);
    for (let d = 0; d <= 9 && !code; d++) if (isGtin(body + d) && luhnValid(body + d)) code = body + d;
  }
  try {
    term.scan(code);
    t.fail('scan found an unknown code');
  } catch (err) {
    t.ok(isTillsyncError(err, 'ITEM_NOT_FOUND'));
    t.notOk(JSON.stringify((err as Error).message).includes(code), 'the message does not hold the scanned code');
  }
});
