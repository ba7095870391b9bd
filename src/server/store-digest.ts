/**
 * GET /v1/digest: what a terminal should hold after downloading the store's
 * whole feed — per kind (items, customers, confirmed balances, vouchers) a count
 * and a SHA-256 computed exactly as the terminal computes its own
 * (src/events/catalog-digest.ts). The terminal's full resync compares the two
 * before it reports success (F7).
 *
 * It folds the feed the terminal folds, through the storage interface only, in
 * pages; `head` is the last cursor folded, so a terminal that has not reached it
 * yet knows to download more first.
 */
import { digestRecords, type CatalogDigest } from '../events/catalog-digest.ts';
import type { CustomerRecord, ItemRecord } from '../events/event-types.ts';
import type { CloudStorage } from './storage.ts';

const PAGE = 5_000;

export async function storeDigest(storage: CloudStorage, store: string): Promise<{ head: number; digest: CatalogDigest }> {
  const items = new Map<string, ItemRecord>();
  const customers = new Map<string, CustomerRecord>();
  const balances = new Map<string, number>();
  const vouchers = new Map<string, number>();
  let head = 0;
  for (;;) {
    const page = await storage.readFeed(store, head, PAGE);
    for (const c of page) {
      switch (c.type) {
        case 'item.upserted': items.set(c.body.id, c.body); break;
        case 'item.removed': items.delete(c.body.id); break;
        case 'customer.upserted': customers.set(c.body.id, c.body); break;
        case 'customer.removed': customers.delete(c.body.id); break;
        case 'balance.state': balances.set(c.body.customer, c.body.balance); break;
        case 'voucher.state': vouchers.set(c.body.voucher, c.body.balance); break;
        case 'store.settings': break;
      }
      head = c.cursor;
    }
    if (page.length < PAGE) break;
  }
  return {
    head,
    digest: {
      items: digestRecords(items.entries()),
      customers: digestRecords(customers.entries()),
      balances: digestRecords(balances.entries()),
      vouchers: digestRecords(vouchers.entries()),
    },
  };
}
