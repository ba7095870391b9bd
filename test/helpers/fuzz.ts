/**
 * The seeded request fuzzer (issue 15, section 4), shared by `npm run fuzz`
 * (scripts/fuzz.ts) and the short run in `npm test` (test/server/fuzz.test.ts).
 *
 * A real cloud and a real terminal agent on loopback (LevelDB in a temp folder)
 * take requests on every route of the cloud's route table (terminal and admin)
 * and every route the agent recorded: random bytes; mutated real upload batches
 * (flipped and truncated bytes, huge declared lengths, deep nesting, NaN and
 * floats for money, `__proto__` keys); mutated valid JSON bodies (wrong types,
 * extra fields, `__proto__` keys, duplicate keys, invalid UTF-8, Luhn card
 * numbers and CVVs in any field, item names and notes included); hostile path
 * parameters and queries; Content-Lengths far over the limit. Every request is
 * chosen by one seed, so a failure replays with `--seed`.
 *
 * It asserts, per answer: no 5xx; a failure is `{error:{code,message}}` with a
 * code from src/errors.ts (the README table is tested equal to it) and that
 * code's status; no card number sent in the request comes back. Over the run:
 * the process does not crash and its RSS stays under a bound.
 */
import { Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encode } from '@msgpack/msgpack';
import { ulid } from 'ulid';
import { EventLog } from '../../src/events/event-log.ts';
import { createRng, type Rng } from '../../src/fixtures/prng.ts';
import { recordedRoutes } from '../../src/http/error-contract.ts';
import { routeTable } from '../../src/server/app.ts';
import { readFile } from 'node:fs/promises';
import type { TerminalAgent } from '../../src/terminal/agent.ts';
import { smallEnvironment } from './env.ts';
import { mutate, REPLACEMENTS, sampleDrafts } from './mutations.ts';
import { answerBody, contractViolation, rawRequest, requestBytes, type RawResponse } from './raw-http.ts';

/**
 * The one place that supplies the agent's request headers: the agent's pairing
 * token (the manager role), as the CLI sends it, so the fuzzer reaches every
 * route's own checks instead of stopping at AUTH_REQUIRED.
 */
export async function agentHeaders(agent: TerminalAgent, _agentUrl: string): Promise<Record<string, string>> {
  return { authorization: `Bearer ${(await readFile(agent.pairingTokenFile, 'utf8')).trim()}` };
}

export interface FuzzOptions {
  requests: number;
  seed: number;
  dir: string;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** RSS bound of this process (cloud + agent), MB. Default 1024. */
  maxRssMb?: number;
  onProgress?: (done: number, stats: FuzzStats) => void;
}

export interface FuzzStats {
  seed: number;
  requests: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  kinds: Record<string, number>;
  violations: number;
  /** The first violations, each with the request that caused it. */
  examples: string[];
  startRssMb: number;
  maxRssMb: number;
  ms: number;
  healthyAfter: boolean;
}

interface Target {
  side: 'cloud' | 'agent';
  method: string;
  url: string;
  auth: 'none' | 'terminal' | 'admin' | 'agent';
}

interface FuzzRequest {
  side: Target['side'];
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent over a fresh raw socket (bytes no HTTP client sends, lying lengths). */
  raw?: Buffer;
  /** Card numbers placed in the request: none may come back. */
  pans: string[];
}

const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf', '__defineGetter__'];
const HOSTILE_IDS = [
  ...PROTO_NAMES, '%ff%fe', '%c0%ae', '%', '%zz', '%00', 'a%2fb', '..', '%2e%2e', 'x'.repeat(65), 'x'.repeat(150), '\u00ff\u00fe',
  '%e2%80%ae', '%f0%9f%92%a9', '4111111111111111', '-', '_', 'a.b', 'exc-99999999999999999', 'exc-1', '0', '-1', '1e309', 'NaN',
];
const CONTENT_TYPES = ['application/json', 'application/msgpack', 'text/csv', 'text/plain', '', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded'];

/** Luhn-valid card numbers, formatted in the ways a till operator might type one. */
function luhnNumber(rng: Rng): string {
  const digits = [4, ...Array.from({ length: 14 }, () => rng.int(0, 9))];
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits[digits.length - 1 - i]!;
    if (i % 2 === 0) d *= 2;
    sum += d > 9 ? d - 9 : d;
  }
  digits.push((10 - (sum % 10)) % 10);
  const s = digits.join('');
  return rng.pick([s, s.replace(/(\d{4})/g, '$1 ').trim(), s.replace(/(\d{4})/g, '$1-').replace(/-$/, '')]);
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

/** Valid-looking JSON bodies per route (then mutated). */
function template(t: Target, rng: Rng, ctx: FuzzContext): unknown {
  const u = t.url;
  const n = rng.int(0, 1_000_000);
  if (u === '/api/sales') return { lines: [{ item: rng.pick(ctx.items), qty: rng.int(1, 3) }], payments: [{ tender: 'cash', tendered: 5000 }] };
  if (u === '/api/sales/quote') return { lines: [{ item: rng.pick(ctx.items), qty: 2, discount: 10 }] };
  if (u.endsWith('/refund')) return { amount: 100, tender: 'cash', reason: 'returned' };
  if (u.endsWith('/void')) return { reason: 'mistake' };
  if (u.endsWith('/adjust')) return { delta: rng.int(-100, 100) || 1, note: 'goodwill' };
  if (u.endsWith('/redeem') || u.endsWith('/issue')) return { amount: rng.int(1, 500) };
  if (u === '/api/local-mode') return { on: false };
  if (u === '/api/resync/force') return { dryRun: true };
  if (u === '/api/credential') return { token: 'x'.repeat(rng.int(0, 40)) };
  if (u === '/v1/admin/stores') return { id: `fz-${n}`, name: 'Fuzz store', currency: 'USD' };
  if (u.endsWith('/settings')) return { offlineStoredValue: 'cap', offlineCap: rng.int(0, 10_000) };
  if (u.endsWith('/terminals')) return { id: `fz-t${n}` };
  if (u.endsWith('/items')) return [{ id: `fz-i${n}`, sku: `FZ-${n}`, name: 'Fuzz item', barcodes: [], price: rng.int(0, 10_000), taxRate: 0 }];
  if (u.endsWith('/customers')) return [{ id: `fz-c${n}`, name: 'Fuzz customer', openingBalance: rng.int(0, 1000) }];
  if (u.endsWith('/vouchers')) return { code: `FZ-${n}`, amount: rng.int(1, 1000) };
  if (u.endsWith('/resolve')) return { note: 'fuzz' };
  if (u === '/v1/events/check') return { v: 1, events: ctx.events.slice(0, 3).map((e) => ({ id: e.id, seq: e.seq, hash: e.hash })) };
  return {};
}

/** Puts a card number or a CVV somewhere in `value` (any string field, or a new key). */
function plantCardData(value: unknown, rng: Rng, pans: string[]): void {
  if (value === null || typeof value !== 'object') return;
  const objects: Array<Record<string, unknown>> = [];
  const walk = (v: unknown) => {
    if (v && typeof v === 'object') {
      objects.push(v as Record<string, unknown>);
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(value);
  const target = rng.pick(objects);
  const pan = luhnNumber(rng);
  const key = rng.pick(['name', 'note', 'reason', 'email', 'phone', 'sku', 'card', 'token', 'cvv', 'cvc', 'securityCode', 'pan', 'number', 'memo']);
  if (key === 'cvv' || key === 'cvc' || key === 'securityCode') target[key] = String(rng.int(100, 9999));
  else {
    target[key] = rng.chance(0.5) ? pan : `ref ${pan} thanks`;
    pans.push(pan);
  }
}

/** Text-level mutations JSON objects cannot express: duplicate keys, `__proto__`, NaN, invalid UTF-8, truncation, deep nesting. */
function jsonText(value: unknown, rng: Rng): Buffer {
  let text = JSON.stringify(value) ?? 'null';
  const op = rng.int(0, 9);
  if (op === 0 && text.startsWith('{')) text = `{"__proto__":{"polluted":1},${text.slice(1)}`;
  else if (op === 1 && text.startsWith('{') && text.length > 2) text = `{"amount":1,"amount":"x",${text.slice(1)}`;
  else if (op === 2) text = text.replace(/:(\d+)/, ':NaN');
  else if (op === 3) text = text.replace(/:(\d+)/, ':1.5e308');
  else if (op === 4) text = text.slice(0, rng.int(0, text.length));
  else if (op === 5) {
    const d = rng.int(13, 5000);
    text = rng.chance(0.5) ? '['.repeat(d) + ']'.repeat(d) : '{"a":'.repeat(d) + '1' + '}'.repeat(d);
  } else if (op === 6) {
    const b = Buffer.from(text);
    const at = b.indexOf('"') + 1;
    return at > 0 ? Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xfe, 0xc0, 0xae]), b.subarray(at)]) : b;
  } else if (op === 7) text = text.replace(/"[^"]*"/, `"${'\u202e\u0000\ud800'}"`);
  return Buffer.from(text);
}

/** A mutated real upload batch (msgpack bytes). */
function batchBytes(rng: Rng, ctx: FuzzContext, pans: string[]): Buffer {
  const events = ctx.events.slice(rng.int(0, ctx.events.length - 1)).slice(0, rng.int(1, 8));
  const op = rng.int(0, 9);
  if (op <= 1) return Buffer.from(encode({ v: 1, events: events.map((e) => e.bytes) })); // valid: stored or duplicates
  if (op === 2) {
    // An event as a decoded value, mutated, then re-encoded (wrong types, extra fields, NaN, card data...).
    const ev = structuredClone(events[0]!.event) as unknown as Record<string, unknown>;
    for (let i = rng.int(1, 3); i > 0; i--) mutate(ev, rng);
    if (rng.chance(0.3)) plantCardData(ev, rng, pans);
    const money = ev.body !== null && typeof ev.body === 'object' ? ev.body as Record<string, unknown> : ev;
    if (rng.chance(0.2)) money[rng.pick(['total', 'amount', 'delta', 'subtotal'])] = rng.pick([Number.NaN, 1.5, -0, Infinity, 2 ** 60]);
    return Buffer.from(encode({ v: 1, events: [encode(ev)] }));
  }
  const buf = Buffer.from(encode({ v: rng.pick([1, 1, 2, '1', null]), events: events.map((e) => e.bytes), ...(rng.chance(0.2) ? { extra: 1 } : {}) }));
  if (op === 3) {
    for (let i = rng.int(1, 8); i > 0; i--) { const at = rng.int(0, buf.length - 1); buf[at] = buf[at]! ^ (1 << rng.int(0, 7)); }
    return buf;
  }
  if (op === 4) return buf.subarray(0, rng.int(0, buf.length - 1));
  if (op === 5) {
    // Huge declared lengths: an array32 / bin32 / str32 / map32 header claiming ~4G entries or bytes.
    const head = Buffer.from([rng.pick([0xdd, 0xc6, 0xdb, 0xdf]), 0xff, 0xff, 0xff, rng.int(0, 255)]);
    return rng.chance(0.5) ? Buffer.concat([Buffer.from([0x82, 0xa1, 0x76, 0x01, 0xa6, ...Buffer.from('events')]), head]) : Buffer.concat([head, buf]);
  }
  if (op === 6) return Buffer.concat([Buffer.alloc(rng.int(13, 20_000), 0x91), Buffer.from([0x01])]); // deep nesting
  if (op === 7) return Buffer.from(encode(JSON.parse('{"__proto__":{"x":1},"v":1,"events":[]}'))); // own __proto__ key
  if (op === 8) return Buffer.from(encode({ v: 1, events: [encode({ ...(events[0]!.event as object), time: Number.NaN })] }));
  return Buffer.concat([buf, randomBytes(rng, rng.int(1, 64))]);
}

function fillPath(url: string, rng: Rng, ctx: FuzzContext): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    if (rng.chance(0.35)) return rng.pick(HOSTILE_IDS);
    const valid = ctx.params[name];
    return valid ? rng.pick(valid) : 'x';
  }).replace('*', () => rng.pick(['app.js', 'x', '%ff', '..%2f..%2fetc%2fpasswd']));
}

function query(rng: Rng): string {
  if (rng.chance(0.5)) return '';
  return `?${rng.pick([
    'limit=5', 'limit=-1', 'limit=1e309', 'limit=99999999999999999999', 'since=abc', 'since=0&since=1', 'q=caf', 'q=%ff%fe', 'q=' + 'a'.repeat(3000),
    '__proto__=1', 'constructor[prototype][x]=1', 'status=all', 'status=bogus', 'terminal=till-1&from=1&limit=3', 'terminal=%00', 'from=-5',
    'extra=1', '%=%', 'a[]=1&a[]=2',
  ])}`;
}

export interface FuzzContext {
  items: string[];
  events: Array<{ id: string; seq: number; hash: string; bytes: Uint8Array; event: unknown }>;
  params: Record<string, string[]>;
}

function generate(rng: Rng, targets: Target[], ctx: FuzzContext, auth: Record<Target['auth'], Record<string, string>>): FuzzRequest {
  // Uploads and sales, the routes that take the most hostile input, get a larger share.
  const t = rng.chance(0.15) ? rng.pick(targets.filter((x) => x.url === '/v1/events' || x.url === '/api/sales')) : rng.pick(targets);
  const pans: string[] = [];
  const headers: Record<string, string> = { ...auth[t.auth] };
  if (rng.chance(0.05)) {
    // Wrong or missing credentials: a cloud route must refuse them, the agent ignores them.
    if (rng.chance(0.5)) delete headers.authorization;
    else headers.authorization = rng.pick(['Bearer ', 'Bearer tsk_nope-nope-nope', 'Basic YTpi', `Bearer ${'A'.repeat(5000)}`, auth.admin.authorization ?? '']);
  }
  let path = fillPath(t.url, rng, ctx) + (t.method === 'GET' ? query(rng) : rng.chance(0.1) ? query(rng) : '');
  const hasBody = t.method !== 'GET' && t.method !== 'DELETE' ? true : rng.chance(0.05);
  let kind: string;
  let body: Buffer | undefined;
  if (!hasBody) kind = 'no-body';
  else if (t.url === '/v1/events' && rng.chance(0.8)) {
    kind = 'batch';
    body = batchBytes(rng, ctx, pans);
    headers['content-type'] = 'application/msgpack';
  } else {
    kind = rng.weighted([['json', 6], ['random-bytes', 1], ['msgpack-of-json', 1]] as const);
    if (kind === 'random-bytes') {
      body = randomBytes(rng, rng.int(0, 2000));
      headers['content-type'] = rng.pick(CONTENT_TYPES);
    } else {
      const value = template(t, rng, ctx) as Record<string, unknown>;
      for (let i = rng.int(0, 3); i > 0; i--) mutate(value, rng);
      if (rng.chance(0.25)) plantCardData(value, rng, pans);
      if (kind === 'msgpack-of-json') {
        body = Buffer.from(encode(value));
        headers['content-type'] = 'application/msgpack';
      } else {
        body = rng.chance(0.5) ? jsonText(value, rng) : Buffer.from(JSON.stringify(value) ?? 'null');
        headers['content-type'] = rng.chance(0.9) ? 'application/json' : rng.pick(CONTENT_TYPES);
      }
    }
    if (headers['content-type'] === '') delete headers['content-type'];
  }
  if (rng.chance(0.03)) {
    // A declared length far over every limit (imports' 64 MiB too; the body is not sent): refused before it is read.
    const h = { ...headers, connection: 'close', 'content-length': String(rng.pick([100 * 1024 * 1024, 2 ** 33, 2 ** 40])) };
    return { side: t.side, kind: 'huge-length', method: t.method === 'GET' ? 'POST' : t.method, path, headers: h, raw: requestBytes(t.method === 'GET' ? 'POST' : t.method, path, h), pans };
  }
  if (rng.chance(0.03)) {
    // Path bytes no HTTP client sends: raw non-ASCII, controls, a bare '%'.
    path = path.replace(/^\/(\w+)/, (m) => `${m}${rng.pick(['\u0080', '\u00ff%', '\u00c0\u00ae', '%%', '\u007f'])}`);
    const h = { ...headers, connection: 'close' };
    return { side: t.side, kind: 'odd-path', method: t.method, path, headers: h, raw: requestBytes(t.method, path, h, body), pans };
  }
  return { side: t.side, kind, method: t.method, path, headers, ...(body ? { body } : {}), pans };
}

function send(port: number, agent: Agent, r: FuzzRequest): Promise<RawResponse | undefined> {
  if (r.raw) return rawRequest(port, r.raw, 30_000);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: r.method, path: r.path, headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) }, agent, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 30 s to ${r.method} ${r.path.slice(0, 80)}`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

function rssMb(): number {
  return Math.round(process.memoryUsage().rss / (1024 * 1024));
}

/** Runs the fuzzer against a fresh cloud + agent in `opts.dir`. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzStats> {
  const started = Date.now();
  const env = await smallEnvironment(opts.dir, { terminals: ['till-1'] });
  const stats: FuzzStats = {
    seed: opts.seed, requests: 0, statuses: {}, codes: {}, kinds: {}, violations: 0, examples: [],
    startRssMb: rssMb(), maxRssMb: rssMb(), ms: 0, healthyAfter: false,
  };
  const pools: Agent[] = [];
  try {
    const agent = env.agents[0]!;
    const cloudPort = new URL(env.cloudUrl).port;
    const agentPort = (agent.app.server.address() as AddressInfo).port;
    // A terminal of the fuzzer's own (its real log makes the batches), and one the admin routes may revoke.
    const fuzzT = await env.admin<{ token: string }>('POST', `/v1/admin/stores/${env.store}/terminals`, { id: 'fuzz-t' });
    await env.admin('POST', `/v1/admin/stores/${env.store}/terminals`, { id: 'fuzz-victim' });
    const log = await EventLog.open(`${opts.dir}/fuzz-t-log`, { store: env.store, terminal: 'fuzz-t' });
    const logged = await log.append(sampleDrafts(opts.seed).slice(0, 40));
    await log.close();
    const sale = await fetch(`${agent.url}/api/sales`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(await agentHeaders(agent, agent.url)) },
      body: JSON.stringify({ lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 500 }] }),
    }).then((r) => r.json() as Promise<{ sale?: string }>);
    const ctx: FuzzContext = {
      items: ['itm-cafe', 'itm-cola', 'itm-jal', 'nope', 'hasOwnProperty'],
      events: logged.map((e) => ({ id: e.event.id, seq: e.event.seq, hash: e.hash, bytes: e.bytes, event: e.event })),
      params: {
        store: [env.store, env.store, 'store-none'], terminal: ['fuzz-victim', 'till-1', 'nope'], id: ['itm-cafe', 'cus-ana', 'cus-bob', 'exc-1', sale.sale ?? ulid(), ulid()],
        code: ['GV-TEST-0001', 'NOPE-1234'], barcode: ['4006381333931', '5000112637922', '0000000000000'],
      },
    };
    const auth: Record<Target['auth'], Record<string, string>> = {
      none: {}, admin: { authorization: `Bearer ${env.adminToken}` }, terminal: { authorization: `Bearer ${fuzzT.token}` },
      agent: await agentHeaders(agent, agent.url),
    };
    const targets: Target[] = [
      ...routeTable(env.cloud).map((r): Target => ({ side: 'cloud', method: r.method, url: r.url, auth: r.auth })),
      ...recordedRoutes(agent.app).map((r): Target => ({ side: 'agent', method: r.method, url: r.url, auth: 'agent' })),
    ];
    const rng = createRng(opts.seed);
    const cloudPool = new Agent({ keepAlive: true, maxSockets: 8 });
    const agentPool = new Agent({ keepAlive: true, maxSockets: 8 });
    pools.push(cloudPool, agentPool);
    let next = 0;
    const worker = async () => {
      while (next < opts.requests) {
        const i = next++;
        // The i-th request always gets the i-th fork: the same seed makes the same requests, whatever the timing.
        let r: FuzzRequest;
        try {
          r = generate(rng.fork(), targets, ctx, auth);
        } catch (err) {
          // The fuzzer's own bug, not the servers': counted and shown, the run goes on.
          stats.kinds['generator-error'] = (stats.kinds['generator-error'] ?? 0) + 1;
          if (stats.examples.length < 20) stats.examples.push(`#${i} generator error: ${err instanceof Error ? err.message : String(err)}`);
          stats.violations++;
          stats.requests++;
          continue;
        }
        const side = r.side;
        const port = side === 'cloud' ? Number(cloudPort) : agentPort;
        stats.kinds[r.kind] = (stats.kinds[r.kind] ?? 0) + 1;
        let res: RawResponse | undefined;
        let problem: string | undefined;
        try {
          res = await send(port, side === 'cloud' ? cloudPool : agentPool, r);
        } catch (err) {
          problem = `no answer: ${err instanceof Error ? err.message : String(err)}`;
        }
        if (res) {
          stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
          const body = answerBody(res);
          const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
          if (typeof code === 'string') stats.codes[code] = (stats.codes[code] ?? 0) + 1;
          if (res.status >= 500) problem = `${res.status} ${String(code)}`;
          else problem = contractViolation(res.status, body);
          const text = res.body.toString('latin1');
          const leaked = r.pans.find((p) => text.includes(p));
          if (leaked) problem = `the answer contains the card number sent (${leaked.slice(0, 4)}…)`;
        } else if (!problem) problem = 'connection closed without an answer';
        if (process.env.TILLSYNC_FUZZ_TRACE && res) console.log(`#${i} ${r.side} [${r.kind}] ${r.method} ${r.path.slice(0, 80)} -> ${res.status} ${res.body.toString('latin1').slice(0, 160)}`);
        if (problem) {
          stats.violations++;
          if (stats.examples.length < 20) stats.examples.push(`#${i} [${r.kind}] ${r.method} ${JSON.stringify(r.path.slice(0, 100))}: ${problem}`);
        }
        stats.requests++;
        if (stats.requests % 250 === 0) {
          stats.maxRssMb = Math.max(stats.maxRssMb, rssMb());
          opts.onProgress?.(stats.requests, stats);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
    stats.maxRssMb = Math.max(stats.maxRssMb, rssMb());
    // Still alive and serving, both of them.
    const health = await fetch(`${env.cloudUrl}/healthz`);
    const status = await fetch(`${agent.url}/api/status`, { headers: await agentHeaders(agent, agent.url) });
    stats.healthyAfter = health.status === 200 && status.status === 200;
  } finally {
    for (const p of pools) p.destroy();
    await env.stop();
  }
  stats.ms = Date.now() - started;
  if (stats.maxRssMb > (opts.maxRssMb ?? 1024)) {
    stats.violations++;
    stats.examples.push(`RSS reached ${stats.maxRssMb} MB, over the bound of ${opts.maxRssMb ?? 1024} MB`);
  }
  return stats;
}
