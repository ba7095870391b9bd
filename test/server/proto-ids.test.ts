// Ids equal to Object.prototype member names (issue 15, 1.3): as store, terminal,
// customer, voucher and item ids they must never reach a plain-object lookup
// (GET /v1/feed answered 500 for terminal `hasOwnProperty` when a page held a
// balance.state). The names that are refused as JSON keys everywhere
// (`__proto__`, `constructor`, `prototype`) cannot be ids: terminal ids are keys
// of `includes`; every other member name is accepted and works.
import { decode } from '@msgpack/msgpack';
import t from 'tap';
import { Terminal } from '../../src/terminal/terminal.ts';
import { admin, body, delta, get, MSGPACK, redeem, sale, startCloud, subdir, terminalLog, upload } from './harness.ts';

const ACCEPTED = ['hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString',
  '__defineGetter__', '__lookupSetter__'];
const REFUSED = ['__proto__', 'constructor', 'prototype'];

t.test('Object.prototype names as store and terminal ids: accepted ones work end to end, the key-guarded ones are refused', async (t) => {
  const { app } = await startCloud(t);
  for (const id of REFUSED) {
    const s = await admin(app, 'POST', '/v1/admin/stores', { id, name: 'x', currency: 'EUR' });
    t.equal(s.body?.error?.code, 'VALIDATION_FAILED', `store id ${id} refused`);
  }
  t.equal((await admin(app, 'POST', '/v1/admin/stores', { id: 'shop', name: 'Shop', currency: 'EUR' })).status, 201);
  for (const id of REFUSED) {
    const r = await admin(app, 'POST', '/v1/admin/stores/shop/terminals', { id });
    t.equal(r.body?.error?.code, 'VALIDATION_FAILED', `terminal id ${id} refused`);
  }
  for (const store of ACCEPTED) {
    t.equal((await admin(app, 'POST', '/v1/admin/stores', { id: store, name: store, currency: 'EUR' })).status, 201, `store ${store}`);
    const tokens = new Map<string, string>();
    for (const term of ['t1', ...ACCEPTED]) {
      const r = await admin(app, 'POST', `/v1/admin/stores/${store}/terminals`, { id: term });
      t.equal(r.status, 201, `terminal ${store}/${term}`);
      tokens.set(term, r.body.token);
    }
    // Customers, vouchers and items named after Object.prototype members too.
    const customers = [...ACCEPTED, ...REFUSED.filter((x) => x !== '__proto__')];
    t.equal((await admin(app, 'POST', `/v1/admin/stores/${store}/customers`, customers.map((id) => ({ id, name: `C ${id}`, openingBalance: 1000 })))).status, 200);
    const items = await admin(app, 'POST', `/v1/admin/stores/${store}/items`, customers.map((id, i) => ({ id, sku: `S-${i}`, name: `I ${id}`, barcodes: [], price: 100, taxRate: 0 })));
    t.equal(items.status, 200, 'items imported');
    for (const code of ['valueOf', 'toString', 'constructor']) {
      t.equal((await admin(app, 'POST', `/v1/admin/stores/${store}/vouchers`, { code, amount: 500 })).status, 201, `voucher ${code}`);
    }
    // Every terminal spends from customer `toString` and voucher `valueOf`; t1 from others.
    for (const [term, token] of tokens) {
      const log = await terminalLog(t, store, term);
      const r = await upload(app, token, await log.append([sale(), delta('toString', -10), redeem('valueOf', 5), delta('constructor', -1)]));
      t.equal(r.status, 200, `${store}/${term} upload: ${JSON.stringify(r.body)}`);
      t.equal(r.body.accepted, 4);
    }
    for (const [term, token] of tokens) {
      for (const accept of ['application/json', MSGPACK]) {
        const res = await app.inject({ method: 'GET', url: '/v1/feed?limit=1000', headers: { authorization: `Bearer ${token}`, accept } });
        t.equal(res.statusCode, 200, `${store}/${term} feed (${accept})`);
        const page = accept === MSGPACK ? decode(res.rawPayload) as any : JSON.parse(res.payload);
        const states = page.changes.filter((c: { type: string }) => c.type === 'balance.state' || c.type === 'voucher.state');
        const last = states.filter((c: any) => (c.body.customer ?? c.body.voucher) === 'toString').at(-1);
        t.same(Object.keys(last.body.includes), [term], `${term} sees its own includes entry only`);
        t.equal(last.body.includes[term], 4);
      }
      t.equal((await get(app, token, '/v1/sync-state')).body.ackSeq, 4);
    }
    const n = tokens.size;
    t.equal((await admin(app, 'GET', `/v1/admin/stores/${store}/customers/toString/balance`)).body.balance, 1000 - 10 * n);
    t.equal((await admin(app, 'GET', `/v1/admin/stores/${store}/customers/constructor/balance`)).body.balance, 1000 - n);
    t.equal((await admin(app, 'GET', `/v1/admin/stores/${store}/vouchers/valueOf`)).body.balance, 500 - 5 * n);
    const ev = await admin(app, 'GET', `/v1/admin/stores/${store}/events?terminal=hasOwnProperty`);
    t.equal(ev.status, 200);
    t.equal((await admin(app, 'GET', `/v1/admin/stores/${store}/terminals`)).body.terminals.length, n);
    t.equal((await admin(app, 'GET', `/v1/admin/stores/${store}/exceptions?status=all`)).status, 200);
    t.equal((await admin(app, 'DELETE', `/v1/admin/stores/${store}/items/valueOf`)).status, 200);
    t.equal((await admin(app, 'GET', `/v1/admin/stores/${store}`)).body.id, store);
  }

  // A terminal named `hasOwnProperty` applies its feed and answers from its views.
  const store = 'toString';
  const tok = (await admin(app, 'POST', `/v1/admin/stores/${store}/terminals/hasOwnProperty/token`)).body.token as string;
  const term = await Terminal.open(subdir(t, 'term'), { store, terminal: 'hasOwnProperty' });
  t.teardown(() => term.close());
  const page = (await get(app, tok, '/v1/feed?limit=1000')).body;
  await term.log.applyChanges(page.changes, page.cursor);
  t.equal(term.customerAccount('toString').confirmed, 1000 - 10 * (ACCEPTED.length + 1));
  t.equal(term.customerAccount('constructor').confirmed, 1000 - (ACCEPTED.length + 1));
  t.equal(term.voucherBalance('valueOf').confirmed, 500 - 5 * (ACCEPTED.length + 1));
  t.equal(term.item('valueOf'), undefined, 'removed item gone');
  t.equal(term.item('hasOwnProperty')?.name, 'I hasOwnProperty');
  t.equal(term.customerAccount('__lookupSetter__').confirmed, 1000);
  t.throws(() => term.customerAccount('isPrototypeOf_missing'), { code: 'CUSTOMER_NOT_FOUND' });
  t.throws(() => term.customerAccount('__defineSetter__'), { code: 'CUSTOMER_NOT_FOUND' }, 'a member name that is no customer');
  t.throws(() => term.voucherBalance('hasOwnProperty'), { code: 'VOUCHER_NOT_FOUND' });
  t.equal(term.searchCustomers('toString').length >= 0, true);
  const receipt = await term.completeSale({ lines: [{ item: 'toString', qty: 1 }], customer: 'valueOf', payments: [{ tender: 'account', amount: 100 }] } as never);
  t.equal(receipt.total, 100);
  t.equal(term.customerAccount('valueOf').balance, 900);
});
