/**
 * Real parts for the browser tests: a cloud built in-process on loopback with
 * LevelDB in a temp folder, one store set up through the admin HTTP API (two
 * terminals, a small catalog with barcodes, customers with opening balances, a
 * voucher), two TerminalAgents enrolled with the issued tokens and the demo's
 * staff accounts, and Debian's Chromium driven by playwright-core. Every page
 * is opened the way staff open it: the agent redirects to its sign-in page, the
 * test types a staff ID and PIN, and lands on the page it asked for.
 *
 * Waiting is always for something a person would see on the page, with a
 * generous timeout, never for a fixed time.
 */
import type { AlarmThresholds } from '../../../src/terminal/alarm.ts';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { build } from '../../../src/server/app.ts';
import { LevelStorage } from '../../../src/server/level-storage.ts';
import { DEMO_STAFF } from '../../../src/cli/demo-env.ts';
import { TerminalAgent } from '../../../src/terminal/agent.ts';
import { until as untilCondition } from '../../helpers/env.ts';

export const STORE = 'store-1';
export const TERMINALS = ['till-1', 'till-2'] as const;

export const ITEMS = [
  { id: 'itm-cafe', sku: 'CAF-001', name: 'Café au lait', barcodes: ['4006381333931'], price: 350, taxRate: 1000 },
  { id: 'itm-croissant', sku: 'BAK-002', name: 'Butter croissant', barcodes: ['4006381333948'], price: 275, taxRate: 1000 },
  { id: 'itm-cola', sku: 'COL-004', name: 'Cola can 330ml', barcodes: ['5000112637922'], price: 150, taxRate: 0 },
  { id: 'itm-beans', sku: 'COF-005', name: 'Coffee beans dark roast 1kg', barcodes: ['4006381333962'], price: 1299, taxRate: 500 },
  { id: 'itm-mug', sku: 'MUG-006', name: 'Ceramic mug', barcodes: ['4006381333979'], price: 899, taxRate: 1000 },
];

export const CUSTOMERS = [
  { id: 'cus-ana', name: 'Ana Muñoz', phone: '+1 555 010 2030', email: 'ana.munoz@example.com', openingBalance: 10_000 },
  { id: 'cus-bob', name: 'Bob Stone', phone: '555-0199', email: 'bob@example.org', openingBalance: 500 },
];

export const VOUCHER = { code: 'GV-TEST-0001', amount: 2_500 };

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Generous: the machine may be a busy 2-core box running other test files (under a load
 * of ~40 a first upload, with the decode worker starting, took over 30 s).
 */
export const SEE_TIMEOUT_MS = 90_000;

export interface BrowserEnv {
  cloudUrl: string;
  /** The cloud's admin token (the dashboard's sign-in). */
  adminToken: string;
  cloud: FastifyInstance;
  agents: TerminalAgent[];
  browser: Browser;
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** A page of one agent ('/' or '/checkout') at a size fit for screenshots, signed in (as the manager unless told). */
  open(agent: TerminalAgent, path: string, as?: 'manager' | 'cashier'): Promise<Page>;
  stop(): Promise<void>;
}

export async function startBrowserEnv(dir: string, opts: { alarms?: Partial<AlarmThresholds> } = {}): Promise<BrowserEnv> {
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    // Last started, first stopped: browser, agents, cloud, storage.
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  };
  try {
    const adminToken = randomBytes(24).toString('base64url');
    const storage = await LevelStorage.open(join(dir, 'cloud'));
    stops.push(() => storage.close());
    const cloud = build({ storage, adminToken, heartbeatMs: 15_000 });
    await cloud.listen({ host: '127.0.0.1', port: 0 });
    stops.push(() => cloud.close());
    const addr = cloud.server.address();
    if (!addr || typeof addr === 'string') throw new Error('cloud has no TCP address');
    const cloudUrl = `http://127.0.0.1:${addr.port}`;

    const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${cloudUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    };

    await admin('POST', '/v1/admin/stores', { id: STORE, name: 'Corner Café', currency: 'USD' });
    const tokens: string[] = [];
    for (const id of TERMINALS) tokens.push((await admin<{ token: string }>('POST', `/v1/admin/stores/${STORE}/terminals`, { id, name: `Till ${id.slice(-1)}` })).token);
    await admin('POST', `/v1/admin/stores/${STORE}/items`, ITEMS);
    await admin('POST', `/v1/admin/stores/${STORE}/customers`, CUSTOMERS);
    await admin('POST', `/v1/admin/stores/${STORE}/vouchers`, VOUCHER);

    const agents: TerminalAgent[] = [];
    for (const [i, terminal] of TERMINALS.entries()) {
      const dataDir = join(dir, terminal);
      await mkdir(dataDir, { recursive: true });
      const agent = await TerminalAgent.start({
        dataDir, store: STORE, terminal, cloudUrl, token: tokens[i]!, port: 0, staff: DEMO_STAFF,
        ...(opts.alarms ? { alarms: opts.alarms } : {}),
        // A generous stallMs: a watchdog restart of a slow first upload shows "0 uploaded, 2 already there".
        worker: { stallMs: 60_000, uploadPollMs: 200, download: { intervalMs: 500 }, backoff: { initialMs: 100, maxMs: 1_000 } },
      });
      stops.push(() => agent.stop());
      agents.push(agent);
    }

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    stops.push(() => browser.close());

    const open = async (agent: TerminalAgent, path: string, as: 'manager' | 'cashier' = 'manager'): Promise<Page> => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      page.setDefaultTimeout(SEE_TIMEOUT_MS);
      await page.goto(`${agent.url}${path}`);
      await signIn(page, as);
      if (new URL(page.url()).pathname !== path) throw new Error(`after signing in the page is ${page.url()}, not ${path}`);
      return page;
    };

    return { cloudUrl, adminToken, cloud, agents, browser, admin, open, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** On the agent's sign-in page: types a demo staff member's ID and PIN and waits to be sent on. */
export async function signIn(page: Page, as: 'manager' | 'cashier'): Promise<void> {
  const who = DEMO_STAFF.find((s) => s.id === as)!;
  await page.waitForURL(/\/sign-in\?next=/, { timeout: SEE_TIMEOUT_MS });
  await page.fill('#staff', who.id);
  await page.fill('#pin', who.pin);
  await page.click('#sign-in');
  await page.waitForURL((u) => u.pathname !== '/sign-in', { timeout: SEE_TIMEOUT_MS });
  await see(page, '#who-name', who.name);
}

/**
 * Waits until the element's visible text matches, and returns it. On timeout
 * the error says what the page showed instead.
 */
export async function see(page: Page, selector: string, expected: string | RegExp, timeoutMs = SEE_TIMEOUT_MS): Promise<string> {
  // A string is matched as is (case-sensitive); playwright's own string match ignores case.
  const re = typeof expected === 'string' ? new RegExp(expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : expected;
  try {
    await page.locator(selector).filter({ hasText: re }).first().waitFor({ state: 'visible', timeout: timeoutMs });
  } catch (err) {
    const now = await textOf(page, selector).catch(() => '(element not found)');
    throw new Error(`${selector} never showed ${String(expected)}; it shows: ${JSON.stringify(now)}`, { cause: err });
  }
  return textOf(page, selector);
}

/** The element's visible text, whitespace collapsed. */
export async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}

/** A counter shown on the page, as a number. */
export async function numberOf(page: Page, selector: string): Promise<number> {
  const text = await textOf(page, selector);
  const n = Number(text.replace(/[^\d-]/g, ''));
  if (!Number.isFinite(n) || text.trim() === '') throw new Error(`${selector} shows ${JSON.stringify(text)}, not a number`);
  return n;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(process.cwd(), 'test-output');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Polls `fn` until it returns a truthy value (see test/helpers/env.ts), with the page tests' patience. */
export function until<T>(what: string, fn: () => Promise<T>, timeoutMs = SEE_TIMEOUT_MS): Promise<NonNullable<T>> {
  return untilCondition(what, fn, timeoutMs);
}
