/**
 * Recovery without a shell (issue 22 item 4), through a real agent and cloud:
 * the full-resync override writes the unsynced sales into the private export
 * folder, which the API lists and downloads (only names it made, never a path
 * out of the folder); the support bundle carries status, sync history and log
 * lines but no credential, pairing token or card number; both are manager-only.
 */
import t from 'tap';
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalAgent } from '../../src/terminal/agent.ts';
import { exportsDir } from '../../src/terminal/exports.ts';
import { CARD_REMOVED, scrub, SUPPORT_BUNDLE_KIND, TOKEN_REMOVED } from '../../src/terminal/support-bundle.ts';
import { api, pairingToken, until } from '../helpers/env.ts';
import { gatedTerminal } from './helpers/cloud-gate.ts';

type Err = { error: { code: string } };

t.test('scrub: secrets dropped, card numbers and tokens replaced, the rest kept', async (t) => {
  const hash = 'a'.repeat(64);
  const ulid = '01JDZ3K5V8W9X0Y1Z2A3B4C5D6';
  const out = scrub({
    token: 'x', pinHash: 'y', nested: { sessionId: 'z', authorization: 'Bearer abc', keep: 'fine' },
    note: 'card 4111 1111 1111 1111 here',
    line: 'GET /v1/feed Authorization: Bearer Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0',
    raw: 'tk_4f9Qm2LxZp8RtYv0Wn3Bc6Hd1Jk7Ss5u',
    hash, ulid, count: 3, list: ['5500 0000 0000 0004', 'ok'],
  }) as Record<string, unknown>;
  t.notOk('token' in out || 'pinHash' in out, 'secret keys dropped');
  t.same(out.nested, { keep: 'fine' });
  t.equal(out.note, CARD_REMOVED);
  t.equal(out.line, `GET /v1/feed Authorization: ${TOKEN_REMOVED}`);
  t.equal(out.raw, TOKEN_REMOVED, 'a long random token');
  t.equal(out.hash, hash, 'a hex hash is not a token');
  t.equal(out.ulid, ulid, 'an event id is not a token');
  t.equal(out.count, 3);
  t.same(out.list, [CARD_REMOVED, 'ok']);
});

t.test('exports and the support bundle from the API', async (t) => {
  const dir = t.testdir();
  const logLines: string[] = [];
  const { env, gate, token, opts } = await gatedTerminal(t, dir, { logging: { stream: { write: (l: string) => { logLines.push(l); } } } });
  const created = { token };
  const agent = await TerminalAgent.start(opts);
  t.teardown(() => agent.stop());
  await until('catalog downloaded', () => agent.terminal.views.views.items.size === 5 && agent.status().sync.pending === 0);
  const card = { token: 'tok_sim_9988776655443322', brand: 'visa', last4: '4242', authCode: 'Z9Y8X7' };

  // Uploads refused by the link: the sale stays unsynced.
  gate.refuse.add('/v1/events');
  const sale = await api<{ sale: string }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'card', amount: 150, card }] });
  t.equal(sale.status, 201);
  t.same((await api<{ exports: unknown[] }>(agent, 'GET', '/api/exports')).body, { exports: [] }, 'no exports yet');
  const refused = await api<Err>(agent, 'POST', '/api/resync/full', {});
  t.equal(refused.body.error.code, 'UNSYNCED_EVENTS');
  for (const body of [{ exportUnsynced: false }, { exportUnsynced: 'yes' }, { exportUnsynced: true, exportUnsyncedTo: join(dir, 'x') }]) {
    const r = await api<Err>(agent, 'POST', '/api/resync/full', body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.equal(r.body.error.code, 'VALIDATION_FAILED', JSON.stringify(body));
  }
  const over = await api<{ exportedTo: string; exportedEvents: number; uploadedFirst: boolean }>(agent, 'POST', '/api/resync/full', { exportUnsynced: true });
  t.equal(over.status, 200, 'the resync went on (downloads pass the link)');
  t.equal(over.body.uploadedFirst, false);
  t.equal(over.body.exportedEvents, 2, 'the sale and its payment');
  t.equal(join(exportsDir(agent.dataDir), over.body.exportedTo.split('/').pop()!), over.body.exportedTo, 'written into the export folder');
  t.equal(lstatSync(exportsDir(agent.dataDir)).mode & 0o777, 0o700, 'the folder is private');
  t.equal(lstatSync(over.body.exportedTo).mode & 0o777, 0o600, 'the file is private');

  const listed = await api<{ exports: Array<{ name: string; kind: string; bytes: number }> }>(agent, 'GET', '/api/exports');
  t.equal(listed.body.exports.length, 1);
  const file = listed.body.exports[0]!;
  t.equal(file.kind, 'unsynced');
  const dl = await fetch(`${agent.url}/api/exports/${file.name}`, { headers: { authorization: `Bearer ${pairingToken(agent)}` } });
  t.equal(dl.status, 200);
  t.equal(dl.headers.get('content-disposition'), `attachment; filename="${file.name}"`);
  const lines = (await dl.text()).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string });
  t.same(lines.map((l) => l.type), ['sale.completed', 'payment.taken'], 'the unsynced sale, as the log holds it');
  t.equal(file.bytes, readFileSync(over.body.exportedTo).length);

  // Only names the folder's own pattern allows, and only regular files in it.
  writeFileSync(join(agent.dataDir, 'secret.ndjson'), 'x');
  symlinkSync(join(agent.dataDir, 'agent.json'), join(exportsDir(agent.dataDir), 'unsynced-20260101T000000-000Z.ndjson'));
  for (const name of ['..%2Fsecret.ndjson', '%2E%2E%2Fagent.json', 'unsynced-20260101T000000-000Z.ndjson', 'unsynced-x.ndjson', 'agent.json', '%00']) {
    const r = await api<Err>(agent, 'GET', `/api/exports/${name}`);
    t.equal(r.body.error.code, 'EXPORT_NOT_FOUND', name);
  }
  t.equal((await api<{ exports: unknown[] }>(agent, 'GET', '/api/exports')).body.exports.length, 1, 'the link is not listed');

  // The support bundle.
  gate.refuse.clear();
  await until('uploaded', () => agent.status().sync.pending === 0);
  const b = await fetch(`${agent.url}/api/support-bundle`, { headers: { authorization: `Bearer ${pairingToken(agent)}` } });
  t.equal(b.status, 200);
  t.match(b.headers.get('content-disposition'), /^attachment; filename="tillsync-support-store-1-till-1-\d{8}T\d{6}Z\.json"$/);
  const text = await b.text();
  const bundle = JSON.parse(text) as { kind: string; status: { terminal: string; sync: { uploaded: number } }; syncHistory: Array<{ what: string }>; log: { enabled: boolean; lines: string[] }; auditLog: Array<{ action: string }>; exports: unknown[]; recovery: { health: unknown } };
  t.equal(bundle.kind, SUPPORT_BUNDLE_KIND);
  t.equal(bundle.status.terminal, 'till-1');
  t.ok(bundle.status.sync.uploaded >= 2, 'the status as the page shows it');
  t.ok(bundle.syncHistory.some((e) => e.what === 'up'), 'an upload pass in the history');
  t.ok(bundle.syncHistory.some((e) => e.what === 'up-failed' || e.what === 'connection'), 'and the refused uploads or connection changes');
  t.equal(bundle.log.enabled, true);
  t.ok(bundle.log.lines.length > 0, 'the last log lines');
  t.ok(bundle.auditLog.some((e) => e.action === 'resync.full'), 'who ran the full resync');
  t.equal(bundle.exports.length, 1);
  t.same(bundle.recovery.health, { state: 'ok' });
  for (const secret of [created.token, pairingToken(agent), card.token, card.authCode]) {
    t.notOk(text.includes(secret), 'no credential, pairing token or processor token in the bundle');
  }
  t.ok(logLines.length > 0, 'the log lines still reach their destination');

  // Sent to the cloud: kept under this terminal for support, with nothing secret in it.
  gate.refuse.add('/v1/support-bundles');
  const notSent = await api<Err>(agent, 'POST', '/api/support-bundle/send', {});
  t.equal(notSent.body.error.code, 'CLOUD_UNREACHABLE', 'a cloud out of reach is said so');
  gate.refuse.clear();
  const sent = await api<{ sent: boolean; id: string; bytes: number }>(agent, 'POST', '/api/support-bundle/send', {});
  t.equal(sent.status, 200, JSON.stringify(sent.body));
  t.equal(sent.body.sent, true);
  const held = await env.admin<{ bundles: Array<{ id: string }> }>('GET', '/v1/admin/stores/store-1/terminals/till-1/support-bundles');
  t.same(held.bundles.map((x) => x.id), [sent.body.id], 'the cloud keeps it under this terminal');
  const stored = await fetch(`${env.cloudUrl}/v1/admin/stores/store-1/terminals/till-1/support-bundles/${sent.body.id}`, { headers: { authorization: `Bearer ${env.adminToken}` } });
  const storedText = await stored.text();
  t.equal((JSON.parse(storedText) as { kind: string }).kind, SUPPORT_BUNDLE_KIND);
  for (const secret of [created.token, pairingToken(agent), card.token]) t.notOk(storedText.includes(secret), 'no secret reached the cloud');

  // A cashier may do neither.
  const cashier = await api<{ token: string }>(agent, 'POST', '/api/pairings', { name: 'front end', role: 'cashier' });
  for (const [method, path] of [['GET', '/api/support-bundle'], ['GET', '/api/exports'], ['GET', `/api/exports/${file.name}`], ['POST', '/api/support-bundle/send']] as const) {
    const r = await fetch(`${agent.url}${path}`, { method, headers: { authorization: `Bearer ${cashier.body.token}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{}' } : {}) });
    t.equal(r.status, 403, path);
    t.equal(((await r.json()) as Err).error.code, 'FORBIDDEN_ROLE', path);
  }
});
