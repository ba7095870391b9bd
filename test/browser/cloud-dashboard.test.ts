/**
 * The cloud's store-wide dashboard in real Chromium against a real cloud:
 * store-1 (two real terminal agents, syncing) and store-2 (a terminal driven
 * through the terminal's real transport, with a quarantined sale, an
 * overdrawn customer and two sales it has not uploaded yet). The owner signs
 * in with the admin token, sees both stores and their terminals with what is
 * pending, resolves the exception and releases the quarantined sale from the
 * page, opens a terminal's sync history, and watches an upload land live.
 */
import t from 'tap';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { api } from '../helpers/env.ts';
import { screenshot, see, startBrowserEnv, until } from './helpers/browser-env.ts';
import { DELI, seedDeli, signInDashboard } from './helpers/dashboard-env.ts';

t.test('cloud dashboard: two stores, pending sales, resolve an exception, release a quarantined sale', async (t) => {
  const dir = t.testdir(); // once: a second call empties the folder
  const env = await startBrowserEnv(dir);
  t.teardown(() => env.stop());
  const deli = await seedDeli(dir, env.cloudUrl, env.admin);
  t.teardown(() => deli.close());

  // A real agent in local mode sells; its own transport then calls the cloud once (as its next
  // sync would), reporting what it holds.
  const till2 = env.agents[1]!;
  await api(till2, 'POST', '/api/local-mode', { on: true, hours: 1 });
  const sold = (await api<{ total: number }>(till2, 'POST', '/api/sales', { lines: [{ item: 'itm-mug', qty: 2 }], payments: [{ tender: 'cash', tendered: 5000 }] })).body;
  const soldText = `1 sale / $${(sold.total / 100).toFixed(2)} not yet uploaded`;
  await until('till-2 reports its sale to the cloud', async () => {
    await till2.transport.syncState();
    const o = await env.admin<{ stores: Array<{ terminals: Array<{ id: string; presence?: { report?: { sales: number } } }> }> }>('GET', '/v1/admin/overview');
    return o.stores[0]!.terminals.find((x) => x.id === 'till-2')?.presence?.report?.sales === 1;
  });

  const page = await env.browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signInDashboard(page, env.cloudUrl, env.adminToken);
  t.equal(await page.evaluate('document.cookie'), '', 'the session cookie is HttpOnly: scripts cannot read it');

  // Both stores, their terminals, what each has not uploaded.
  await see(page, 'section[data-store="store-1"] h2', 'Corner Café');
  await see(page, `section[data-store="${DELI}"] h2`, 'Harbour Deli');
  const till1Row = 'tr[data-store="store-1"][data-terminal="till-1"]';
  const till2Row = 'tr[data-store="store-1"][data-terminal="till-2"]';
  await see(page, `${till1Row} .last-seen`, /just now|s ago/);
  await see(page, `${till1Row} .last-seen`, 'live stream');
  await see(page, `${till1Row} .pending`, 'all uploaded');
  await see(page, `${till2Row} .pending`, soldText);
  await see(page, 'section[data-store="store-1"] .summary', soldText);
  const t1 = `tr[data-store="${DELI}"][data-terminal="t1"]`;
  await see(page, `${t1} .pending`, '2 sales / €22.40 not yet uploaded');
  await see(page, `${t1} .pending`, '2 events');
  await see(page, `${t1} .ack`, 'seq 3');
  await see(page, `${t1} .quarantined`, /^1$/);
  await see(page, `tr[data-store="${DELI}"][data-terminal="t2"] .last-seen`, 'not seen since the cloud started');
  await see(page, `section[data-store="${DELI}"] .summary`, '2 sales / €22.40 not yet uploaded');
  await see(page, `section[data-store="${DELI}"] .summary`, '1 open exception');
  const exception = `section[data-store="${DELI}"] li.exception`;
  await see(page, exception, 'Customer cus-eva went €5.00 below zero (from €10.00)');
  const quarantined = `tr.quarantined-event[data-store="${DELI}"][data-terminal="t1"][data-seq="2"]`;
  await see(page, quarantined, 'CURRENCY_MISMATCH');
  await see(page, quarantined, '$5.00'); // in the sale's own currency

  const shot = await screenshot(page, 'cloud-dashboard.png');
  await mkdir(join(process.cwd(), 'docs'), { recursive: true });
  await copyFile(shot, join(process.cwd(), 'docs', 'cloud-dashboard.png'));

  // Resolve the exception from the page (the admin API, with the session cookie).
  await page.click(`${exception} button[data-action="resolve"]`);
  await see(page, '#flash', 'Exception exc-1 resolved.');
  await see(page, `section[data-store="${DELI}"]`, 'No open exceptions.');
  const exc = await env.admin<{ exceptions: Array<{ id: string; status: string }> }>('GET', `/v1/admin/stores/${DELI}/exceptions?status=all`);
  t.same(exc.exceptions.map((e) => [e.id, e.status]), [['exc-1', 'resolved']], 'the cloud holds it as resolved');

  // Release the quarantined sale from the page.
  await page.click(`${quarantined} button[data-action="release"]`);
  await see(page, '#flash', 'Released 1 event of t1 (seq 2).');
  await see(page, `section[data-store="${DELI}"]`, 'No quarantined events.');
  await see(page, `${t1} .quarantined`, /^0$/);
  const q = await env.admin<{ quarantined: unknown[] }>('GET', `/v1/admin/stores/${DELI}/quarantine`);
  t.same(q.quarantined, [], 'nothing left in quarantine');

  // A terminal's sync history: its requests as the cloud answered them, and its newest stored events.
  await page.click(`${t1} button[data-action="history"]`);
  await see(page, '#history h2', 'Sync history: Deli till');
  await see(page, '#history table.exchanges', 'POST /v1/events');
  await see(page, '#history table.events tr[data-seq="2"]', 'accepted');
  await see(page, '#history table.events tr[data-seq="3"]', 'balance.delta');

  // Live: the terminal uploads its two sales; the page shows it without a reload.
  t.equal(await deli.uploadAll(), 5, 'the two sales are stored');
  await see(page, `${t1} .pending`, 'all uploaded');
  await see(page, `${t1} .ack`, 'seq 5');
  await see(page, `section[data-store="${DELI}"] .summary`, '0 sales / €0.00 not yet uploaded');
  await see(page, '#history table.events tr[data-seq="5"]', '€9.90');
  // The agent leaves local mode and uploads its sale: the page shows it.
  await api(till2, 'POST', '/api/local-mode', { on: false });
  await see(page, `${till2Row} .pending`, 'all uploaded');
  await see(page, 'section[data-store="store-1"] .summary', '0 sales / $0.00 not yet uploaded');
  await screenshot(page, 'cloud-dashboard-after.png');

  // Signing out ends the session: the fragment the page polls is refused, the page goes to the sign-in.
  await page.click('#sign-out');
  await page.waitForURL(/\/sign-in/);
  const after = await page.evaluate(async () => (await fetch('/dashboard/overview')).status);
  t.equal(after, 401, 'signed out: the dashboard data is refused');
  await until('the page is closed', async () => { await page.close(); return true; });
});
