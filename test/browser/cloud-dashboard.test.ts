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
import { screenshot, see, startBrowserEnv, until } from './helpers/browser-env.ts';
import { DELI, seedDeli, signInDashboard } from './helpers/dashboard-env.ts';

t.test('cloud dashboard: two stores, pending sales, resolve an exception, release a quarantined sale', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const deli = await seedDeli(t.testdir(), env.cloudUrl, env.admin);
  t.teardown(() => deli.close());

  const page = await env.browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signInDashboard(page, env.cloudUrl, env.adminToken);
  t.equal(await page.evaluate('document.cookie'), '', 'the session cookie is HttpOnly: scripts cannot read it');

  // Both stores, their terminals, what each has not uploaded.
  await see(page, 'section[data-store="store-1"] h2', 'Corner Café');
  await see(page, `section[data-store="${DELI}"] h2`, 'Harbour Deli');
  for (const till of ['till-1', 'till-2']) {
    const row = `tr[data-store="store-1"][data-terminal="${till}"]`;
    await see(page, `${row} .last-seen`, /just now|s ago/);
    await see(page, `${row} .last-seen`, 'live stream');
    await see(page, `${row} .pending`, 'all uploaded');
  }
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
  await see(page, 'section[data-store="store-1"] .summary', '0 sales / $0.00 not yet uploaded');

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
  await screenshot(page, 'cloud-dashboard-after.png');

  // Signing out ends the session: the fragment the page polls is refused, the page goes to the sign-in.
  await page.click('#sign-out');
  await page.waitForURL(/\/sign-in/);
  const after = await page.evaluate(async () => (await fetch('/dashboard/overview')).status);
  t.equal(after, 401, 'signed out: the dashboard data is refused');
  await until('the page is closed', async () => { await page.close(); return true; });
});
