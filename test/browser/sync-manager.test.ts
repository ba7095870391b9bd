/**
 * The Sync Manager page in real Chromium against a real terminal agent and a
 * real cloud: local mode on, a sale scanned and paid cash on the checkout page
 * makes "pending" rise, local mode off uploads it (live, no reload), then every
 * option on the page is used once and its outcome read from the page.
 */
import t from 'tap';
import { screenshot, see, startBrowserEnv, numberOf } from './helpers/browser-env.ts';

t.test('Sync Manager: local mode, a scanned cash sale, and every option', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;

  const sm = await env.open(agent, '/');
  await see(sm, '#live', 'Live');
  await see(sm, '#where', 'Terminal till-1');
  await see(sm, '#conn-label', 'Online');
  await see(sm, '#feed', 'up to date');
  t.equal(await numberOf(sm, '#uploaded'), 0, 'nothing uploaded yet');
  t.equal(await numberOf(sm, '#pending'), 0, 'nothing pending yet');
  await see(sm, '#oldest-payment', 'none');

  // ---- Set local mode for 2 hours: the state says local mode until a time.
  await sm.fill('#local-hours', '2');
  await sm.check('#local-mode');
  await see(sm, '#conn-label', /^Local mode until \d/);
  await see(sm, '#result-local-mode', 'Local mode is on until');
  t.ok(await sm.isChecked('#local-mode'), 'the box stays ticked');
  t.ok(await sm.isDisabled('#local-hours'), 'the hours box is locked while local mode is on');

  // A refusal is shown in plain words: the hint for the code, and the code.
  await sm.click('#btn-sync-up');
  await see(sm, '#result-sync-up', 'Refused: Local mode is on: turn it off to talk to the cloud.');
  await see(sm, '#result-sync-up', 'LOCAL_MODE');

  // ---- A sale on the checkout page: scan (type + Enter) twice, pay cash.
  const co = await env.open(agent, '/checkout', 'cashier');
  await co.waitForSelector('#barcode:focus');
  await see(co, '#sync-state', 'Local mode');
  await co.keyboard.type('4006381333931');
  await co.keyboard.press('Enter');
  await see(co, '#cart-lines', 'Café au lait');
  await co.waitForSelector('#barcode:focus');
  await co.keyboard.type('4006381333931');
  await co.keyboard.press('Enter');
  await see(co, '#t-total', '$7.70'); // 2 × $3.50 + 10% tax
  t.equal(await co.inputValue('#cart-lines input.qty'), '2', 'the same barcode twice is one line of 2');
  await co.waitForSelector('#barcode:focus');
  await co.keyboard.type('999999');
  await co.keyboard.press('Enter');
  await see(co, '#scan-msg', 'Scan or search again: this item is not in the local catalog.');
  await see(co, '#scan-msg', 'ITEM_NOT_FOUND');
  await co.fill('#cash-tendered', '10');
  await see(co, '#cash-change', 'Change due: $2.30');
  await co.press('#cash-tendered', 'Enter');
  await see(co, '#receipt-change', 'Change due: $2.30');
  await see(co, '#receipt', '2 × Café au lait');
  await co.waitForSelector('#barcode:focus');
  await see(co, '#sync-pending', '1 sale ($7.70) not yet uploaded'); // in store terms: sales and money
  await see(co, '#cart-empty', 'The cart is empty');

  // Pending rises on the Sync Manager without a reload, as sales and money; the events behind them as the detail.
  await see(sm, '#pending', /^1$/);
  await see(sm, '#pending-detail', /^\$7\.70, oldest \d+ s ago · 2 events$/); // sale + payment, one atomic append
  t.equal(await numberOf(sm, '#uploaded'), 0, 'nothing uploaded in local mode');
  await see(sm, '#oldest-payment', /old \(event 2\)/);
  await see(sm, '#conn-label', /^Local mode until/);
  await screenshot(co, 'checkout-local-mode.png');

  // ---- Untick: uploaded rises and pending returns to 0, live.
  await sm.uncheck('#local-mode');
  await see(sm, '#result-local-mode', 'Local mode is off');
  await see(sm, '#uploaded', /^2$/);
  await see(sm, '#pending', /^0$/);
  await see(sm, '#pending-detail', 'everything is on the cloud');
  await see(sm, '#conn-label', 'Online');
  await see(sm, '#oldest-payment', 'none');
  await see(sm, '#last-up', '2 uploaded');
  await see(co, '#sync-pending', 'all uploaded');
  await see(co, '#sync-state', 'Online');

  // ---- Trigger sync up / down.
  await sm.click('#btn-sync-up');
  await see(sm, '#result-sync-up', /^Sync up done: 0 events uploaded; the cloud has everything up to event 2\.$/);
  await sm.click('#btn-sync-down');
  await see(sm, '#result-sync-down', /^Sync down done: \d+ changes? downloaded; up to date with change (\d+) of \1\.$/);

  // ---- Restore sync service.
  await sm.click('#btn-restore');
  await see(sm, '#result-restore', /^Sync service restarted \(restart 1 since the agent started\)/);
  await see(sm, '#push', '1 restart');
  await see(sm, '#conn-label', 'Online');

  // ---- Force full resync: dry run, confirmation, then uploaded vs skipped.
  await sm.click('#btn-force-resync');
  await sm.waitForSelector('#confirm[open]');
  await see(sm, '#confirm', 'The cloud has 2, lacks 0, different 0 of the 2 events kept on this terminal.');
  await see(sm, '#result-force-resync', 'Dry run: Cloud has 2, lacks 0, different 0');
  await screenshot(sm, 'sync-manager-force-resync-dialog.png');
  await sm.click('#confirm [data-confirm]');
  await see(sm, '#result-force-resync', 'Force full resync done: uploaded 0, skipped 2 already on the cloud (of 2 events).');

  // ---- Full data resync: asks first; cancelling changes nothing.
  await sm.click('#btn-full-resync');
  await sm.waitForSelector('#confirm[open]');
  await see(sm, '#confirm', 'Every transaction of this terminal is already on the cloud.');
  await sm.keyboard.press('Escape');
  await see(sm, '#result-full-resync', 'Cancelled; nothing was changed.');
  await sm.click('#btn-full-resync');
  await sm.waitForSelector('#confirm[open]');
  await sm.click('#confirm [data-confirm]');
  await see(sm, '#result-full-resync', /^Full data resync done: \d+ changes downloaded; verified against the cloud: 5 items, 2 customers, 2 balances, 1 voucher\.$/);
  // The catalog is back: the checkout page still scans.
  await co.keyboard.type('5000112637922');
  await co.keyboard.press('Enter');
  await see(co, '#cart-lines', 'Cola can 330ml');

  // ---- Clean up old transactions: a bad days box is refused before asking.
  await sm.fill('#cleanup-days', '2.5');
  await sm.click('#btn-cleanup');
  await see(sm, '#result-cleanup', 'VALIDATION_FAILED');
  await sm.fill('#cleanup-days', '0');
  await sm.click('#btn-cleanup');
  await sm.waitForSelector('#confirm[open]');
  await see(sm, '#confirm', 'older than 0 days');
  await sm.click('#confirm [data-confirm]');
  await see(sm, '#result-cleanup', /^Clean up done: removed 2 events, freed /);
  await see(sm, '#log-range', 'no events kept (1–2 cleaned up)');
  t.equal(await numberOf(sm, '#uploaded'), 2, 'uploaded count survives clean up');

  // ---- The stream reconnects by itself: drop the page's socket server-side, then change something.
  const peers = (agent.stream as unknown as { peers: Map<{ terminate(): void }, unknown> }).peers;
  t.ok(peers.size >= 2, 'both pages are subscribed');
  for (const ws of [...peers.keys()]) ws.terminate();
  await co.fill('#cash-tendered', '2');
  await co.press('#cash-tendered', 'Enter');
  await see(co, '#receipt-change', 'Change due: $0.50');
  await see(sm, '#pending', /^0$/);
  await see(sm, '#uploaded', /^4$/);
  await see(sm, '#live', 'Live');

  await see(sm, '#activity-label', 'Idle');
  await screenshot(sm, 'sync-manager.png');
  await screenshot(co, 'checkout-after-sale.png');
});
