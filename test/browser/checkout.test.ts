/**
 * The checkout page in real Chromium on two terminals of one store: money typed
 * as text becomes exact cents, a sale paid from a customer's account on
 * terminal 1 shows up as the new balance on terminal 2's page after sync
 * (without touching terminal 2's page), and a split payment by voucher, card
 * (simulated reader: token and last 4 only) and cash gives the right change.
 */
import t from 'tap';
import { numberOf, screenshot, see, startBrowserEnv, STORE, textOf, until } from './helpers/browser-env.ts';

t.test('checkout on two terminals: account credit seen across terminals, split payments', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const [a1, a2] = [env.agents[0]!, env.agents[1]!];

  const p1 = await env.open(a1, '/checkout', 'cashier');
  const p2 = await env.open(a2, '/checkout', 'cashier');
  await see(p1, '#sync-badge', 'Online');
  await see(p2, '#sync-badge', 'Online');

  // Money parsing on the page: text → integer cents, never through a float.
  const commonJs = '/assets/common.js';
  const parsed = await p1.evaluate(async (url) => {
    const m = (await import(url)) as { parseCents(s: string): number | null; formatCents(c: number): string };
    return {
      cents: ['12.50', '12.5', '12', '0.05', '$1,234.56', '0.29', '19.99', '', 'abc', '1.234', '-3'].map((s) => m.parseCents(s)),
      shown: [1250, 5, 0, -1999, 123456789].map((c) => m.formatCents(c)),
    };
  }, commonJs);
  t.same(parsed.cents, [1250, 1250, 1200, 5, 123456, 29, 1999, null, null, null, null], 'typed amounts become exact cents');
  t.same(parsed.shown, ['$12.50', '$0.05', '$0.00', '-$19.99', '$1,234,567.89'], 'cents are shown as dollars with 2 decimals');

  // Terminal 2 shows Ana's account before anything happens.
  await p2.fill('#customer-search', 'ana');
  await see(p2, '#customer-results', 'Ana Muñoz');
  await see(p2, '#customer-results', '$100.00');
  await p2.click('#customer-results button');
  await see(p2, '#customer-balance', '$100.00');

  // ---- Terminal 1: search an item (Enter takes the first match), edit the quantity, pick Ana, pay from her account.
  await p1.fill('#item-search', 'mug');
  await see(p1, '#item-results', 'Ceramic mug');
  await p1.press('#item-search', 'Enter');
  await see(p1, '#cart-lines', 'Ceramic mug');
  await p1.waitForSelector('#barcode:focus');
  await see(p1, '#t-total', '$9.89'); // $8.99 + 10% tax
  await p1.fill('#cart-lines input.qty', '2');
  await p1.press('#cart-lines input.qty', 'Enter');
  await see(p1, '#t-total', '$19.78');
  await see(p1, '#t-tax', '$1.80');
  await p1.waitForSelector('#barcode:focus');

  await p1.fill('#customer-search', 'munoz');
  await see(p1, '#customer-results', 'Ana Muñoz');
  await p1.keyboard.press('ArrowDown');
  await p1.keyboard.press('Enter');
  await see(p1, '#customer-name', 'Ana Muñoz');
  await see(p1, '#customer-balance', '$100.00');
  await p1.click('#tab-account');
  await see(p1, '#account-help', 'Ana Muñoz: $100.00 available.');
  t.equal(await p1.inputValue('#account-amount'), '19.78', 'the amount defaults to what is due');
  await p1.click('#account-add');
  await see(p1, '#payments', 'Account: Ana Muñoz');
  await see(p1, '#remaining', '$0.00');
  await screenshot(p1, 'checkout-account-payment.png');
  await p1.click('#complete');
  await see(p1, '#receipt-change', 'Paid in full');
  await see(p1, '#receipt-meta', 'Ana Muñoz: account balance now $80.22.');
  await see(p1, '#sync-pending', 'all uploaded');

  // ---- Terminal 2's page shows the new balance after sync, with nobody touching it.
  await see(p2, '#customer-balance', '$80.22');
  await see(p2, '#customer-balance-note', 'confirmed by the cloud');

  // ---- Terminal 2: a split payment — voucher, card from the simulated reader, cash with change.
  await p2.waitForSelector('#barcode:focus');
  await p2.keyboard.type('4006381333962');
  await p2.keyboard.press('Enter');
  await see(p2, '#cart-lines', 'Coffee beans dark roast 1kg');
  await see(p2, '#t-total', '$13.64'); // $12.99 + 5% tax
  await p2.click('#customer-clear');
  await p2.waitForSelector('#customer-search', { state: 'visible' });

  await p2.click('#tab-voucher');
  await p2.fill('#voucher-code', 'gv-test-0001');
  await p2.click('#voucher-check');
  await see(p2, '#voucher-balance', 'Voucher GV-TEST-0001: balance $25.00');
  await p2.fill('#voucher-amount', '5');
  await p2.click('#voucher-add');
  await see(p2, '#payments', 'Voucher GV-TEST-0001');
  await see(p2, '#remaining', '$8.64');

  await p2.click('#tab-card');
  t.equal(await p2.inputValue('#card-amount'), '8.64', 'the card amount defaults to what is due');
  // A card is never charged more than is due (the sale would then be refused PAYMENT_MISMATCH, after the customer paid).
  await p2.fill('#card-amount', '100');
  await p2.click('#card-reader');
  await see(p2, '#tender-msg', 'Not added: Enter at most $8.64: that is what is still due');
  t.equal(await p2.inputValue('#card-amount'), '8.64', 'the box is set back to what is due');
  t.equal(await p2.locator('#payment-lines tr').count(), 1, 'no card payment added');
  await p2.fill('#card-amount', 'five');
  await p2.click('#card-reader');
  await see(p2, '#tender-msg', 'Not added: Enter the amount as a number, like 12.50');
  await p2.fill('#card-amount', '5.00');
  await p2.click('#card-reader');
  const approved = await see(p2, '#tender-msg', /^Card approved: \S.* •••• \d{4}, \$5\.00 \(token tok_sim_[0-9a-f]{16}\)\.$/);
  const last4 = /•••• (\d{4})/.exec(approved)![1]!;
  await see(p2, '#remaining', '$3.64');

  await p2.click('#tab-cash');
  await p2.fill('#cash-tendered', '3');
  await see(p2, '#cash-change', 'Short by $0.64');
  await p2.click('#complete');
  await see(p2, '#sale-msg', 'PAYMENT_MISMATCH');
  await p2.fill('#cash-tendered', '5');
  await see(p2, '#cash-change', 'Change due: $1.36');
  await screenshot(p2, 'checkout-split-payment.png');
  await p2.press('#cash-tendered', 'Enter');
  await see(p2, '#receipt-change', 'Change due: $1.36');
  const receipt = await textOf(p2, '#receipt');
  t.match(receipt, `•••• ${last4}`, 'the receipt names the card by its last 4');
  t.notMatch(receipt, /\d{13,19}/, 'no card number anywhere on the receipt');
  await see(p2, '#sync-pending', 'all uploaded');

  // What reached the cloud: a processor token, brand and last 4 — and the voucher's new balance.
  type Stored = { events: Array<{ event: { type: string; body: { tender?: string; card?: Record<string, string> } } }> };
  const card = await until('the card payment on the cloud', async () => {
    const stored = await env.admin<Stored>('GET', `/v1/admin/stores/${STORE}/events?terminal=till-2`);
    return stored.events.map((e) => e.event).find((e) => e.type === 'payment.taken' && e.body.tender === 'card')?.body.card;
  });
  t.same(Object.keys(card ?? {}).sort(), ['authCode', 'brand', 'last4', 'token'], 'only token, brand, last 4 and auth code');
  t.equal(card?.last4, last4, 'the last 4 the page showed');
  t.match(card?.token, /^tok_sim_[0-9a-f]{16}$/, 'a processor token from the simulated reader');
  await until('the voucher at $20.00 on the cloud', async () => (await env.admin<{ balance: number }>('GET', `/v1/admin/stores/${STORE}/vouchers/GV-TEST-0001`)).balance === 2_000);

  // Terminal 1 sees the voucher's new balance after sync.
  await p1.click('#tab-voucher');
  await p1.fill('#voucher-code', 'GV-TEST-0001');
  await p1.click('#voucher-check');
  await see(p1, '#voucher-balance', 'Voucher GV-TEST-0001: balance $20.00');
  await see(p1, '#sync-pending', 'all uploaded'); // terminal 1 has nothing pending

  // A cart ready to pay, for the README's screenshot.
  await p1.click('#tab-cash');
  await p1.fill('#item-search', 'croissant');
  await p1.press('#item-search', 'Enter');
  await see(p1, '#cart-lines', 'Butter croissant');
  await p1.keyboard.type('4006381333931');
  await p1.keyboard.press('Enter');
  await see(p1, '#cart-lines', 'Café au lait');
  await p1.fill('#customer-search', 'bob');
  await see(p1, '#customer-results', 'Bob Stone');
  await p1.click('#customer-results button');
  await see(p1, '#customer-balance', '$5.00');
  await p1.fill('#cash-tendered', '10');
  await see(p1, '#cash-change', 'Change due: $3.12');
  await screenshot(p1, 'checkout.png');

  // A revoked credential is shown as such on terminal 2's Sync Manager and badge; selling goes on.
  const sm2 = await env.open(a2, '/');
  await see(sm2, '#conn-label', 'Online');
  await env.admin('POST', `/v1/admin/stores/${STORE}/terminals/till-2/revoke`);
  await sm2.click('#btn-sync-up');
  await see(sm2, '#result-sync-up', 'CREDENTIAL_REVOKED');
  await see(sm2, '#result-sync-up', 'Refused: This terminal credential was revoked: re-enroll the terminal to get a new one.');
  await see(sm2, '#conn-label', 'Credential revoked');
  await see(p2, '#sync-state', 'Credential revoked');
});
