/**
 * Recovery without a shell in real Chromium (issue 22 item 4): the back office
 * revokes a terminal; its Sync Manager says so and points at re-enrollment; the
 * owner presses Re-enroll on the cloud dashboard and gets the new credential
 * once; pasted into the Sync Manager, the terminal syncs again. Then the full
 * resync override exports the sales it could not upload to a file the page
 * lists and downloads, and the support bundle downloads — or goes to the cloud,
 * where the dashboard lists it for support — with no secret in it.
 */
import t from 'tap';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { api, pairingToken } from '../helpers/env.ts';
import { screenshot, see, startBrowserEnv, until } from './helpers/browser-env.ts';
import { signInDashboard } from './helpers/dashboard-env.ts';

t.test('re-enroll from the dashboard and the Sync Manager; exports and the support bundle', async (t) => {
  const env = await startBrowserEnv(t.testdir());
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const sm = await env.open(agent, '/');
  await see(sm, '#feed', 'up to date');
  t.equal(await sm.getAttribute('#reenroll-op', 'data-tone'), '', 'nothing to re-enroll while the credential works');

  // ---- Revoked by the back office: the page says what happened and what to do.
  await env.admin('POST', '/v1/admin/stores/store-1/terminals/till-1/revoke');
  await api(agent, 'POST', '/api/sync/up', {});
  await see(sm, '#conn-label', 'Credential revoked');
  await see(sm, '#reenroll-help', 'paste the new credential here');
  t.equal(await sm.getAttribute('#reenroll-op', 'data-tone'), 'bad');

  // ---- The owner re-enrolls it on the dashboard (only revoked terminals offer it) and sees the new credential once.
  const dash = await env.browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signInDashboard(dash, env.cloudUrl, env.adminToken);
  const row = 'tr[data-store="store-1"][data-terminal="till-1"]';
  await see(dash, row, 'revoked');
  t.equal(await dash.locator('tr[data-terminal="till-2"] [data-action=reenroll]').count(), 0, 'a working terminal offers no re-enrollment');
  dash.once('dialog', (d) => void d.accept());
  await dash.click(`${row} [data-action=reenroll]`);
  await see(dash, '#flash', 'till-1 re-enrolled');
  const token = (await dash.textContent('#new-credential-token'))!.trim();
  t.ok(token.length >= 16, 'the new credential is shown');
  await dash.click('#new-credential-done');
  t.equal((await dash.textContent('#new-credential-token'))!.trim(), '', 'and forgotten once done');
  await see(dash, row, /^(?!.*revoked)/s);

  // ---- A wrong paste is refused in words; the right one brings the terminal back.
  await sm.fill('#reenroll-token', 'not a credential!');
  await sm.click('#btn-reenroll');
  await see(sm, '#result-reenroll', 'Not re-enrolled');
  await sm.fill('#reenroll-token', token);
  await sm.click('#btn-reenroll');
  await see(sm, '#result-reenroll', 'Re-enrolled');
  t.equal(await sm.inputValue('#reenroll-token'), '', 'the credential leaves the page');
  await see(sm, '#conn-label', 'Online');
  t.equal(await sm.getAttribute('#reenroll-op', 'data-tone'), '');
  const sold = await api(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  t.equal(sold.status, 201);
  const head = agent.terminal.log.head.seq;
  await until('the sale uploaded with the new credential', async () => agent.status().sync.uploaded >= head || undefined);
  await see(sm, '#uploaded', String(head));

  // ---- The override: a sale the cloud cannot get now is exported, listed and downloaded.
  await api(agent, 'POST', '/api/local-mode', { on: true, hours: 1 });
  const offline = await api<{ sale: string }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-mug', qty: 1 }], payments: [{ tender: 'cash', tendered: 1_000 }] });
  t.equal(offline.status, 201);
  await see(sm, '#pending', /^1$/);
  await sm.click('#btn-full-resync');
  await sm.click('#confirm [data-confirm]');
  await see(sm, '#confirm [data-title]', 'Resync without uploading first?');
  await sm.click('#confirm [data-confirm]');
  // In local mode the resync itself stops before anything is discarded, after the export, and says where it went.
  await see(sm, '#result-full-resync', 'LOCAL_MODE');
  await see(sm, '#result-full-resync', /2 unsynced events were exported first to unsynced-.*nothing was discarded/);
  const link = sm.locator('#exports-list a');
  await see(sm, '#exports-list', /unsynced-\d{8}T\d{6}-\d{3}Z\.ndjson/);
  await see(sm, '#exports-list', 'sales not uploaded before a full resync');
  const [download] = await Promise.all([sm.waitForEvent('download'), link.first().click()]);
  const exported = (await readFile((await download.path())!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; type: string });
  t.same(exported.map((e) => e.type), ['sale.completed', 'payment.taken'], 'the download holds the unsynced sale');
  t.equal(exported[0]!.id, offline.body.sale);
  await api(agent, 'POST', '/api/local-mode', { on: false });
  await see(sm, '#pending', /^0$/);

  // ---- The support bundle.
  const [bundleDl] = await Promise.all([sm.waitForEvent('download'), sm.click('#btn-support-bundle')]);
  t.match(bundleDl.suggestedFilename(), /^tillsync-support-store-1-till-1-\d{8}T\d{6}Z\.json$/);
  const text = await readFile((await bundleDl.path())!, 'utf8');
  const bundle = JSON.parse(text) as { kind: string; syncHistory: Array<{ what: string; detail: string }> };
  t.equal(bundle.kind, 'tillsync-support-bundle');
  t.ok(bundle.syncHistory.some((e) => e.what === 'connection' && e.detail.startsWith('revoked')), 'the revocation is in the sync history');
  for (const secret of [token, pairingToken(agent), env.adminToken]) t.notOk(text.includes(secret), 'no credential or token in the bundle');

  // ---- Sent to support: the dashboard lists it under the terminal's history and downloads it.
  await sm.click('#btn-send-bundle');
  await see(sm, '#result-send-bundle', 'Sent to the cloud');
  const sentId = /as ([0-9A-HJKMNP-TV-Z]{26})/.exec(await sm.textContent('#result-send-bundle') ?? '')![1]!;
  await dash.click(`${row} [data-action=history]`);
  await see(dash, '#history .support-bundles', sentId);
  const [fromCloud] = await Promise.all([dash.waitForEvent('download'), dash.click(`#history [data-bundle="${sentId}"] a`)]);
  const cloudText = await readFile((await fromCloud.path())!, 'utf8');
  t.equal((JSON.parse(cloudText) as { kind: string; terminal: string }).terminal, 'till-1', 'support downloads what the terminal sent');
  for (const secret of [token, pairingToken(agent), env.adminToken]) t.notOk(cloudText.includes(secret), 'no credential or token reached the cloud');
  const shot = await screenshot(sm, 'sync-manager-recovery.png');
  await copyFile(shot, join(process.cwd(), 'docs', 'sync-manager-recovery.png'));
});
