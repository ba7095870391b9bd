// A real cloud on loopback (fastify on 127.0.0.1:0, LevelDB in a temp folder)
// and real terminals: an EventLog in its own temp folder + SyncWorker over
// HttpTransport, optionally behind a FaultProxy.
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { EventLog } from '../../../src/events/event-log.ts';
import { HttpTransport } from '../../../src/replication/http-transport.ts';
import { SyncWorker, type SyncWorkerOptions } from '../../../src/replication/sync-worker.ts';
import { build } from '../../../src/server/app.ts';
import { LevelStorage } from '../../../src/server/level-storage.ts';
import { WAIT_MS } from '../../helpers/wait.ts';
import { freshDir } from './dirs.ts';
import { FaultProxy } from './fault-proxy.ts';

export const ADMIN = 'admin-token-for-replication-tests-0123';
export const STORE = 's1';

export interface RealCloud {
  app: FastifyInstance;
  storage: LevelStorage;
  port: number;
  url: string;
  dir: string;
  close(): Promise<void>;
}

export { freshDir };

export async function startCloud(t: Test, dir = freshDir(t, 'cloud')): Promise<RealCloud> {
  const storage = await LevelStorage.open(dir);
  const app = build({ storage, adminToken: ADMIN, heartbeatMs: 2_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await app.close();
    await storage.close();
  };
  t.teardown(close);
  return { app, storage, port, url: `http://127.0.0.1:${port}`, dir, close };
}

export async function admin(cloud: RealCloud, method: 'GET' | 'POST', url: string, payload?: unknown): Promise<{ status: number; body: any }> {
  const res = await cloud.app.inject({
    method, url,
    headers: { authorization: `Bearer ${ADMIN}`, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
  return { status: res.statusCode, body: res.payload === '' ? undefined : JSON.parse(res.payload) };
}

/** Store s1 (EUR): terminals, an item, customer c1 with 10000 credit, voucher GIFT-1 with 5000. */
export async function setupStore(t: Test, cloud: RealCloud, terminals: string[]): Promise<Record<string, string>> {
  const must = (r: { status: number; body: unknown }, what: string): void => {
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  must(await admin(cloud, 'POST', '/v1/admin/stores', { id: STORE, name: 'Store 1', currency: 'EUR' }), 'store');
  const tokens: Record<string, string> = {};
  for (const id of terminals) {
    const r = await admin(cloud, 'POST', `/v1/admin/stores/${STORE}/terminals`, { id });
    must(r, 'terminal');
    tokens[id] = r.body.token;
  }
  must(await admin(cloud, 'POST', `/v1/admin/stores/${STORE}/items`, [
    { id: 'i1', sku: 'SKU-1', name: 'Tea', barcodes: ['4006381333931'], price: 500, taxRate: 0 },
  ]), 'items');
  must(await admin(cloud, 'POST', `/v1/admin/stores/${STORE}/customers`, [{ id: 'c1', name: 'Ann', openingBalance: 10_000 }]), 'customers');
  must(await admin(cloud, 'POST', `/v1/admin/stores/${STORE}/vouchers`, { code: 'GIFT-1', amount: 5_000 }), 'voucher');
  t.ok(true, 'store set up');
  return tokens;
}

export interface RealTerminal {
  id: string;
  log: EventLog;
  transport: HttpTransport;
  worker: SyncWorker;
  proxy: FaultProxy;
}

/** A terminal behind its own fault proxy to the cloud. */
export async function startTerminal(t: Test, cloud: RealCloud, id: string, token: string, extra: Partial<SyncWorkerOptions> = {}): Promise<RealTerminal> {
  const log = await EventLog.open(freshDir(t, `term-${id}`), { store: STORE, terminal: id });
  const proxy = await FaultProxy.start(cloud.port);
  // Generous: on a busy machine a first upload (the decode worker starting) can take seconds.
  const transport = new HttpTransport({ baseUrl: proxy.url, token, timeoutMs: 60_000 });
  const worker = new SyncWorker({
    log, transport,
    backoff: { initialMs: 30, maxMs: 250 },
    upload: { maxEvents: 50, window: 2 },
    ...extra,
  });
  t.teardown(async () => {
    await worker.stop();
    await proxy.close();
    if (!log.isClosed) await log.close();
  });
  return { id, log, transport, worker, proxy };
}

/** Every event the cloud stored for a terminal, in seq order. */
export async function cloudEvents(cloud: RealCloud, terminal: string): Promise<Array<{ seq: number; id: string; hash: string; bytes: Uint8Array }>> {
  const out = [];
  for (let from = 1; ;) {
    const rows = await cloud.storage.readEvents(STORE, terminal, from, 1000);
    out.push(...rows);
    if (rows.length < 1000) return out;
    from = rows[rows.length - 1]!.seq + 1;
  }
}

/** Local events of a log, in seq order. */
export async function localEvents(log: EventLog): Promise<Array<{ seq: number; hash: string; id: string }>> {
  const out = [];
  for await (const page of log.read(1)) for (const e of page) out.push({ seq: e.seq, hash: e.hash, id: e.event.id });
  return out;
}

/** Polls `cond` until true; on timeout the error names `what` and, if given, the state it ended in. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS, state?: () => unknown): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) {
      let seen = '';
      if (state) seen = `; last seen: ${JSON.stringify(await state())}`;
      throw new Error(`timed out after ${ms} ms waiting for: ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
