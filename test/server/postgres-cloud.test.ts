/**
 * Two cloud apps over one PostgreSQL database (two pools: what two cloud
 * processes share): terminals of one store upload through both at once, each
 * debiting the same customer past zero. The database serializes the store's
 * commits (the counters row lock and compare-and-set, postgres-storage.ts), so
 * every debit counts once and each incident opens exactly one exception; an
 * upload that lost the race answers CLOUD_BUSY and its retry is classified
 * against the new state. And `tillsync cloud --db URL` runs the real CLI on
 * PostgreSQL; an unreachable database exits with DB_UNREACHABLE.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { WS_CLOSE } from '../../src/replication/protocol.ts';
import { onceWithin, waitFor, WAIT_MS } from '../helpers/wait.ts';
import t, { type Test } from 'tap';
import { build } from '../../src/server/app.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';
import { runCli, BIN } from '../cli/run-cli.ts';
import { ADMIN, admin, delta, setupStore, terminalLog, upload } from './harness.ts';
import { createTestDatabase } from '../helpers/pg.ts';
import type { LoggedEvent } from '../../src/events/event-log.ts';
import type { FastifyInstance } from 'fastify';

const db = await createTestDatabase(t);

async function cloud(t: Test): Promise<FastifyInstance> {
  const storage = await PostgresStorage.open(db.url, { schema: 'two', poolSize: 4 });
  const app = build({ storage, adminToken: ADMIN, decodeWorkers: 0 });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await storage.close();
  });
  return app;
}

/** Uploads until accepted; CLOUD_BUSY (another process committed to the store meanwhile) is retried, at most 100 times. */
async function uploadUntilAcked(app: FastifyInstance, token: string, events: LoggedEvent[]): Promise<number> {
  for (let attempt = 1; attempt <= 100; attempt++) {
    const r = await upload(app, token, events);
    if (r.status === 200) return attempt;
    if (r.body?.error?.code !== 'CLOUD_BUSY') throw new Error(`upload answered ${r.status} ${JSON.stringify(r.body)}`);
  }
  throw new Error('upload still CLOUD_BUSY after 100 attempts');
}

t.test('two cloud apps, one database: concurrent overspends of one customer count every debit once and open one exception each', async (t) => {
  const a = await cloud(t);
  const b = await cloud(t);
  const { tokens } = await setupStore(t, a, 's1', ['t1', 't2']);
  const logs = { t1: await terminalLog(t, 's1', 't1'), t2: await terminalLog(t, 's1', 't2') };
  const ROUNDS = 6;
  let retried = 0;
  for (let r = 1; r <= ROUNDS; r++) {
    const customer = `k${r}`;
    const made = await admin(b, 'POST', '/v1/admin/stores/s1/customers', [{ id: customer, name: `K${r}`, openingBalance: 10_000 }]);
    if (made.status >= 300) t.fail(`round ${r}: customer not created: ${made.status}`);
    const e1 = await logs.t1.append([delta(customer, -8000)]);
    const e2 = await logs.t2.append([delta(customer, -8000)]);
    const attempts = await Promise.all([uploadUntilAcked(a, tokens.t1!, e1), uploadUntilAcked(b, tokens.t2!, e2)]);
    retried += attempts[0] + attempts[1] - 2;
    // Resends through the other process are duplicates, not new debits.
    t.equal((await upload(b, tokens.t1!, e1)).body.accepted, 0, `round ${r}: t1's resend through the other process adds nothing`);
  }
  t.comment(`${ROUNDS} rounds, ${retried} uploads retried after CLOUD_BUSY`);
  for (const app of [a, b]) {
    const ex = (await admin(app, 'GET', '/v1/admin/stores/s1/exceptions')).body.exceptions as Array<{ subject: { customer?: string }; shortfall: number }>;
    for (let r = 1; r <= ROUNDS; r++) {
      const mine = ex.filter((e) => e.subject.customer === `k${r}`);
      t.equal(mine.length, 1, `round ${r}: exactly one exception`);
      t.equal(mine[0]?.shortfall, 6000, `round ${r}: both debits counted`);
      const bal = await admin(app, 'GET', `/v1/admin/stores/s1/customers/k${r}/balance`);
      if (bal.status === 200) t.equal(bal.body.balance, -6000, `round ${r}: balance is the sum of deltas`);
    }
  }
});

t.test('two cloud apps, one database: a stream on one hears the other\'s exceptions and closes when the other revokes its terminal', async (t) => {
  // Before: exception counts and revocations reached only the streams of the process that committed them.
  const a = await cloud(t);
  const b = await cloud(t);
  const { tokens } = await setupStore(t, a, 's2', ['t1', 't2']);
  await a.listen({ host: '127.0.0.1', port: 0 });
  const ws = new WebSocket(`ws://127.0.0.1:${(a.server.address() as AddressInfo).port}/v1/stream`, { headers: { authorization: `Bearer ${tokens.t1!}` } });
  t.teardown(() => ws.terminate());
  const pushes: Array<{ type: string; open?: number }> = [];
  ws.on('message', (raw) => pushes.push(JSON.parse(String(raw)) as { type: string; open?: number }));
  const closing = onceWithin<[number, Buffer]>(ws, 'close', 2 * WAIT_MS, 't1\'s stream on process A to close');
  await onceWithin(ws, 'open', WAIT_MS, 't1\'s stream on process A to open');
  await waitFor(() => pushes.some((m) => m.type === 'hello'), { what: 'the hello' });

  // An overspend committed through B: A's stream of the same store is told the new count.
  const made = await admin(b, 'POST', '/v1/admin/stores/s2/customers', [{ id: 'k1', name: 'K1', openingBalance: 1_000 }]);
  t.ok(made.status < 300, 'customer created through B');
  const log = await terminalLog(t, 's2', 't2');
  await uploadUntilAcked(b, tokens.t2!, await log.append([delta('k1', -5_000)]));
  const pushed = await waitFor(() => pushes.find((m) => m.type === 'exceptions' && m.open === 1), { what: 'the exceptions push on A for B\'s overspend' });
  t.equal(pushed.open, 1, 'A\'s stream heard the exception raised through B');

  // t1 revoked through B: its stream on A closes as unauthorized, naming the revocation.
  t.equal((await admin(b, 'POST', '/v1/admin/stores/s2/terminals/t1/revoke')).status, 200, 'revoked through B');
  const [code, reason] = await closing;
  t.equal(code, WS_CLOSE.unauthorized, 'closed as unauthorized');
  t.equal(String(reason), 'CREDENTIAL_REVOKED', 'with the revocation as the reason');
});

t.test('tillsync cloud --db runs on PostgreSQL; an unreachable database exits with DB_UNREACHABLE', async (t) => {
  const bad = await runCli(['cloud', '--port', '0', '--db', 'postgres://postgres@127.0.0.1:1/postgres', '--admin-token', ADMIN]);
  t.not(bad.code, 0, 'exits non-zero');
  t.match(bad.stderr + bad.stdout, /DB_UNREACHABLE/, 'says why');

  const child = spawn(process.execPath, [BIN, 'cloud', '--port', '0', '--admin-token', ADMIN], {
    env: { ...process.env, TILLSYNC_DB: db.url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tillsync cloud --db did not say it listens within 30 s: ${out}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`tillsync cloud exited with ${code}: ${out}`)));
  });
  t.match(out, /data: PostgreSQL at 127\.0\.0\.1|data: PostgreSQL at /, 'says where the data is, without the URL (it may hold a password)');
  t.notMatch(out, /postgres:\/\//, 'the URL itself is not printed');
  const res = await fetch(`${url}/v1/admin/stores`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'cli', name: 'CLI', currency: 'EUR' }) });
  t.ok(res.status < 300, `a store created through the CLI's cloud (${res.status})`);
  const storage = await PostgresStorage.open(db.url, { poolSize: 1 });
  t.equal((await storage.getStore('cli'))?.name, 'CLI', 'stored in PostgreSQL');
  await storage.close();
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
  clearTimeout(timer);
});
