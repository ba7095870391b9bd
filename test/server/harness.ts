// Shared setup for the cloud server tests: a real app over a real backend,
// admin helpers, and events made by the real terminal EventLog.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import { EventLog, type LoggedEvent } from '../../src/events/event-log.ts';
import type { EventDraft } from '../../src/events/event-types.ts';
import { build, type BuildOptions } from '../../src/server/app.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import { MemoryStorage } from '../../src/server/memory-storage.ts';
import type { CloudStorage, StorageFaults } from '../../src/server/storage.ts';

const bases = new WeakMap<Test, string>();
/** A fresh sub-folder of the test's t.testdir() (testdir itself is one folder per test). */
export function subdir(t: Test, name: string): string {
  let base = bases.get(t);
  if (!base) bases.set(t, (base = t.testdir()));
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const ADMIN = 'admin-token-for-tests-0123456789';
export const MSGPACK = 'application/msgpack';

export interface Cloud {
  app: FastifyInstance;
  storage: CloudStorage;
  dir: string | undefined;
  close(): Promise<void>;
}

export async function startCloud(
  t: Test,
  opts: { backend?: 'level' | 'memory'; dir?: string; faults?: StorageFaults; build?: Partial<BuildOptions> } = {},
): Promise<Cloud> {
  const backend = opts.backend ?? 'level';
  const dir = backend === 'level' ? (opts.dir ?? subdir(t, 'cloud')) : undefined;
  const f = opts.faults ? { faults: opts.faults } : {};
  const storage = dir ? await LevelStorage.open(dir, f) : new MemoryStorage(f);
  const app = build({ storage, adminToken: ADMIN, ...opts.build });
  await app.ready();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await storage.close();
  };
  t.teardown(close);
  return { app, storage, dir, close };
}

export function body(res: LightMyRequestResponse): any {
  const ct = String(res.headers['content-type'] ?? '');
  if (ct.startsWith(MSGPACK)) return decode(res.rawPayload);
  return res.payload === '' ? undefined : JSON.parse(res.payload);
}

export async function admin(app: FastifyInstance, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, contentType?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` };
  let data: string | undefined;
  if (payload !== undefined) {
    headers['content-type'] = contentType ?? 'application/json';
    data = typeof payload === 'string' ? payload : JSON.stringify(payload);
  }
  const res = await app.inject({ method, url, headers, ...(data !== undefined ? { payload: data } : {}) });
  return { status: res.statusCode, body: body(res), res };
}

export interface StoreSetup {
  tokens: Record<string, string>;
}

/** Store s1 (EUR) with terminals, items, customers c1 (10000) and c2 (0), voucher GIFT-1 (5000). */
export async function setupStore(t: Test, app: FastifyInstance, store = 's1', terminals = ['t1', 't2']): Promise<StoreSetup> {
  const ok = (r: { status: number; body: unknown }, what: string) => {
    if (r.status >= 300) t.fail(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  ok(await admin(app, 'POST', '/v1/admin/stores', { id: store, name: `Store ${store}`, currency: 'EUR' }), 'create store');
  const tokens: Record<string, string> = {};
  for (const id of terminals) {
    const r = await admin(app, 'POST', `/v1/admin/stores/${store}/terminals`, { id });
    ok(r, 'create terminal');
    tokens[id] = r.body.token;
  }
  ok(await admin(app, 'POST', `/v1/admin/stores/${store}/items`, [
    { id: 'i1', sku: 'SKU-1', name: 'Tea', barcodes: ['4006381333931'], price: 500, taxRate: 0 },
  ]), 'items');
  ok(await admin(app, 'POST', `/v1/admin/stores/${store}/customers`, [
    { id: 'c1', name: 'Ann', openingBalance: 10000 },
    { id: 'c2', name: 'Bob' },
  ]), 'customers');
  ok(await admin(app, 'POST', `/v1/admin/stores/${store}/vouchers`, { code: 'GIFT-1', amount: 5000 }), 'voucher');
  return { tokens };
}

/** A terminal's real event log in a temp folder. */
export async function terminalLog(t: Test, store: string, terminal: string): Promise<EventLog> {
  const log = await EventLog.open(subdir(t, `log-${store}-${terminal}`), { store, terminal });
  t.teardown(() => log.close());
  return log;
}

export function sale(total = 500, currency = 'EUR', customer?: string): EventDraft {
  return {
    type: 'sale.completed',
    body: {
      currency, ...(customer ? { customer } : {}),
      lines: [{ item: 'i1', name: 'Tea', qty: 1, unitPrice: total, discount: 0, tax: 0 }],
      subtotal: total, discount: 0, tax: 0, total,
    },
  };
}
export function delta(customer: string, amount: number): EventDraft {
  return { type: 'balance.delta', body: { customer, delta: amount, reason: 'sale' } };
}
export function redeem(voucher: string, amount: number): EventDraft {
  return { type: 'voucher.redeemed', body: { voucher, amount } };
}

export function uploadBody(events: Array<LoggedEvent | Uint8Array>): Buffer {
  return Buffer.from(encode({ v: 1, events: events.map((e) => (e instanceof Uint8Array ? e : e.bytes)) }));
}

export async function upload(app: FastifyInstance, token: string, events: Array<LoggedEvent | Uint8Array>) {
  const res = await app.inject({
    method: 'POST', url: '/v1/events',
    headers: { authorization: `Bearer ${token}`, 'content-type': MSGPACK },
    payload: uploadBody(events),
  });
  return { status: res.statusCode, body: body(res), res };
}

export async function get(app: FastifyInstance, token: string, url: string) {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: body(res), res };
}

// tap runs every file under test/ as a test; when run directly, this file checks itself.
if (process.argv[1]?.endsWith('harness.ts')) {
  const { default: tap } = await import('tap');
  tap.test('harness: a store is set up and accepts a sale from its terminal', async (t) => {
    const { app } = await startCloud(t, { backend: 'memory' });
    const { tokens } = await setupStore(t, app);
    const log = await terminalLog(t, 's1', 't1');
    t.equal((await upload(app, tokens.t1!, await log.append([sale(), delta('c1', -1), redeem('GIFT-1', 1)]))).body.accepted, 3);
  });
}
