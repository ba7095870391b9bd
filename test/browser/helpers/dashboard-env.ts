/**
 * For the cloud dashboard's browser tests: a second store ("Harbour Deli", EUR)
 * whose terminal t1 is driven through the terminal's real transport
 * (HttpTransport, sending the x-tillsync-report header computed by the real
 * UnsyncedSalesTracker over a real EventLog): it uploads a sale, a sale in US
 * dollars (quarantined: CURRENCY_MISMATCH) and an
 * account debit that overdraws a customer (an open exception), then sells two
 * more it has not uploaded (€12.50 + €9.90) and tells the cloud so. Terminal t2
 * never calls. Plus signing in on the dashboard the way a person does.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { EventLog } from '../../../src/events/event-log.ts';
import type { EventDraft } from '../../../src/events/event-types.ts';
import { HttpTransport } from '../../../src/replication/http-transport.ts';
import { UnsyncedSalesTracker } from '../../../src/replication/unsynced-sales.ts';
import { SEE_TIMEOUT_MS } from './browser-env.ts';

export const DELI = 'store-2';

export function eurSale(total: number, currency = 'EUR'): EventDraft {
  return {
    type: 'sale.completed',
    body: {
      currency,
      lines: [{ item: 'itm-bread', name: 'Sourdough', qty: 1, unitPrice: total, discount: 0, tax: 0 }],
      subtotal: total, discount: 0, tax: 0, total,
    },
  };
}

export interface DeliTerminal {
  log: EventLog;
  transport: HttpTransport;
  tracker: UnsyncedSalesTracker;
  /** Uploads everything not acknowledged yet; answers the new ackSeq. */
  uploadAll(): Promise<number>;
  close(): Promise<void>;
}

type Admin = <T>(method: string, path: string, body?: unknown) => Promise<T>;

export async function seedDeli(dir: string, cloudUrl: string, admin: Admin): Promise<DeliTerminal> {
  await admin('POST', '/v1/admin/stores', { id: DELI, name: 'Harbour Deli', currency: 'EUR' });
  const { token } = await admin<{ token: string }>('POST', `/v1/admin/stores/${DELI}/terminals`, { id: 't1', name: 'Deli till' });
  await admin('POST', `/v1/admin/stores/${DELI}/terminals`, { id: 't2', name: 'Back counter' });
  await admin('POST', `/v1/admin/stores/${DELI}/items`, [{ id: 'itm-bread', sku: 'BRD-1', name: 'Sourdough', barcodes: [], price: 800, taxRate: 0 }]);
  await admin('POST', `/v1/admin/stores/${DELI}/customers`, [{ id: 'cus-eva', name: 'Eva', openingBalance: 1000 }]);

  const log = await EventLog.open(join(dir, 'deli-t1'), { store: DELI, terminal: 't1' });
  const tracker = new UnsyncedSalesTracker(log);
  let ackSeq = 0;
  const transport = new HttpTransport({ baseUrl: cloudUrl, token, report: () => tracker.report(ackSeq) });
  const uploadAll = async () => {
    const events: Uint8Array[] = [];
    for await (const page of log.read(ackSeq + 1)) events.push(...page.map((e) => e.bytes));
    if (events.length > 0) ackSeq = (await transport.upload(events)).ackSeq;
    await tracker.refresh(ackSeq);
    await transport.syncState(); // tells the cloud what it now holds
    return ackSeq;
  };

  await log.append([eurSale(800)]);
  await log.append([eurSale(500, 'USD')]); // a till set to the wrong currency: quarantined (CURRENCY_MISMATCH)
  await log.append([{ type: 'balance.delta', body: { customer: 'cus-eva', delta: -1500, reason: 'sale' } }]); // 10.00 - 15.00: exception
  await tracker.refresh(ackSeq);
  await uploadAll();
  await log.append([eurSale(1250)]);
  await log.append([eurSale(990)]);
  await tracker.refresh(ackSeq);
  await transport.syncState();
  return { log, transport, tracker, uploadAll, close: () => log.close() };
}

/** Opens the dashboard, is sent to its sign-in page, types the admin token, and lands on the dashboard. */
export async function signInDashboard(page: Page, cloudUrl: string, adminToken: string): Promise<void> {
  await page.goto(`${cloudUrl}/`);
  await page.waitForURL(/\/sign-in\?next=/, { timeout: SEE_TIMEOUT_MS });
  await page.fill('#token', adminToken);
  await page.click('#sign-in');
  await page.waitForURL((u) => u.pathname === '/', { timeout: SEE_TIMEOUT_MS });
  await page.locator('#live.ok').waitFor({ timeout: SEE_TIMEOUT_MS });
}
