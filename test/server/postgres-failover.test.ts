/**
 * Three real `tillsync cloud --db` processes over one PostgreSQL database, on
 * different ports. Six terminals of two stores (real EventLogs, SyncWorkers,
 * HttpTransports) each reach the clouds through a TCP proxy of their own
 * (test/helpers/tcp-proxy.ts) that cuts their connections now and then, so
 * their next request lands on another cloud process, in the middle of uploads
 * (batches of 4 events, 2 in flight) and downloads. Meanwhile the terminals
 * keep selling and spending customers' balances, and one cloud process is
 * SIGKILLed at a random moment (seeded: the seed is printed; set
 * FAILOVER_SEED to replay a run).
 *
 * At the end: every terminal fully acknowledged and downloaded; the database
 * holds each terminal's events exactly as logged, each once (seq 1..head,
 * same hashes, every id once in the id index); each store's feed runs 1..head
 * without a gap; every balance is its opening balance plus every delta, each
 * counted once; every terminal's feed cursor is its store's head.
 */
import t from 'tap';
import { seededRandom } from '../../src/replication/backoff.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import { SyncWorker } from '../../src/replication/sync-worker.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';
import type { LoggedEvent } from '../../src/events/event-log.ts';
import { createTestDatabase } from '../helpers/pg.ts';
import { killCloudProcess, startCloudProcess, type CloudProcess } from '../helpers/cloud-process.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';
import { delta, sale, terminalLog } from './harness.ts';

const ADMIN = 'admin-token-for-tests-0123456789';
const SEED = Number(process.env.FAILOVER_SEED ?? Math.floor(Math.random() * 2 ** 31));
t.comment(`seed ${SEED} (FAILOVER_SEED=${SEED} replays it)`);
const random = seededRandom(SEED);
const pick = (n: number): number => Math.floor(random() * n);

const STORES = ['s1', 's2'];
const TERMINALS = ['t1', 't2', 't3'];
const CUSTOMERS = ['c1', 'c2'];
const OPENING = 100_000;
/** Sale groups each terminal appends: a sale and a balance delta each (2 events). */
const GROUPS = 30;

const db = await createTestDatabase(t);

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

t.test('terminals moved between three cloud processes mid-upload, one SIGKILLed: nothing lost, nothing twice, all converge', async (t) => {
  const clouds: CloudProcess[] = await Promise.all(['A', 'B', 'C'].map((n) => startCloudProcess(t, n, ADMIN, ['--db', db.url])));
  const up = new Set(clouds);
  const ports = (): number[] => [...up].map((c) => c.port);

  // Set-up through different processes: what one writes the others serve.
  const tokens = new Map<string, string>();
  for (const [i, s] of STORES.entries()) {
    const via = clouds[i % clouds.length]!.url;
    t.equal((await call(via, 'POST', '/v1/admin/stores', { id: s, name: `Store ${s}`, currency: 'EUR' })).status, 201, `store ${s} created`);
    const made = await call(clouds[(i + 1) % clouds.length]!.url, 'POST', `/v1/admin/stores/${s}/customers`, CUSTOMERS.map((id) => ({ id, name: id, openingBalance: OPENING })));
    t.ok(made.status < 300, `customers of ${s} created (${made.status})`);
    for (const [j, term] of TERMINALS.entries()) {
      const r = await call(clouds[(i + j + 2) % clouds.length]!.url, 'POST', `/v1/admin/stores/${s}/terminals`, { id: term });
      t.equal(r.status, 201, `terminal ${s}/${term} created`);
      tokens.set(`${s}/${term}`, r.body.token as string);
    }
  }

  interface Till {
    store: string;
    terminal: string;
    proxy: TcpProxy;
    worker: SyncWorker;
    logged: LoggedEvent[];
    log: Awaited<ReturnType<typeof terminalLog>>;
  }
  const tills: Till[] = [];
  const expected = new Map<string, number>(); // store/customer → balance
  for (const s of STORES) for (const c of CUSTOMERS) expected.set(`${s}/${c}`, OPENING);
  for (const s of STORES) {
    for (const term of TERMINALS) {
      const proxy = await startTcpProxy(ports());
      t.teardown(() => proxy.close());
      // Each terminal starts on a different process.
      for (let k = 0; k < tills.length % clouds.length; k++) proxy.move();
      const log = await terminalLog(t, s, term);
      const worker = new SyncWorker({
        log,
        transport: new HttpTransport({ baseUrl: `http://127.0.0.1:${proxy.port}`, token: tokens.get(`${s}/${term}`)!, timeoutMs: 10_000 }),
        random: seededRandom(SEED + tills.length + 1),
        upload: { maxEvents: 4, window: 2, initialWindow: 2 },
        download: { intervalMs: 1_000 },
        uploadPollMs: 200,
        backoff: { initialMs: 50, maxMs: 500, factor: 2, jitter: 0.5 },
        streamRetryMaxMs: 500,
        stallMs: false,
      });
      t.teardown(() => worker.stop());
      tills.push({ store: s, terminal: term, proxy, worker, logged: [], log });
    }
  }
  for (const till of tills) await till.worker.start();

  // The traffic: every terminal sells and spends, while connections move and one process dies.
  const killAt = 5 + pick(GROUPS - 10);
  const victim = clouds[pick(clouds.length)]!;
  t.comment(`SIGKILL cloud on port ${victim.port} after round ${killAt}`);
  let moves = 0;
  for (let round = 0; round < GROUPS; round++) {
    for (const till of tills) {
      const customer = CUSTOMERS[pick(CUSTOMERS.length)]!;
      const amount = -(1 + pick(500));
      const events = await till.log.append([sale(-amount), delta(customer, amount)]);
      till.logged.push(...events);
      expected.set(`${till.store}/${customer}`, expected.get(`${till.store}/${customer}`)! + amount);
      till.worker.notifyAppended();
    }
    // A few terminals' connections are moved each round, whatever they were doing.
    for (let k = 0; k < 2; k++) moves += tills[pick(tills.length)]!.proxy.move() > 0 ? 1 : 0;
    if (round === killAt) {
      await killCloudProcess(victim);
      up.delete(victim);
      for (const till of tills) till.proxy.setUpstreams(ports());
      for (const till of tills) till.proxy.move();
    }
    await new Promise((r) => setTimeout(r, 20 + pick(80)));
  }
  t.ok(moves > 0, `connections were moved mid-traffic (${moves} times)`);

  // Converged: every terminal acknowledged up to its head, and downloaded its store's whole feed.
  const storage = await PostgresStorage.open(db.url, { poolSize: 2 });
  t.teardown(() => storage.close());
  await waitFor(async () => {
    for (const till of tills) {
      const s = till.worker.status();
      const head = (await storage.getCounters(till.store)).feedHead;
      if (s.uploaded !== till.log.head.seq || till.log.feedCursor !== head) return false;
    }
    return true;
  }, {
    what: 'every terminal acknowledged and downloaded',
    timeoutMs: 120_000,
    intervalMs: 200,
  }).catch(async (err) => {
    for (const till of tills) t.comment(`${till.store}/${till.terminal}: ${JSON.stringify({ ...till.worker.status(), recentConflicts: undefined })}`);
    throw err;
  });

  for (const till of tills) {
    const name = `${till.store}/${till.terminal}`;
    const stored = await storage.readEvents(till.store, till.terminal, 1, 10_000);
    t.equal(stored.length, till.logged.length, `${name}: every event stored, none twice`);
    t.same(stored.map((e) => e.seq), till.logged.map((e) => e.seq), `${name}: seqs 1..head`);
    t.ok(stored.every((e, i) => e.hash === till.logged[i]!.hash && !e.quarantine), `${name}: exactly the bytes logged, all accepted`);
    const refs = await storage.getEventRefs(till.store, till.logged.map((e) => e.event.id));
    t.ok(refs.every((r, i) => r?.terminal === till.terminal && r.seq === till.logged[i]!.seq), `${name}: every id indexed once, at its own event`);
    t.equal((await storage.getHighWater(till.store, till.terminal)).seq, till.logged.length, `${name}: high-water mark at its head`);
  }
  for (const s of STORES) {
    const head = (await storage.getCounters(s)).feedHead;
    const feed = await storage.readFeed(s, 0, 100_000);
    t.same(feed.map((c) => c.cursor), Array.from({ length: head }, (_, i) => i + 1), `${s}: feed cursors 1..${head}, no gap, none twice`);
    const views = await storage.getBalances(s, CUSTOMERS);
    t.same(views.map((v) => v?.balance), CUSTOMERS.map((c) => expected.get(`${s}/${c}`)), `${s}: every balance is its opening plus each delta once`);
  }
  // The processes still up answer the same.
  for (const c of up) {
    const r = await call(c.url, 'GET', `/v1/admin/stores/${STORES[0]}/customers/${CUSTOMERS[0]}/balance`);
    t.equal(r.body?.balance, expected.get(`${STORES[0]}/${CUSTOMERS[0]}`), `port ${c.port} serves the same balance`);
  }
  for (const till of tills) await till.worker.stop();
});
