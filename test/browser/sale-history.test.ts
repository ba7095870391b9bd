/**
 * Recent sales at the till in real Chromium (issue 22 item 5): the checkout
 * page lists this terminal's sales newest first; a reprint shows the sale's
 * receipt (card by brand and last 4); a cashier refunds part of a sale from the
 * list; a cashier's void is refused in words (a manager must do it) and a
 * manager's void goes through; a sale made on the page appears at the top.
 */
import t from 'tap';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { api } from '../helpers/env.ts';
import { screenshot, see, startBrowserEnv, until } from './helpers/browser-env.ts';

const card = { token: 'tok_test_0002', brand: 'visa', last4: '4242', authCode: 'B5678' };

t.test('recent sales: reprint, refund and void from the list', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const mug = await api<{ sale: string }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-mug', qty: 1 }], payments: [{ tender: 'cash', tendered: 1_000 }] });
  const beans = await api<{ sale: string }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-beans', qty: 1 }], payments: [{ tender: 'card', amount: 1_364, card }] });
  t.equal(mug.status, 201);
  t.equal(beans.status, 201);
  const row = (sale: string) => `#history-lines tr[data-sale="${sale}"]`;

  const page = await env.open(agent, '/checkout', 'cashier');
  await see(page, row(beans.body.sale), '$13.64');
  await see(page, row(beans.body.sale), 'Visa •••• 4242');
  await see(page, row(mug.body.sale), '$9.89');
  const order = await page.$$eval('#history-lines tr', (rows) => rows.map((r) => r.getAttribute('data-sale')));
  t.same(order, [beans.body.sale, mug.body.sale], 'newest first');

  // Reprint: the sale's own lines and payments, not the page's cart.
  await page.click(`${row(beans.body.sale)} [data-action=reprint]`);
  await see(page, '#receipt-title', 'Receipt (reprint)');
  await see(page, '#receipt-lines', '1 × Coffee beans dark roast 1kg');
  await see(page, '#receipt-totals', 'Visa •••• 4242');
  await see(page, '#receipt-meta', beans.body.sale);

  // A cashier refunds part of the mug sale (within the refund limit).
  await page.click(`${row(mug.body.sale)} [data-action=refund]`);
  t.equal(await page.inputValue('#refund-amount'), '9.89', 'the refund defaults to what is left of the sale');
  await page.fill('#refund-amount', '2.00');
  await page.click('#sale-action-confirm');
  await see(page, '#sale-action-msg', 'Say why');
  await page.fill('#action-reason', 'chipped');
  await page.click('#sale-action-confirm');
  await see(page, '#history-msg', 'Refunded $2.00 of the $9.89 sale.');
  await see(page, row(mug.body.sale), 'refunded $2.00');
  t.equal(await page.getAttribute(row(mug.body.sale), 'data-state'), 'refunded');

  // A cashier may not void: the refusal is in words, nothing changes.
  await page.click(`${row(beans.body.sale)} [data-action=void]`);
  await page.fill('#action-reason', 'customer changed mind');
  await page.click('#sale-action-confirm');
  await see(page, '#sale-action-msg', 'FORBIDDEN_ROLE');
  await page.click('#sale-action button[value=cancel]');
  const still = await api<{ voided: boolean }>(agent, 'GET', `/api/sales/${beans.body.sale}`);
  t.equal(still.body.voided, false, 'the refused void changed nothing');

  // A sale made on the page goes to the top of the list.
  await page.fill('#barcode', '5000112637922');
  await page.press('#barcode', 'Enter');
  await see(page, '#t-total', '$1.50');
  await page.click('#cash-exact');
  await page.click('#complete');
  await see(page, '#receipt-title', /^Receipt$/);
  await until('the new sale listed', async () => ((await page.locator('#history-lines tr').count()) === 3 ? true : undefined));
  await see(page, '#history-lines tr:first-child', '$1.50');
  await screenshot(page, 'checkout-recent-sales.png');

  // The manager voids the card sale from the list.
  const mgr = await env.open(agent, '/checkout', 'manager');
  await see(mgr, row(beans.body.sale), /uploaded/);
  await mgr.click(`${row(beans.body.sale)} [data-action=void]`);
  await mgr.fill('#action-reason', 'customer changed mind');
  await mgr.click('#sale-action-confirm');
  await see(mgr, '#history-msg', 'Sale of $13.64 voided.');
  await see(mgr, `${row(beans.body.sale)} td.state`, 'voided');
  t.equal(await mgr.locator(`${row(beans.body.sale)} [data-action=void]`).count(), 0, 'no second void offered');
  t.equal(await mgr.locator(`${row(beans.body.sale)} [data-action=refund]`).count(), 0, 'no refund of a voided sale offered');
  const voided = await api<{ voided: boolean }>(agent, 'GET', `/api/sales/${beans.body.sale}`);
  t.equal(voided.body.voided, true, 'the agent holds the void');
  const shot = await screenshot(mgr, 'checkout-recent-sales-voided.png');
  await copyFile(shot, join(process.cwd(), 'docs', 'checkout-recent-sales.png'));
});
