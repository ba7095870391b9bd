/**
 * A whole tillsync installation in one process: a cloud (fastify + LevelDB) on
 * loopback, one store, N enrolled terminals each running a TerminalAgent. Used
 * by `tillsync demo` (`npm start`) and by end-to-end tests, so both exercise the
 * same real parts: enrollment and imports go through the cloud's admin HTTP API.
 *
 * Everything lives under one folder; a second start reuses it (the cloud data,
 * the enrolled terminals' credentials and their logs) instead of re-seeding.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { TillsyncError } from '../errors.ts';
import type { CustomerRecord, ItemRecord, StoreSettings } from '../events/event-types.ts';
import { build } from '../server/app.ts';
import { LevelStorage } from '../server/level-storage.ts';
import { TerminalAgent, readAgentConfig, writeAgentConfig, type AgentOptions } from '../terminal/agent.ts';
import type { StaffInput } from '../terminal/staff-accounts.ts';
import type { LoggingOptions } from '../http/logging.ts';

/**
 * The demo's staff, created on each terminal's first start (staff.json) and
 * printed by `npm start`. Fixed, documented PINs: a demo, not a store.
 */
export const DEMO_STAFF: StaffInput[] = [
  { id: 'manager', name: 'Morgan (manager)', role: 'manager', pin: '2580' },
  { id: 'cashier', name: 'Casey (cashier)', role: 'cashier', pin: '1234' },
];

export interface SeedData {
  items: ItemRecord[];
  customers: Array<{ record: CustomerRecord; openingBalance: number }>;
  vouchers: Array<{ code: string; amount: number }>;
}

export interface EnvironmentOptions {
  dir: string;
  /** Logging of the cloud and the agents (http/logging.ts); default: none. */
  logging?: LoggingOptions;
  store?: string;
  storeName?: string;
  terminals?: string[];
  settings?: Partial<StoreSettings>;
  /** Called only when the folder is new. */
  seed?: () => SeedData;
  cloudPort?: number;
  agentPorts?: number[];
  worker?: AgentOptions['worker'];
  /** Staff accounts of each new terminal (default DEMO_STAFF). */
  staff?: StaffInput[];
  refundLimit?: number;
  /** The agents' alarm thresholds (alarm.ts). */
  alarms?: AgentOptions['alarms'];
  onProgress?: (message: string) => void;
}

export interface Environment {
  cloudUrl: string;
  adminToken: string;
  cloud: FastifyInstance;
  storage: LevelStorage;
  agents: TerminalAgent[];
  store: string;
  seeded: boolean;
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

async function adminRequest<T>(cloudUrl: string, adminToken: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${cloudUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const parsed = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
  if (!res.ok) {
    throw new TillsyncError('VALIDATION_FAILED', `admin ${method} ${path} failed: ${res.status} ${parsed?.error?.code ?? ''} ${parsed?.error?.message ?? ''}`);
  }
  return parsed as T;
}

export async function startEnvironment(opts: EnvironmentOptions): Promise<Environment> {
  const store = opts.store ?? 'demo-store';
  const terminals = opts.terminals ?? ['till-1', 'till-2'];
  const say = opts.onProgress ?? (() => {});
  await mkdir(opts.dir, { recursive: true });
  const tokenFile = join(opts.dir, 'admin-token');
  const fresh = !existsSync(join(opts.dir, 'cloud'));
  const adminToken = existsSync(tokenFile) ? (await readFile(tokenFile, 'utf8')).trim() : randomBytes(24).toString('base64url');
  if (!existsSync(tokenFile)) await writeFile(tokenFile, `${adminToken}\n`, { mode: 0o600 });

  const storage = await LevelStorage.open(join(opts.dir, 'cloud'));
  const cloud = build({ storage, adminToken, heartbeatMs: 15_000, ...(opts.logging ? { logging: opts.logging } : {}) });
  await cloud.listen({ host: '127.0.0.1', port: opts.cloudPort ?? 0 });
  const addr = cloud.server.address();
  const cloudUrl = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : String(addr);
  const admin = <T>(method: string, path: string, body?: unknown) => adminRequest<T>(cloudUrl, adminToken, method, path, body);
  const agents: TerminalAgent[] = [];
  // Best effort in order (agents, then the cloud, then its storage): a failing
  // step is reported and the next one still runs, so nothing is left open.
  const stop = async (): Promise<void> => {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ...agents.splice(0).map((a): [string, () => Promise<unknown>] => [`terminal ${a.terminal.terminal}`, () => a.stop()]),
      ['cloud server', () => cloud.close()],
      ['cloud storage', () => storage.close()],
    ];
    for (const [name, step] of steps) {
      await step().catch((err: unknown) => console.error(`tillsync: stopping ${name}: ${err instanceof Error ? err.message : String(err)}`));
    }
  };

  try {
    if (fresh) {
      say(`creating store ${store}`);
      await admin('POST', '/v1/admin/stores', { id: store, name: opts.storeName ?? 'Demo store', currency: 'USD', ...opts.settings });
      const data = opts.seed?.();
      if (data) {
        say(`importing ${data.items.length} items`);
        for (let i = 0; i < data.items.length; i += 20_000) {
          await admin('POST', `/v1/admin/stores/${store}/items`, data.items.slice(i, i + 20_000));
        }
        say(`importing ${data.customers.length} customers with opening balances`);
        await admin('POST', `/v1/admin/stores/${store}/customers`, data.customers.map((c) => ({ ...c.record, ...(c.openingBalance ? { openingBalance: c.openingBalance } : {}) })));
        say(`issuing ${data.vouchers.length} vouchers`);
        for (const v of data.vouchers) await admin('POST', `/v1/admin/stores/${store}/vouchers`, v);
      }
    }
    for (const [i, id] of terminals.entries()) {
      const dataDir = join(opts.dir, id);
      let config = await readAgentConfig(dataDir);
      if (!config) {
        say(`enrolling terminal ${id}`);
        const created = await admin<{ token: string }>('POST', `/v1/admin/stores/${store}/terminals`, { id });
        config = { store, terminal: id, cloudUrl, token: created.token };
      }
      // The cloud's port may differ from the last run.
      config = { ...config, cloudUrl };
      await writeAgentConfig(dataDir, config);
      agents.push(await TerminalAgent.start({
        ...config, dataDir, port: opts.agentPorts?.[i] ?? 0,
        staff: opts.staff ?? DEMO_STAFF,
        ...(opts.refundLimit !== undefined ? { refundLimit: opts.refundLimit } : {}),
        ...(opts.alarms ? { alarms: opts.alarms } : {}),
        ...(opts.worker ? { worker: opts.worker } : {}),
        ...(opts.logging ? { logging: opts.logging } : {}),
      }));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { cloudUrl, adminToken, cloud, storage, agents, store, seeded: fresh, admin, stop };
}
