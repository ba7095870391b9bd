/**
 * A small, hand-written store for tests that need exact numbers: a few items
 * (one with an accented name), customers with opening balances, a voucher, and
 * the store's offline policy — applied as downstream changes, the way the cloud
 * would send them.
 */
import type { Change, StoreSettings } from '../../src/events/event-types.ts';
import { Terminal, type TerminalOptions } from '../../src/terminal/terminal.ts';

export const ITEMS = [
  { id: 'itm-cafe', sku: 'CAF-001', name: 'Café au lait', barcodes: ['4006381333931'], price: 350, taxRate: 1000 },
  { id: 'itm-creme', sku: 'CRM-002', name: 'Crème brûlée', barcodes: ['4006381333948'], price: 575, taxRate: 1000 },
  { id: 'itm-jal', sku: 'JAL-003', name: 'Jalapeño poppers', barcodes: ['4006381333955'], price: 899, taxRate: 800 },
  { id: 'itm-cola', sku: 'COL-004', name: 'Cola can 330ml', barcodes: ['5000112637922', '5000112637939'], price: 150, taxRate: 0 },
  { id: 'itm-coffee', sku: 'COF-005', name: 'Coffee beans dark roast', barcodes: ['4006381333962'], price: 1299, taxRate: 500 },
];

export const CUSTOMERS = [
  { id: 'cus-ana', name: 'Ana Muñoz', phone: '+1 (555) 010-2030', email: 'ana.munoz@example.com' },
  { id: 'cus-bob', name: 'Bob Stone', phone: '555-0199', email: 'bob@example.org' },
];

export function storeChanges(settings: Partial<StoreSettings> = {}): Change[] {
  const out: Change[] = [];
  let cursor = 0;
  out.push({ cursor: ++cursor, type: 'store.settings', body: { currency: 'USD', offlineStoredValue: 'cap', offlineCap: 5_000, ...settings } });
  for (const it of ITEMS) out.push({ cursor: ++cursor, type: 'item.upserted', body: it });
  for (const c of CUSTOMERS) out.push({ cursor: ++cursor, type: 'customer.upserted', body: c });
  out.push({ cursor: ++cursor, type: 'balance.state', body: { customer: 'cus-ana', balance: 10_000, includes: {} } });
  out.push({ cursor: ++cursor, type: 'balance.state', body: { customer: 'cus-bob', balance: 500, includes: {} } });
  out.push({ cursor: ++cursor, type: 'voucher.state', body: { voucher: 'GV-TEST-0001', balance: 2_500, includes: {} } });
  return out;
}

export async function openSmallStore(dir: string, opts: Partial<TerminalOptions> & { settings?: Partial<StoreSettings> } = {}): Promise<Terminal> {
  const { settings, ...rest } = opts;
  const term = await Terminal.open(dir, { store: 'store-1', terminal: 'till-1', ...rest });
  if (term.log.feedCursor === 0) {
    const changes = storeChanges(settings);
    await term.log.applyChanges(changes, changes[changes.length - 1]!.cursor);
  }
  return term;
}

/** Every key and value in the folder's LevelDB, for byte-for-byte comparisons. */
export async function dumpDb(term: Terminal): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of term.log.db.iterator()) out.set(k, Buffer.from(v).toString('hex'));
  return out;
}
