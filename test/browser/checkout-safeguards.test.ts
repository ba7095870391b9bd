/**
 * Cashier safeguards in real Chromium (issue 22 item 6): a quantity the page
 * cannot take says why and keeps the line; a line above the warning quantity
 * is named and asked about before the sale completes ("Back to the cart"
 * completes nothing); a cashier has no discount control; a manager gives a
 * line a discount, which the receipt and the stored sale carry.
 */
import t from 'tap';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { api } from '../helpers/env.ts';
import { screenshot, see, startBrowserEnv } from './helpers/browser-env.ts';

t.test('checkout safeguards: quantities, warnings, a manager discount', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const page = await env.open(agent, '/checkout', 'cashier');
  await see(page, '#sync-badge', 'Online');

  await page.fill('#barcode', '5000112637922'); // cola, $1.50, no tax
  await page.press('#barcode', 'Enter');
  await see(page, '#t-total', '$1.50');
  t.equal(await page.locator('#cart-lines [data-action=discount]').count(), 0, 'a cashier has no discount control');

  // A quantity the page cannot take: said why, the line keeps its quantity.
  await page.fill('#cart-lines input.qty', '2.5');
  await page.press('#cart-lines input.qty', 'Enter');
  await see(page, '#quote-msg', 'Quantity not changed');
  await see(page, '#quote-msg', 'whole number from 1 to 100,000');
  t.equal(await page.inputValue('#cart-lines input.qty'), '1');

  // Above the warning quantity (50): named, and asked about on Complete.
  await page.fill('#cart-lines input.qty', '60');
  await page.press('#cart-lines input.qty', 'Enter');
  await see(page, '#t-total', '$90.00');
  await see(page, '#cart-warning', '60 × Cola can 330ml is more than 50: is the quantity right?');
  await page.click('#cash-exact');
  const before = agent.terminal.log.head.seq;
  await page.click('#complete');
  await see(page, '#confirm [data-title]', 'Check this sale');
  const warnShot = await screenshot(page, 'checkout-warning.png');
  await page.click('#confirm [data-cancel]');
  await see(page, '#sale-msg', 'Not completed yet');
  t.equal(agent.terminal.log.head.seq, before, '"Back to the cart" completed nothing');
  await page.click('#complete');
  await page.click('#confirm [data-confirm]');
  await see(page, '#receipt-title', /^Receipt$/);
  await see(page, '#receipt-lines', '60 × Cola can 330ml');

  // A manager discounts a line; the receipt and the stored sale carry it.
  const mgr = await env.open(agent, '/checkout', 'manager');
  await see(mgr, '#sync-badge', 'Online');
  await mgr.fill('#barcode', '4006381333931'); // café au lait, $3.50 + 10% tax
  await mgr.press('#barcode', 'Enter');
  await see(mgr, '#t-total', '$3.85');
  await mgr.click('#cart-lines [data-action=discount]');
  await mgr.fill('#discount-amount', '9.00');
  await mgr.click('#discount-apply');
  await see(mgr, '#discount-msg', 'at most $3.50');
  await mgr.fill('#discount-amount', '0.50');
  await mgr.click('#discount-apply');
  await see(mgr, '#t-discount', '-$0.50');
  await see(mgr, '#t-total', '$3.30'); // $3.00 + 10% tax
  await see(mgr, '#cart-lines', 'incl. -$0.50 discount');
  await mgr.click('#cash-exact');
  await mgr.click('#complete');
  await see(mgr, '#receipt-totals', '-$0.50');
  const latest = await api<{ sales: Array<{ total: number; discount: number; lines: Array<{ discount: number }> }> }>(agent, 'GET', '/api/sales?limit=1');
  t.equal(latest.body.sales[0]!.total, 330);
  t.equal(latest.body.sales[0]!.lines[0]!.discount, 50, 'the stored sale carries the discount');
  await copyFile(warnShot, join(process.cwd(), 'docs', 'checkout-warning.png'));
});
