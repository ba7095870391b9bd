// Issue 24, item 2: a batch never ends inside a sale's atomic group, so the
// cloud (which judges a group as one only within one batch) accepts or
// quarantines every group whole. Real terminal logs (LevelDB in temp folders),
// a real cloud on 127.0.0.1 over HttpTransport, batches forced to 5 events.
import t from 'tap';
import { monotonicFactory } from 'ulid';
import type { EventDraft } from '../../src/events/event-types.ts';
import { saleToDrafts, type PaymentInput } from '../../src/fixtures/sales.ts';
import { BatchSource } from '../../src/replication/batch-source.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import type { PassContext } from '../../src/replication/retry-loop.ts';
import { UploadLoop } from '../../src/replication/upload-loop.ts';
import { admin, setupStore, startCloud, STORE } from './helpers/cloud.ts';
import { openLog } from './helpers/logs.ts';

const ulid = monotonicFactory();
const BATCH = 5;
const ctx = (): PassContext => ({ signal: new AbortController().signal, progress: () => {} });
/** A standalone balance adjustment: one event, in no sale group. */
const adjustment: EventDraft = { type: 'balance.delta', body: { customer: 'c1', delta: 1, reason: 'adjustment' } };

/** The group Terminal.completeSale appends: sale.completed, then per payment payment.taken (+ its stored-value event). */
function sale(payments: PaymentInput[]): EventDraft[] {
  const total = payments.reduce((a, p) => a + p.amount, 0);
  return saleToDrafts({ lines: [{ item: 'i1', name: 'Tea', qty: 1, unitPrice: total, discount: 0, tax: 0 }], payments }, ulid(), { currency: 'EUR' });
}
const cash = (amount: number): PaymentInput => ({ tender: 'cash', amount, tendered: amount, change: 0 });
const voucher = (code: string, amount: number): PaymentInput => ({ tender: 'voucher', voucher: code, amount });
const account = (amount: number): PaymentInput => ({ tender: 'account', customer: 'c1', amount });

t.test('groups straddling every batch boundary: the unknown-voucher groups quarantined whole, every other group accepted', async (t) => {
  const cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1']);
  const log = await openLog(t, { store: STORE, terminal: 't1' });
  const bad: Array<[number, number]> = [];
  const next = async (): Promise<number> => log.head.seq + 1;
  // A bad group (5 events: sale, cash, unknown voucher payment, its redemption, cash)
  // starting at each offset within a 5-event batch, between good groups of 2–5
  // events that straddle the fixed boundaries too.
  for (let offset = 0; offset < BATCH; offset++) {
    while ((await next()) % BATCH !== (offset + 1) % BATCH) await log.append([adjustment]);
    const from = await next();
    await log.append(sale([cash(50), voucher(`NOPE-${offset}`, 100), cash(50)]));
    bad.push([from, from + 4]);
    await log.append(sale([voucher('GIFT-1', 100)])); // 3 events
    await log.append(sale([account(100)])); // 3
    await log.append(sale([cash(100)])); // 2
    await log.append(sale([cash(50), account(50), voucher('GIFT-1', 50)])); // 6: larger than a batch alone, may be cut
    await log.append(sale([account(40), voucher('GIFT-1', 40)])); // 5: exactly a batch
  }
  const total = log.head.seq;
  const cutWithoutGrouping = bad.filter(([a, b]) => Math.ceil(a / BATCH) !== Math.ceil(b / BATCH)).length;
  t.equal(cutWithoutGrouping, BATCH - 1, 'fixed 5-event batches would cut all bad groups but the aligned one');

  const transport = new HttpTransport({ baseUrl: cloud.url, token: tokens.t1!, timeoutMs: 60_000 });
  const loop = new UploadLoop(log, transport, { maxEvents: BATCH, window: 2 });
  await loop.load();
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, total, 'everything acknowledged');
  t.equal(r.quarantined, bad.length * 5, 'exactly the bad groups quarantined');

  const q = await cloud.storage.listQuarantine(STORE, 1000);
  const expected = bad.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
  t.same(q.map((e) => e.seq).sort((a, b) => a - b), expected, 'each bad group whole, nothing else');
  t.ok(q.every((e) => e.code === 'VOUCHER_NOT_FOUND'), 'quarantined for the unknown voucher');
  // c1: 10000, per round -100 -50 -40 and +1 per adjustment, all accepted.
  const adjustments = total - BATCH * (5 + 3 + 3 + 2 + 6 + 5);
  const bal = await admin(cloud, 'GET', `/v1/admin/stores/${STORE}/customers/c1/balance`);
  t.equal(bal.body.balance, 10_000 - BATCH * 190 + adjustments, 'every good account payment debited, every adjustment applied');
});

t.test('BatchSource: a full batch ends before a group that does not fit; a group larger than a batch is cut', async (t) => {
  const log = await openLog(t);
  await log.append(sale([cash(1)])); // 1-2
  await log.append(sale([account(1)])); // 3-5
  await log.append(sale([cash(1), account(1), voucher('GIFT-1', 1)])); // 6-11: larger than a batch
  await log.append([adjustment]); // 12
  await log.append(sale([voucher('GIFT-1', 1)])); // 13-15
  const src = new BatchSource(log, 1, 15, 4, 1 << 20);
  const cuts: Array<[number, number, number]> = [];
  for (let b = await src.next(); b; b = await src.next()) cuts.push([b.from, b.to, b.events.length]);
  await src.close();
  t.same(cuts, [[1, 2, 2], [3, 5, 3], [6, 9, 4], [10, 12, 3], [13, 15, 3]]);
  // The bytes limit ends batches at group starts too.
  let upTo4 = 0;
  for (let seq = 1; seq <= 4; seq++) upTo4 += (await log.get(seq))!.bytes.byteLength;
  const byBytes = new BatchSource(log, 1, 5, 1000, upTo4); // seqs 1-4 fit, 1-5 do not
  const b1 = (await byBytes.next())!;
  t.same([b1.from, b1.to], [1, 2], 'the account group (3 events) did not fit after the cash sale');
  t.same(b1.bytes, b1.events.reduce((a, e) => a + e.byteLength, 0), 'bytes counts only the events sent');
  const b2 = (await byBytes.next())!;
  t.same([b2.from, b2.to], [3, 5]);
  t.equal(await byBytes.next(), undefined);
  await byBytes.close();
});
