// Card numbers and CVVs are refused in every back-office body too (found by the
// fuzzer: a store named with a card number was stored and answered back).
import t from 'tap';
import { admin, setupStore, startCloud } from './harness.ts';

const PAN = '4111 1111 1111 1111';

t.test('admin bodies with a card number or a CVV are refused and change nothing', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  await setupStore(t, app, 's1', ['t1']);
  const store = await admin(app, 'POST', '/v1/admin/stores', { id: 's2', name: `Shop ${PAN}`, currency: 'EUR' });
  t.equal(store.body.error.code, 'FULL_CARD_NUMBER');
  t.notOk(JSON.stringify(store.body).includes(PAN), 'the number is not answered back');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s2')).body.error.code, 'STORE_NOT_FOUND', 'nothing created');
  const term = await admin(app, 'POST', '/v1/admin/stores/s1/terminals', { id: 't9', name: PAN.replace(/ /g, '') });
  t.equal(term.body.error.code, 'FULL_CARD_NUMBER');
  const voucher = await admin(app, 'POST', '/v1/admin/stores/s1/vouchers', { code: '4111-1111-1111-1111', amount: 100 });
  t.equal(voucher.body.error.code, 'FULL_CARD_NUMBER');
  const cvv = await admin(app, 'PATCH', '/v1/admin/stores/s1/settings', { offlineCap: 100, cvv: '123' });
  t.equal(cvv.body.error.code, 'CVV_REJECTED');
  const items = await admin(app, 'POST', '/v1/admin/stores/s1/items', [{ id: 'i9', sku: 'S9', name: `Gift ${PAN}`, barcodes: [], price: 1, taxRate: 0 }]);
  t.equal(items.body.error.code, 'IMPORT_INVALID', 'imports still name the bad row themselves');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/terminals')).body.terminals.length, 1);
});
