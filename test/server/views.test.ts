// Cloud views (F11): balances and vouchers as sums of deltas, one exception per overspend incident; imports; WS push and heartbeat.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { onceWithin, waitFor, WAIT_MS } from '../helpers/wait.ts';
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

type Push = { type: string; head?: number; open?: number; feedHead?: number };

async function streamUrl(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/stream`;
}

/**
 * An open /v1/stream client that records every push, ping and its close. Every
 * wait on it is bounded and gives up at once when the socket closes, naming
 * what it waited for (a socket cut by the heartbeat sends nothing more).
 */
async function connect(t: Test, url: string, token: string, opts: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, autoPong: opts.autoPong ?? true });
  t.teardown(() => ws.terminate());
  const messages: Push[] = [];
  let pings = 0;
  let closed: number | undefined;
  ws.on('message', (raw) => messages.push(JSON.parse(String(raw)) as Push));
  ws.on('ping', () => pings++);
  const closing = onceWithin<[number]>(ws, 'close', 2 * WAIT_MS, 'the socket to close');
  closing.then(([code]) => (closed = code), () => undefined);
  await onceWithin(ws, 'open', WAIT_MS, 'the socket to open');
  const unless = () => (closed === undefined ? undefined : `the socket closed with ${closed}`);
  return {
    ws,
    closing,
    get pings() { return pings; },
    get closed() { return closed; },
    /** The first push so far (or to come) that matches. */
    next: (pred: (m: Push) => boolean, what: string) => waitFor(() => messages.find(pred), { what, unless }),
    /** Resolves once `n` more pings have arrived (and were answered, unless autoPong is off). */
    morePings: (n: number, what: string) => {
      const target = pings + n;
      return waitFor(() => pings >= target, { what, unless });
    },
  };
}

t.test('WebSocket: feed and exception pushes', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app);
  const live = await connect(t, await streamUrl(app), tokens.t1!);
  const hello = await live.next((m) => m.type === 'hello', 'the hello');
  const log = await terminalLog(t, 's1', 't1');
  await upload(app, tokens.t1!, await log.append([delta('c1', -20000)]));
  // Notifications are coalesced (up to 500 ms late), so one for the store's setup may still
  // arrive after the hello, carrying the hello's head: wait for the upload's.
  const feed = await live.next((m) => m.type === 'feed' && m.head! > hello.feedHead!, "the upload's feed push");
  t.equal(feed.head, (await storage.getCounters('s1')).feedHead, 'the latest feed head pushed after the commit');
  const exc = await live.next((m) => m.type === 'exceptions' && m.open === 1, 'the exceptions push');
  t.equal(exc.open, 1, 'open exceptions pushed');
  await admin(app, 'POST', '/v1/admin/stores/s1/items', [{ id: 'i9', sku: 'S9', name: 'New', barcodes: [], price: 1, taxRate: 0 }]);
  const items = await live.next((m) => m.type === 'feed' && m.head! > feed.head!, "the item import's feed push");
  t.ok(items.head! > feed.head!, 'an admin import is pushed too');
});

t.test('WebSocket heartbeat: a half-open socket is terminated, a live one stays', async (t) => {
  const { app } = await startCloud(t, { build: { heartbeatMs: 50 } });
  const { tokens } = await setupStore(t, app);
  const url = await streamUrl(app);
  const live = await connect(t, url, tokens.t1!);
  // A client that never answers pings (a half-open connection) is terminated by the heartbeat.
  const silent = await connect(t, url, tokens.t2!, { autoPong: false });
  const [code] = await silent.closing;
  t.equal(code, 1006, 'terminated without a close frame');
  await live.morePings(3, 'three more heartbeats on the live socket');
  t.equal(live.ws.readyState, WebSocket.OPEN, 'a live client that answers pings stays connected');
});

// The hang of issue 20: under load the test process stalled past a heartbeat; the beat ran
// before the pong waiting on the socket was read and cut the live client, whose pushes the
// test then waited for forever. Here the stalls are made on purpose (a busy loop in this
// process, three heartbeats long), once each, where a real one hurts.
const heartbeatMs = 50;
function block(): void {
  const end = performance.now() + 3 * heartbeatMs;
  while (performance.now() < end);
}

t.test('WebSocket heartbeat: a stall after the client answered does not cut it', async (t) => {
  const { app } = await startCloud(t, { build: { heartbeatMs } });
  const { tokens } = await setupStore(t, app);
  const live = await connect(t, await streamUrl(app), tokens.t1!);
  // ws writes the pong before it emits 'ping': the pong waits on the server's socket while
  // the loop is blocked, and the next beat is already due when it ends.
  let blocked = false;
  live.ws.on('ping', () => {
    if (!blocked) (blocked = true), block();
  });
  await live.morePings(4, 'four heartbeats after the stall');
  t.ok(blocked, 'the loop was blocked after a pong');
  t.equal(live.closed, undefined, 'not cut');
});

t.test('WebSocket heartbeat: a stall right after the server pinged does not cut the client', async (t) => {
  const { app } = await startCloud(t, { build: { heartbeatMs } });
  const { tokens } = await setupStore(t, app);
  const live = await connect(t, await streamUrl(app), tokens.t1!);
  // The server's sockets are ws WebSockets too (the client never pings), so wrapping ping
  // blocks the server's loop inside a beat: the next beat is due before the client has
  // even read this ping, and its pong arrives only in the poll after.
  const ping = WebSocket.prototype.ping;
  t.teardown(() => void (WebSocket.prototype.ping = ping));
  let stalls = 0;
  WebSocket.prototype.ping = function (this: WebSocket, ...args: Parameters<WebSocket['ping']>) {
    ping.apply(this, args);
    if (stalls++ === 0) block();
  };
  await live.morePings(4, 'four heartbeats after the stall');
  t.ok(stalls > 0, 'the server was blocked after a ping');
  t.equal(live.closed, undefined, 'not cut');
});
