/**
 * The Sync Manager's alarm in real Chromium (issue 22 item 2): a card sale
 * waiting in local mode raises "Needs attention" (money only on this terminal),
 * then "Act now" as the card payment nears the processor's offline window (a
 * 3-second window here, so the test need not wait a day), each reason with what
 * to do, pushed by the agent with nothing else happening; turning local mode
 * off uploads it and the alarm goes away, live.
 */
import t from 'tap';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { api } from '../helpers/env.ts';
import { screenshot, see, startBrowserEnv } from './helpers/browser-env.ts';

t.test('Sync Manager alarm: amber, then red, then clear', async (t) => {
  const env = await startBrowserEnv(t.testdir(), { alarms: { amountAmberCents: 100, amountRedCents: 1_000_000, cardWindowMs: 3_000 } });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const sm = await env.open(agent, '/');
  await see(sm, '#feed', 'up to date');
  t.ok(await sm.isHidden('#alarm'), 'no alarm while all is well');

  await api(agent, 'POST', '/api/local-mode', { on: true, hours: 1 });
  const card = { token: 'tok_test_0001', brand: 'visa', last4: '4242', authCode: 'A1234' };
  const sale = await api(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-beans', qty: 1 }], payments: [{ tender: 'card', amount: 500, card }, { tender: 'cash', tendered: 5_000 }] });
  t.equal(sale.status, 201);
  await see(sm, '#alarm-title', 'Needs attention');
  await see(sm, '#alarm-reasons', /\$13\.64 in 1 sale is only on this terminal\./);
  await see(sm, '#alarm-reasons', 'Get the terminal online');

  // With time alone (nothing else happens): the agent pushes the alarm when it changes.
  await see(sm, '#alarm-title', 'Act now');
  t.equal(await sm.getAttribute('#alarm', 'data-level'), 'red');
  await see(sm, '#alarm-reasons', /oldest card payment not yet uploaded is .* offline window/);
  await see(sm, '#alarm-reasons', 'call the card processor');
  await see(sm, '#card-deadline', /past the processor's 3 s window by \d+ s: upload now/);
  t.equal(await sm.getAttribute('#card-deadline', 'data-level'), 'red', 'the countdown is red past the deadline');
  // The till shows it too: the checkout's sync badge takes the alarm's colour and reasons.
  const till = await env.open(agent, '/checkout', 'cashier');
  await till.waitForSelector('#sync-badge[data-alarm=red]');
  t.equal(await till.getAttribute('#sync-badge', 'data-tone'), 'bad', 'the badge is red at the till');
  t.match(await till.getAttribute('#sync-badge', 'title'), /offline window/, 'with the reason on hover');
  const shot = await screenshot(sm, 'sync-manager-alarm.png');
  await copyFile(shot, join(process.cwd(), 'docs', 'sync-manager-alarm.png'));

  await sm.uncheck('#local-mode');
  await see(sm, '#pending', /^0$/);
  await sm.waitForSelector('#alarm', { state: 'hidden' });
  await till.waitForSelector('#sync-badge[data-alarm=ok]');
  await see(sm, '#card-deadline', /no card payment waiting/);
  t.pass('the alarm clears once everything is on the cloud');
});
