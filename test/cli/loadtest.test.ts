// tillsync loadtest as a child process against a real cloud on loopback: creates a test store and terminals,
// replays their backlogs, verifies every event once; a second run reuses them and continues their chains;
// a store that is not a test store is refused before anything is written; bad flags exit 2.
import t from 'tap';
import { startEnvironment } from '../../src/cli/demo-env.ts';
import type { LoadTestReport } from '../../src/loadtest/loadtest.ts';
import { runCli } from './run-cli.ts';

t.test('loadtest: a test store, its terminals, every event acknowledged once; a real store refused', async (t) => {
  const env = await startEnvironment({ dir: t.testdir(), store: 'real-shop', terminals: [] });
  t.teardown(() => env.stop());
  const storage = env.storage;
  const base = ['loadtest', '--cloud', env.cloudUrl, '--admin-token', env.adminToken];
  const flags = ['--terminals', '3', '--offline-hours', '2', '--sales-per-hour', '15', '--concurrency', '2', '--json'];

  let r = await runCli([...base, '--store', 'lt-store', ...flags]);
  t.equal(r.code, 0, r.stderr);
  const first = JSON.parse(r.stdout) as LoadTestReport;
  t.equal(first.terminals, 3);
  t.equal(first.reusedTerminals, 0);
  t.equal(first.sales, 3 * 30, '2 hours × 15 sales for each terminal');
  t.ok(first.events >= first.sales * 2, 'each sale with its payment');
  t.same(first.verification, { ok: true, checked: first.events, missing: 0, different: 0, duplicated: 0 });
  t.equal(first.uploadLatencyMs.count >= 3, true, 'at least one upload per terminal');
  t.ok(first.uploadLatencyMs.p50 <= first.uploadLatencyMs.p99 && first.uploadLatencyMs.p99 <= first.uploadLatencyMs.max, 'ordered percentiles');
  const store = await storage.getStore('lt-store');
  t.equal(store?.testStore, true, 'the store is created marked as a test store');
  let held = 0;
  for (const id of ['lt-0001', 'lt-0002', 'lt-0003']) held += (await storage.getHighWater('lt-store', id)).seq;
  t.equal(held, first.events, "the cloud's high-water marks add up to every event sent");

  // Again: the same terminals (new credentials), their chains continued.
  r = await runCli([...base, '--store', 'lt-store', ...flags]);
  t.equal(r.code, 0, r.stderr);
  const second = JSON.parse(r.stdout) as LoadTestReport;
  t.equal(second.reusedTerminals, 3);
  t.equal(second.verification.ok, true);
  let heldAfter = 0;
  for (const id of ['lt-0001', 'lt-0002', 'lt-0003']) heldAfter += (await storage.getHighWater('lt-store', id)).seq;
  t.equal(heldAfter, first.events + second.events, 'the second run added its events after the first');

  // A store with real sales is never a target.
  const before = await storage.listTerminals('real-shop');
  r = await runCli([...base, '--store', 'real-shop', ...flags]);
  t.equal(r.code, 1);
  t.match(r.stdout, /"code":"NOT_A_TEST_STORE"/);
  t.same(await storage.listTerminals('real-shop'), before, 'no terminal created in it');

  // Usage.
  r = await runCli([...base, '--terminals', '0']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--terminals takes a whole number/);
  r = await runCli([...base, '--duration', 'soon']);
  t.equal(r.code, 2);
  for (const store of ['__proto__', '4111-1111-1111-1111', 'x'.repeat(300), 'a/b']) {
    r = await runCli([...base, '--store', store]);
    t.equal(r.code, 2, `--store ${store.slice(0, 20)} is refused`);
    t.notMatch(r.stderr, /4111/, 'and a card number is not echoed');
  }
  t.notOk(await storage.getStore('__proto__'), 'nothing created');
  r = await runCli([...base, '--rate', '-1', '--mode', 'requests', '--duration', '1s']);
  t.equal(r.code, 2, 'a negative rate');
  r = await runCli(['loadtest', '--cloud', env.cloudUrl], { env: { TILLSYNC_ADMIN_TOKEN: '' } });
  t.equal(r.code, 2, 'no admin token');
});

t.test('loadtest prints a readable report', async (t) => {
  const env = await startEnvironment({ dir: t.testdir(), store: 'seed-store', terminals: [] });
  t.teardown(() => env.stop());
  const r = await runCli(['loadtest', '--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--store', 'lt-text', '--terminals', '2', '--offline-hours', '1', '--sales-per-hour', '5']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /2 terminals \(0 reused\), 10 sales/);
  t.match(r.stdout, /upload latency: p50 \d+ ms, p95 \d+ ms, p99 \d+ ms/);
  t.match(r.stdout, /verified: the cloud holds each of the \d+ events exactly once/);
  t.match(r.stderr, /loadtest: uploading \d+\/\d+/, 'progress lines when not on a TTY');
});

t.test('loadtest --mode requests: fixed batches at a rate (autocannon), the acknowledged events verified', async (t) => {
  const env = await startEnvironment({ dir: t.testdir(), store: 'seed-store', terminals: [] });
  t.teardown(() => env.stop());
  const r = await runCli(['loadtest', '--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--store', 'lt-rate', '--mode', 'requests',
    '--terminals', '2', '--rate', '20', '--duration', '2s', '--batch', '10', '--json']);
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { connections: number; requests: number; eventsAcknowledged: number; non2xx: number; latencyMs: { p99: number }; verification: { ok: boolean; checked: number } };
  t.equal(report.connections, 2);
  t.equal(report.requests, 40, '20 requests/s for 2 s');
  t.equal(report.non2xx, 0);
  t.equal(report.eventsAcknowledged, 400, 'every request carried 10 new events');
  t.same(report.verification, { ok: true, checked: 400, missing: 0, different: 0, duplicated: 0 });
  t.ok(report.latencyMs.p99 >= 0);
  const bad = await runCli(['loadtest', '--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--mode', 'requests', '--rate', '5']);
  t.equal(bad.code, 2, 'the request mode needs --duration');
  const mode = await runCli(['loadtest', '--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--mode', 'flood']);
  t.equal(mode.code, 2, 'an unknown mode');
});
