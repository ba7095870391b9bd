/**
 * `tillsync loadtest`: high-volume offline replay against a real deployment.
 *
 * 1. The test store: created marked as one (`testStore`), or reused only if it
 *    is marked; any other store is refused NOT_A_TEST_STORE before anything
 *    is written.
 * 2. Its terminals `lt-0001`…: created, or reused (a new credential is issued,
 *    and the backlog continues the chain the cloud holds for it).
 * 3. Each terminal's offline backlog: `offlineHours × salesPerHour` seeded sales
 *    (each with its payments) as the terminal logs them (backlog.ts).
 * 4. All reconnect (at most `concurrency` at once) and upload until
 *    acknowledged, then download the feed (reconnect.ts).
 * 5. Verification: every event of every backlog read back from the cloud (the
 *    terminal's own-events route), each seq exactly once with the hash sent.
 *
 * The report: time to fully acknowledged, events/s, upload latency p50/p95/p99
 * (HdrHistogram), errors by code, CLOUD_BUSY answers and retries, and the
 * verification. Progress goes to `onProgress` (the CLI draws it).
 */
import { createHash } from 'node:crypto';
import { Decoder, Encoder } from '@msgpack/msgpack';
import hdr from 'hdr-histogram-js';
import { ERRORS, TillsyncError, type ErrorCode } from '../errors.ts';
import { generateCatalog } from '../fixtures/catalog.ts';
import { buildBacklog, type Backlog } from './backlog.ts';
import { downloadFeed, emptyStats, uploadBacklog, type SimTarget } from './reconnect.ts';

export interface LoadTestOptions {
  cloud: string;
  adminToken: string;
  store: string;
  terminals: number;
  offlineHours: number;
  salesPerHour: number;
  /** Terminals syncing at once; default all. */
  concurrency?: number;
  /** Give up (and report it) when not fully acknowledged this long after the reconnect, ms. */
  durationMs?: number;
  seed: number;
  onProgress?(phase: string, done: number, total: number): void;
}

export interface LoadTestReport {
  store: string;
  terminals: number;
  reusedTerminals: number;
  sales: number;
  events: number;
  /** From the reconnect until every terminal was acknowledged and had paged the feed, seconds. */
  seconds: number;
  eventsPerSecond: number;
  uploadLatencyMs: { p50: number; p95: number; p99: number; max: number; count: number };
  busy: number;
  retries: number;
  errors: Record<string, number>;
  feedPages: number;
  /** Terminals not done by the deadline (durationMs). */
  unfinished: number;
  verification: { ok: boolean; checked: number; missing: number; different: number; duplicated: number };
}

const decoder = new Decoder();
const CATALOG_ITEMS = 500;

type CloudAccess = Pick<LoadTestOptions, 'cloud' | 'adminToken' | 'store' | 'seed'>;

async function adminCall<T>(o: CloudAccess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(`${o.cloud}${path}`, {
      method,
      headers: { authorization: `Bearer ${o.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new TillsyncError('CLOUD_UNREACHABLE', `no cloud answers at ${o.cloud}`, { cause: err });
  }
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : undefined) as T;
  return { status: res.status, body: parsed };
}

function refused(r: { status: number; body: unknown }, what: string): TillsyncError {
  const e = (r.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const code = e?.code !== undefined && Object.hasOwn(ERRORS, e.code) ? (e.code as ErrorCode) : 'CLOUD_REFUSED';
  return new TillsyncError(code, `${what}: ${e?.message ?? `HTTP ${r.status}`}`);
}

/** The test store, created or checked; refused before anything is written when it is not one. */
async function testStore(o: CloudAccess): Promise<{ currency: string }> {
  const got = await adminCall<{ id: string; testStore?: boolean; settings: { currency: string } }>(o, 'GET', `/v1/admin/stores/${encodeURIComponent(o.store)}`);
  if (got.status === 200) {
    if (got.body.testStore !== true) {
      throw new TillsyncError('NOT_A_TEST_STORE', `store ${o.store} was not created as a test store: a load test would add thousands of sales to it`);
    }
    return { currency: got.body.settings.currency };
  }
  if (got.status !== 404) throw refused(got, `GET store ${o.store}`);
  const made = await adminCall(o, 'POST', '/v1/admin/stores', { id: o.store, name: `load test ${o.store}`, currency: 'USD', testStore: true });
  if (made.status !== 201) throw refused(made, `create test store ${o.store}`);
  const items = generateCatalog({ seed: o.seed, items: CATALOG_ITEMS });
  const imported = await adminCall(o, 'POST', `/v1/admin/stores/${encodeURIComponent(o.store)}/items`, items);
  if (imported.status >= 300) throw refused(imported, 'import the test catalog');
  return { currency: 'USD' };
}

interface SimTerminal {
  id: string;
  target: SimTarget;
  backlog: Backlog;
}

async function terminals(o: LoadTestOptions, currency: string): Promise<{ sims: SimTerminal[]; reused: number }> {
  const base = `/v1/admin/stores/${encodeURIComponent(o.store)}/terminals`;
  const listed = await adminCall<{ terminals: Array<{ id: string; ackSeq: number; ackHash: string }> }>(o, 'GET', base);
  if (listed.status !== 200) throw refused(listed, 'list terminals');
  const known = new Map(listed.body.terminals.map((t) => [t.id, t]));
  const catalog = generateCatalog({ seed: o.seed, items: CATALOG_ITEMS });
  const sims: SimTerminal[] = [];
  let reused = 0;
  const now = Date.now();
  for (let i = 1; i <= o.terminals; i++) {
    const id = `lt-${String(i).padStart(4, '0')}`;
    const prior = known.get(id);
    const r = prior
      ? await adminCall<{ token: string }>(o, 'POST', `${base}/${id}/token`)
      : await adminCall<{ token: string }>(o, 'POST', base, { id });
    if (r.status !== 201) throw refused(r, `${prior ? 'reissue the token of' : 'create'} terminal ${id}`);
    if (prior) reused++;
    const backlog = buildBacklog({
      store: o.store, terminal: id, seed: o.seed * 1_000 + i + (prior?.ackSeq ?? 0), catalog, currency,
      sales: Math.max(1, Math.round(o.offlineHours * o.salesPerHour)), offlineMs: o.offlineHours * 3_600_000, now,
      ...(prior && prior.ackSeq > 0 ? { after: { seq: prior.ackSeq, hash: prior.ackHash } } : {}),
    });
    sims.push({ id, target: { baseUrl: o.cloud, token: r.body.token }, backlog });
    o.onProgress?.('preparing', i, o.terminals);
  }
  return { sims, reused };
}

/** Reads every backlog back from the cloud: each seq exactly once, with the hash that was sent. */
async function verify(sims: SimTerminal[], onProgress?: LoadTestOptions['onProgress']): Promise<LoadTestReport['verification']> {
  let checked = 0;
  let missing = 0;
  let different = 0;
  let duplicated = 0;
  let done = 0;
  for (const s of sims) {
    const seen = new Set<number>();
    const last = s.backlog.firstSeq + s.backlog.events.length - 1;
    for (let from: number | null = s.backlog.firstSeq; from !== null && from <= last;) {
      const res = await fetch(`${s.target.baseUrl}/v1/events?from=${from}&limit=1000`, {
        headers: { authorization: `Bearer ${s.target.token}`, accept: 'application/msgpack' }, signal: AbortSignal.timeout(60_000),
      });
      if (res.status !== 200) throw new TillsyncError('CLOUD_REFUSED', `read back the events of ${s.id}: HTTP ${res.status}`);
      const page = decoder.decode(new Uint8Array(await res.arrayBuffer())) as { events: Uint8Array[]; next: number | null };
      for (const bytes of page.events) {
        const ev = decoder.decode(bytes) as { seq: number };
        if (ev.seq < s.backlog.firstSeq || ev.seq > last) continue;
        if (seen.has(ev.seq)) duplicated++;
        seen.add(ev.seq);
        const hash = createHash('sha256').update(bytes).digest('hex');
        if (hash !== s.backlog.hashes[ev.seq - s.backlog.firstSeq]) different++;
        checked++;
      }
      from = page.events.length === 0 ? null : page.next;
    }
    missing += s.backlog.events.length - seen.size;
    onProgress?.('verifying', ++done, sims.length);
  }
  return { ok: missing === 0 && different === 0 && duplicated === 0, checked, missing, different, duplicated };
}

export interface RequestLoadOptions extends Omit<LoadTestOptions, 'offlineHours' | 'salesPerHour' | 'concurrency' | 'durationMs'> {
  /** Requests per second over all connections. */
  rate: number;
  /** Events per request. */
  batch: number;
  durationMs: number;
}

export interface RequestLoadReport {
  store: string;
  connections: number;
  requests: number;
  requestsPerSecond: number;
  eventsAcknowledged: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  verification: LoadTestReport['verification'];
}

type Autocannon = (opts: Record<string, unknown>) => Promise<{
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}>;

/**
 * The request-level mode, for capacity planning: fixed batches at a fixed rate
 * (autocannon). Each connection is one test terminal sending its own backlog
 * in order, one request at a time, so every request carries new events.
 */
export async function runRequestLoad(o: RequestLoadOptions): Promise<RequestLoadReport> {
  const autocannon = (await import('autocannon' as string)).default as Autocannon;
  const { currency } = await testStore(o);
  const connections = o.terminals;
  const perConnection = Math.max(1, Math.ceil((o.rate * o.durationMs) / 1000 / connections));
  const base: LoadTestOptions = { ...o, offlineHours: 1, salesPerHour: Math.ceil((perConnection * o.batch) / 2) };
  const { sims } = await terminals(base, currency);
  const encoder = new Encoder();
  const requestsOf = (s: SimTerminal) => {
    const out: Array<{ method: string; path: string; headers: Record<string, string>; body: Buffer }> = [];
    for (let i = 0; i < perConnection && i * o.batch < s.backlog.events.length; i++) {
      out.push({
        method: 'POST', path: '/v1/events',
        headers: { authorization: `Bearer ${s.target.token}`, 'content-type': 'application/msgpack', accept: 'application/msgpack' },
        body: Buffer.from(encoder.encode({ v: 1, events: s.backlog.events.slice(i * o.batch, (i + 1) * o.batch) })),
      });
    }
    return out;
  };
  let next = 0;
  const r = await autocannon({
    url: `${o.cloud}/v1/events`, method: 'POST', connections, pipelining: 1, amount: perConnection * connections, overallRate: o.rate,
    timeout: 60,
    setupClient: (client: { setRequests(r: unknown[]): void }) => client.setRequests(requestsOf(sims[next++ % sims.length]!)),
  });
  o.onProgress?.('verifying', 0, sims.length);
  // What each terminal's requests got acknowledged: that prefix must be stored exactly once, byte for byte.
  const acked: SimTerminal[] = [];
  let eventsAcknowledged = 0;
  for (const s of sims) {
    const res = await fetch(`${o.cloud}/v1/sync-state`, { headers: { authorization: `Bearer ${s.target.token}` }, signal: AbortSignal.timeout(60_000) });
    const state = (await res.json()) as { ackSeq: number };
    const n = Math.max(0, state.ackSeq - s.backlog.firstSeq + 1);
    eventsAcknowledged += n;
    acked.push({ ...s, backlog: { ...s.backlog, events: s.backlog.events.slice(0, n), hashes: s.backlog.hashes.slice(0, n) } });
  }
  const verification = await verify(acked, o.onProgress);
  return {
    store: o.store, connections, requests: r.requests.total, requestsPerSecond: r.requests.average, eventsAcknowledged,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    non2xx: r.non2xx, errors: r.errors + r.timeouts, verification,
  };
}

export async function runLoadTest(o: LoadTestOptions): Promise<LoadTestReport> {
  const { currency } = await testStore(o);
  const { sims, reused } = await terminals(o, currency);
  const total = sims.reduce((a, s) => a + s.backlog.events.length, 0);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
  const stats = emptyStats((ms) => histogram.recordValue(Math.max(1, Math.round(ms))));
  const started = Date.now();
  const deadline = o.durationMs !== undefined ? started + o.durationMs : undefined;
  const ticker = setInterval(() => o.onProgress?.('uploading', stats.acked, total), 250);
  let next = 0;
  let unfinished = 0;
  const worker = async (): Promise<void> => {
    while (next < sims.length) {
      const s = sims[next++]!;
      try {
        await uploadBacklog(s.target, s.backlog, stats, deadline !== undefined ? { deadline } : {});
        await downloadFeed(s.target, stats, deadline !== undefined ? { deadline } : {});
      } catch {
        unfinished++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? sims.length, sims.length)) }, () => worker()));
  } finally {
    clearInterval(ticker);
  }
  const seconds = (Date.now() - started) / 1000;
  o.onProgress?.('uploading', stats.acked, total);
  const verification = await verify(sims, o.onProgress);
  return {
    store: o.store,
    terminals: sims.length,
    reusedTerminals: reused,
    sales: sims.reduce((a, s) => a + s.backlog.sales, 0),
    events: total,
    seconds,
    eventsPerSecond: seconds > 0 ? Math.round(stats.acked / seconds) : 0,
    uploadLatencyMs: {
      p50: histogram.getValueAtPercentile(50), p95: histogram.getValueAtPercentile(95), p99: histogram.getValueAtPercentile(99),
      max: histogram.maxValue, count: histogram.totalCount,
    },
    busy: stats.busy,
    retries: stats.retries,
    errors: stats.errors,
    feedPages: stats.feedPages,
    unfinished,
    verification,
  };
}
