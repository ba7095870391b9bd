/**
 * Releasing quarantined events after review (admin API
 * `POST /v1/admin/stores/:store/quarantine/:terminal/:seq/release`, CLI
 * `tillsync admin quarantine release`).
 *
 * Guarantees:
 * - A sale's atomic group is released as one: releasing any of its events
 *   releases every quarantined event of the group (`saleGroupEnd`, the rule the
 *   upload path quarantines it by), so a group never ends up split.
 * - A released event is applied as if it had been accepted: its stored-value
 *   delta moves the customer's or voucher's cloud balance (an overspend opens an
 *   exception as usual; a removed customer's ledger takes it), and the balance
 *   is published to the feed. Nothing is re-judged: releasing is the back
 *   office's decision that the money moved.
 * - All of it (quarantine records, views, feed changes, exceptions, counters)
 *   is one atomic commit under the store's lock, run by the caller.
 * - An event quarantined as EVENT_CONFLICT (its id belongs to another event) is
 *   never released: EVENT_CONFLICT (409).
 */
import { TillsyncError } from '../errors.ts';
import { decodeTrusted } from '../events/codec.ts';
import type { TillEvent } from '../events/event-types.ts';
import type { StoredEvent } from './storage.ts';
import type { StoreTx } from './store-tx.ts';
import { saleGroupEnd } from './upload.ts';
import { packUploadBatch, UploadBatch } from './upload-batch.ts';
import { ValueLedger } from './value-ledger.ts';

/** How far around the asked seq a sale group is looked for (a group is far smaller). */
const WINDOW = 256;

export interface ReleasedEvent {
  terminal: string;
  seq: number;
  id: string;
  type: string;
  code: string;
}

export async function releaseQuarantined(tx: StoreTx, terminal: string, seq: number): Promise<{ released: ReleasedEvent[] }> {
  const storage = tx.ctx.storage;
  const store = tx.store;
  const from = Math.max(1, seq - WINDOW);
  const rows = await storage.readEvents(store, terminal, from, 2 * WINDOW + 1);
  const k = rows.findIndex((r) => r.seq === seq);
  const target = rows[k];
  if (!target?.quarantine) {
    throw new TillsyncError('NOT_FOUND', `no quarantined event at ${store}/${terminal} seq ${seq}`, { details: { terminal, seq } });
  }
  if (!target.indexById || target.quarantine.code === 'EVENT_CONFLICT') {
    throw new TillsyncError('EVENT_CONFLICT', `event seq ${seq} reuses an id another event holds; it stays quarantined`, { details: { terminal, seq } });
  }
  const events = rows.map((r) => decodeTrusted<TillEvent>(r.bytes));
  const batch = new UploadBatch(packUploadBatch(rows.map((r, i) => ({ bytes: r.bytes, hash: r.hash, event: events[i]! }))));
  let [first, last] = [k, k];
  for (let h = 0; h <= k; h++) {
    if (batch.type(h) !== 'sale.completed') continue;
    const end = saleGroupEnd(batch, h);
    if (end >= k) [first, last] = [h, end];
    h = Math.max(h, end);
  }
  const members: StoredEvent[] = [];
  for (let i = first; i <= last; i++) {
    const r = rows[i]!;
    if (r.quarantine && r.indexById && r.quarantine.code !== 'EVENT_CONFLICT') members.push(r);
  }

  const ledger = new ValueLedger(tx);
  const index = new Map(rows.map((r, i) => [r.seq, i]));
  const customers = members.flatMap((r) => (batch.type(index.get(r.seq)!) === 'balance.delta' ? [batch.customer(index.get(r.seq)!)] : []));
  const vouchers = members.flatMap((r) => {
    const t = batch.type(index.get(r.seq)!);
    return t === 'voucher.issued' || t === 'voucher.redeemed' ? [batch.voucher(index.get(r.seq)!)] : [];
  });
  const [known, hw] = await Promise.all([storage.getCustomers(store, customers), storage.getHighWater(store, terminal), ledger.load('balance', customers)]);
  await ledger.load('voucher', vouchers);
  const released: ReleasedEvent[] = [];
  for (const r of members) {
    const i = index.get(r.seq)!;
    const type = batch.type(i);
    const from = { terminal, seq: r.seq, id: r.id };
    if (type === 'balance.delta') {
      const c = batch.customer(i);
      const removed = known[customers.indexOf(c)] === undefined;
      ledger.apply('balance', c, batch.amount(i), from, { removed });
    } else if (type === 'voucher.issued' || type === 'voucher.redeemed') {
      ledger.apply('voucher', batch.voucher(i), batch.amount(i), from);
    }
    tx.put({ kind: 'quarantineReleased', store, terminal, seq: r.seq });
    released.push({ terminal, seq: r.seq, id: r.id, type, code: r.quarantine!.code });
  }
  ledger.include(terminal, hw.seq);
  const { exceptionsChanged } = ledger.finish();
  tx.counters.quarantined = Math.max(0, tx.counters.quarantined - released.length);
  tx.put({ kind: 'highWater', store, terminal, highWater: { ...hw, quarantined: Math.max(0, hw.quarantined - released.length) } });
  await tx.commit({ exceptionsChanged });
  return { released };
}
