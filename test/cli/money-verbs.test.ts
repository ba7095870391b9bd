/**
 * Issue 24 through the real CLI (child processes) against a real cloud and agent:
 * store settings, item / customer removal, quarantine review and release; an
 * explicit --data beats an exported TILLSYNC_CLOUD; the cloud audit prints no
 * progress lines when stderr is not a TTY.
 */
import t from 'tap';
import { join } from 'node:path';
import { smallEnvironment, until } from '../helpers/env.ts';
import { runCli } from './run-cli.ts';

t.test('admin verbs of issue 24, replay/audit --data with TILLSYNC_CLOUD set, a quiet cloud audit', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const a = ['--cloud', env.cloudUrl, '--admin-token', env.adminToken];
  await until('catalog', () => agent.terminal.searchItems('cola').length === 1);

  let r = await runCli(['admin', 'store', 'settings', ...a, '--store', 'store-1', '--offline', 'forbid', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).settings.offlineStoredValue, 'forbid');
  r = await runCli(['admin', 'store', 'settings', ...a, '--store', 'store-1']);
  t.equal(r.code, 2, 'nothing to change is a usage error');
  t.match(r.stderr, /VALIDATION_FAILED/);
  r = await runCli(['admin', 'item', 'remove', ...a, '--store', 'store-1', '--id', 'itm-cola']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /item itm-cola removed/);
  r = await runCli(['admin', 'customer', 'remove', ...a, '--store', 'store-1', '--id', 'no-such-customer']);
  t.equal(r.code, 1);
  t.match(r.stderr, /CUSTOMER_NOT_FOUND/);

  // A quarantined event: a sale in another currency, uploaded over the agent's own link.
  const log = agent.terminal.log;
  const [ev] = await log.append([{
    type: 'sale.completed',
    body: { currency: 'JPY', lines: [{ item: 'itm-x', name: 'X', qty: 1, unitPrice: 100, discount: 0, tax: 0 }], subtotal: 100, discount: 0, tax: 0, total: 100 },
  }]);
  await until('uploaded', () => agent.status().sync.pending === 0);
  r = await runCli(['admin', 'quarantine', ...a, '--store', 'store-1']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`till-1#${ev!.seq} sale.completed CURRENCY_MISMATCH`));
  r = await runCli(['admin', 'quarantine', 'release', ...a, '--store', 'store-1', '--terminal', 'till-1', '--seq', String(ev!.seq), '--json']);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout).released.map((x: { seq: number }) => x.seq), [ev!.seq]);
  r = await runCli(['admin', 'quarantine', ...a, '--store', 'store-1']);
  t.match(r.stdout, /no quarantined events/);

  // The cloud audit, not on a TTY: the report, and no progress lines.
  r = await runCli(['audit', ...a, '--store', 'store-1']);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /cloud audit:/, 'no progress line without a TTY');

  // --data on the command line wins over an exported TILLSYNC_CLOUD.
  await agent.stop();
  env.agents.length = 0;
  const data = join(dir, 'till-1');
  const envCloud = { TILLSYNC_CLOUD: env.cloudUrl, TILLSYNC_ADMIN_TOKEN: '' };
  r = await runCli(['replay', '--data', data], { env: envCloud });
  t.equal(r.code, 0, r.stderr);
  t.same(r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { seq: number }).seq),
    Array.from({ length: ev!.seq }, (_, i) => i + 1), 'every event of the folder replayed');
  r = await runCli(['audit', '--data', data, '--json'], { env: envCloud });
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).ok, true);
  r = await runCli(['audit', '--data', data, '--cloud', env.cloudUrl]);
  t.equal(r.code, 2, 'both sources at once is a usage error');
  t.match(r.stderr, /VALIDATION_FAILED/);
});
