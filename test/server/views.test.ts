// Cloud views (F11): balances and vouchers as sums of deltas, one exception per overspend incident; imports; WS push and heartbeat.
import type { AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { admin, delta, get, redeem, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';

t.test('two offline terminals overspend a balance and a voucher: exactly one exception each', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app, 's1', ['t1', 't2', 't3']);
  const [l1, l2, l3] = [await terminalLog(t, 's1', 't1'), await terminalLog(t, 's1', 't2'), await terminalLog(t, 's1', 't3')];
  // c1 holds 10000, GIFT-1 holds 5000. Each terminal spends most of it offline.
  const e1 = await l1.append([sale(8000), delta('c1', -8000), redeem('GIFT-1', 4000)]);
  const e2 = await l2.append([sale(7000), delta('c1', -7000), redeem('GIFT-1', 3000)]);
  const e3 = await l3.append([delta('c1', -500)]);
  t.equal((await upload(app, tokens.t1!, e1)).body.accepted, 3);
  t.equal((await upload(app, tokens.t2!, e2)).body.accepted, 3);
  t.equal((await upload(app, tokens.t3!, e3)).body.accepted, 1, 'a further debit while below zero');
  const [c1] = await storage.getBalances('s1', ['c1']);
  t.equal(c1?.balance, 10000 - 8000 - 7000 - 500, 'nothing overwritten: the sum of all deltas');
  t.same(c1?.includes, { t1: 3, t2: 3, t3: 1 });
  const ex = await admin(app, 'GET', '/v1/admin/stores/s1/exceptions');
  t.equal(ex.body.exceptions.length, 2, 'one for the customer, one for the voucher');
  const bal = ex.body.exceptions.find((e: { subject: { kind: string } }) => e.subject.kind === 'balance');
  t.same(bal.subject, { kind: 'balance', customer: 'c1' });
  t.equal(bal.shortfall, 5500);
  t.same([...bal.terminals].sort(), ['t1', 't2', 't3']);
  t.same(bal.events.map((d: { id: string; amount: number }) => [d.id, d.amount]), [[e1[1]!.event.id, 8000], [e2[1]!.event.id, 7000], [e3[0]!.event.id, 500]]);
  const vou = ex.body.exceptions.find((e: { subject: { kind: string } }) => e.subject.kind === 'voucher');
  t.same(vou.subject, { kind: 'voucher', voucher: 'GIFT-1' });
  t.equal(vou.shortfall, 2000);
  t.equal((await get(app, tokens.t1!, '/v1/sync-state')).body.openExceptions, 2);
  // Re-uploading changes nothing.
  await upload(app, tokens.t2!, e2);
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/exceptions?status=all')).body.exceptions.length, 2);
  // Resolve one; a later, separate overspend opens a new exception.
  t.equal((await admin(app, 'POST', `/v1/admin/stores/s1/exceptions/${bal.id}/resolve`, { note: 'customer paid' })).body.status, 'resolved');
  t.equal((await get(app, tokens.t1!, '/v1/sync-state')).body.openExceptions, 1);
  t.equal((await upload(app, tokens.t1!, await l1.append([delta('c1', 10000)]))).body.accepted, 1);
  t.equal((await upload(app, tokens.t1!, await l1.append([delta('c1', -6000)]))).body.accepted, 1);
  const all = await admin(app, 'GET', '/v1/admin/stores/s1/exceptions?status=all');
  t.equal(all.body.exceptions.length, 3, 'a new incident after the balance recovered');
  t.equal(all.body.exceptions[2].shortfall, 1500);
});

t.test('imports: JSON and CSV, bad rows by line, nothing half-imported', async (t) => {
  const { app, storage } = await startCloud(t);
  await setupStore(t, app);
  const csv = 'id,sku,name,barcodes,price,taxRate\r\ni2,SKU-2,"Coffee, large",4006381333931|12345678,350,700\ni3,SKU-3,"Say ""hi""",,100,0\n';
  const ok = await admin(app, 'POST', '/v1/admin/stores/s1/items', csv, 'text/csv');
  t.equal(ok.status, 200);
  t.equal(ok.body.imported, 2);
  t.same((await storage.getItems('s1', ['i2', 'i3'])).map((i) => i?.name), ['Coffee, large', 'Say "hi"']);
  t.same((await storage.getItems('s1', ['i2']))[0]?.barcodes, ['4006381333931', '12345678']);
  const head = (await storage.getCounters('s1')).feedHead;
  const bad = 'id,sku,name,barcodes,price,taxRate\ni4,SKU-4,Ok,,100,0\ni5,SKU-5,Bad price,,1.50,0\ni6,,No sku,,100,0\n';
  const r = await admin(app, 'POST', '/v1/admin/stores/s1/items', bad, 'text/csv');
  t.equal(r.status, 400);
  t.equal(r.body.error.code, 'IMPORT_INVALID');
  t.same(r.body.error.details.rows.map((x: { line: number; code: string }) => [x.line, x.code]), [[3, 'MONEY_NOT_INTEGER'], [4, 'VALIDATION_FAILED']]);
  t.same(await storage.getItems('s1', ['i4']), [undefined], 'the good row was not imported either');
  t.equal((await storage.getCounters('s1')).feedHead, head, 'no feed entries');
  const badJson = await admin(app, 'POST', '/v1/admin/stores/s1/customers', [{ id: 'c7', name: 'Cy' }, { id: 'c8', name: 'Di', extra: 1 }, { id: 'c7', name: 'Dup' }]);
  t.same(badJson.body.error.details.rows.map((x: { line: number; code: string }) => [x.line, x.code]), [[2, 'UNKNOWN_FIELD'], [3, 'VALIDATION_FAILED']]);
  t.same(await storage.getCustomers('s1', ['c7']), [undefined]);
  // Customers CSV with an opening balance; importing twice never doubles it.
  const cust = 'id,name,phone,email,openingBalance\nc9,Eve,555-1234,eve@example.com,2500\n';
  t.equal((await admin(app, 'POST', '/v1/admin/stores/s1/customers', cust, 'text/csv')).body.openingBalancesApplied, 1);
  const again = await admin(app, 'POST', '/v1/admin/stores/s1/customers', cust, 'text/csv');
  t.same([again.body.openingBalancesApplied, again.body.openingBalancesSkipped, again.body.changed], [0, 1, 0]);
  t.equal((await storage.getBalances('s1', ['c9']))[0]?.balance, 2500);
});

t.test('WebSocket: feed and exception pushes; heartbeat closes a half-open socket', async (t) => {
  const { app, storage } = await startCloud(t, { build: { heartbeatMs: 50 } });
  const { tokens } = await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/stream`;
  const messages: Array<{ type: string; head?: number; open?: number; feedHead?: number }> = [];
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${tokens.t1}` } });
  t.teardown(() => ws.terminate());
  const waitFor = (pred: (m: (typeof messages)[number]) => boolean) =>
    new Promise<(typeof messages)[number]>((resolve) => {
      const found = messages.find(pred);
      if (found) return resolve(found);
      const on = (raw: WebSocket.RawData) => {
        const m = JSON.parse(String(raw)) as (typeof messages)[number];
        if (pred(m)) {
          ws.off('message', on);
          resolve(m);
        }
      };
      ws.on('message', on);
    });
  ws.on('message', (raw) => messages.push(JSON.parse(String(raw))));
  const hello = await waitFor((m) => m.type === 'hello');
  const log = await terminalLog(t, 's1', 't1');
  await upload(app, tokens.t1!, await log.append([delta('c1', -20000)]));
  // Notifications are coalesced (up to 500 ms late), so one for the store's setup may still
  // arrive after the hello, carrying the hello's head: wait for the upload's.
  const feed = await waitFor((m) => m.type === 'feed' && m.head! > hello.feedHead!);
  t.equal(feed.head, (await storage.getCounters('s1')).feedHead, 'the latest feed head pushed after the commit');
  const exc = await waitFor((m) => m.type === 'exceptions' && m.open === 1);
  t.equal(exc.open, 1, 'open exceptions pushed');
  await admin(app, 'POST', '/v1/admin/stores/s1/items', [{ id: 'i9', sku: 'S9', name: 'New', barcodes: [], price: 1, taxRate: 0 }]);
  await waitFor((m) => m.type === 'feed' && m.head! > feed.head!);

  // A client that never answers pings (a half-open connection) is terminated by the heartbeat.
  const silent = new WebSocket(url, { headers: { authorization: `Bearer ${tokens.t2}` }, autoPong: false });
  await new Promise((resolve) => silent.once('open', resolve));
  const code = await new Promise<number>((resolve) => silent.once('close', (c) => resolve(c)));
  t.equal(code, 1006, 'terminated without a close frame');
  t.equal(ws.readyState, WebSocket.OPEN, 'a live client that answers pings stays connected');
});
