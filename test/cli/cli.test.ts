/**
 * Every terminal-side CLI verb as a real child process against a real agent and
 * cloud: output for people, --json for scripts, error codes with what to do, and
 * the documented exit codes (0 ok, 1 refused, 2 usage, 3 audit findings, 4 unreachable).
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { seqKey } from '../../src/events/level-util.ts';
import { startEnvironment } from '../../src/cli/demo-env.ts';
import { smallEnvironment, until } from '../helpers/env.ts';
import { BIN, runCli } from './run-cli.ts';
import { createInterface } from 'node:readline';
import { within, WAIT_MS } from '../helpers/wait.ts';

t.test('terminal verbs through the CLI', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const a = ['--agent', agent.url, '--agent-token-file', agent.pairingTokenFile];
  await until('catalog', () => agent.terminal.searchItems('cola').length === 1);

  // Without the pairing token the agent refuses the CLI too; the env names the file as well.
  let r = await runCli(['status', '--agent', agent.url, '--json']);
  t.equal(r.code, 1, 'no pairing token: refused');
  t.equal(JSON.parse(r.stdout).error.code, 'AUTH_REQUIRED');
  r = await runCli(['replay', '--agent', agent.url]);
  t.equal(r.code, 1, 'replay without the token is refused, not printed');
  t.match(r.stderr, /AUTH_REQUIRED/);
  r = await runCli(['status', '--agent', agent.url], { env: { TILLSYNC_AGENT_TOKEN_FILE: agent.pairingTokenFile } });
  t.equal(r.code, 0, 'TILLSYNC_AGENT_TOKEN_FILE names the file');

  r = await runCli(['status', ...a]);
  t.equal(r.code, 0);
  t.match(r.stdout, /connection:\s+online/);
  r = await runCli(['status', ...a, '--json']);
  t.equal(JSON.parse(r.stdout).terminal, 'till-1');

  r = await runCli(['local-mode', 'on', '--hours', '2', ...a, '--json']);
  t.equal(r.code, 0);
  t.equal(JSON.parse(r.stdout).sync.connection.state, 'local');
  await agent.terminal.completeSale({ lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  r = await runCli(['sync', 'up', ...a, '--json']);
  t.equal(r.code, 1, 'refused in local mode');
  t.equal(JSON.parse(r.stdout).error.code, 'LOCAL_MODE');
  r = await runCli(['sync', 'up', ...a]);
  t.match(r.stderr, /error LOCAL_MODE/);
  t.match(r.stderr, /what to do: /);
  await until('the sale counted', () => agent.status().unsynced.sales === 1);
  r = await runCli(['status', ...a]);
  t.match(r.stdout, /not yet uploaded:\s+1 sale, \$1\.50, oldest \d+ s ago \(2 events\)/, 'status speaks in sales and money, events as the detail');
  r = await runCli(['local-mode', 'off', ...a]);
  t.equal(r.code, 0);
  await until('uploaded', () => agent.status().sync.pending === 0);

  r = await runCli(['sync', 'up', ...a, '--json']);
  t.equal(r.code, 0);
  t.type(JSON.parse(r.stdout).ackSeq, 'number');
  r = await runCli(['sync', 'down', ...a]);
  t.equal(r.code, 0);
  t.match(r.stdout, /sync down: \d+ changes applied/);
  r = await runCli(['restore', ...a]);
  t.equal(r.code, 0);
  t.match(r.stdout, /sync service restarted/);

  r = await runCli(['resync', '--force', '--dry-run', ...a, '--json']);
  t.equal(r.code, 0);
  t.same(JSON.parse(r.stdout), { total: 2, have: 2, lack: 0, different: 0, differentSeqs: [] });
  r = await runCli(['resync', '--force', ...a]);
  t.equal(r.code, 2, 'destructive operations need --yes when not interactive');
  r = await runCli(['resync', '--force', '--yes', ...a, '--json']);
  t.equal(r.code, 0);
  t.equal(JSON.parse(r.stdout).result.skipped, 2);
  r = await runCli(['resync', '--full', '--yes', ...a]);
  t.equal(r.code, 0);
  t.match(r.stdout, /full resync done: 5 items, 2 customers/);
  t.match(r.stdout, /verified against the cloud/);

  r = await runCli(['audit', ...a]);
  t.equal(r.code, 0);
  t.match(r.stdout, /clean: sequence gapless/);
  r = await runCli(['replay', ...a]);
  t.same(r.stdout.trim().split('\n').map((l) => JSON.parse(l).seq), [1, 2]);

  r = await runCli(['cleanup', '--older-than', '30d', '--yes', ...a, '--json']);
  t.equal(r.code, 0);
  t.equal(JSON.parse(r.stdout).events, 0, 'nothing that old');
  r = await runCli(['cleanup', '--older-than', 'soon', '--yes', ...a]);
  t.equal(r.code, 2, 'a bad flag value is a usage error');
  t.match(r.stderr, /VALIDATION_FAILED/);

  // Usage errors and help.
  r = await runCli(['resync', ...a]);
  t.equal(r.code, 2);
  t.match(r.stderr, /choose exactly one of --full or --force/);
  r = await runCli(['no-such-verb']);
  t.equal(r.code, 2);
  for (const verb of ['status', 'local-mode', 'sync', 'resync', 'restore', 'cleanup', 'replay', 'audit', 'terminal', 'cloud', 'admin', 'demo']) {
    r = await runCli([verb, '--help']);
    t.equal(r.code, 0, `${verb} --help`);
    t.match(r.stdout, /Usage: tillsync/);
    t.notMatch(r.stdout, /\(F\d+\)/, `${verb} --help speaks without spec labels`);
  }

  // Audit of a copied data folder with a damaged record: findings, exit 3.
  await agent.stop();
  env.agents.length = 0;
  const copy = mkdtempSync(join(tmpdir(), 'tillsync-audit-copy-'));
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(dir, 'till-1'), copy, { recursive: true });
  r = await runCli(['audit', '--data', copy, '--json']);
  t.equal(r.code, 0, 'the copy audits clean');
  const db = new ClassicLevel<string, Uint8Array>(join(copy, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.del(`!log!${seqKey(1)}`);
  await db.close();
  r = await runCli(['audit', '--data', copy, '--json']);
  t.equal(r.code, 3);
  t.equal(JSON.parse(r.stdout).findings[0].code, 'SEQ_GAP');
  r = await runCli(['replay', '--data', copy]);
  t.same(r.stdout.trim().split('\n').map((l) => JSON.parse(l).seq), [2], 'replay reads what is there');

  r = await runCli(['status', ...a]);
  t.equal(r.code, 4, 'agent gone: unreachable');
});

/** Starts `tillsync terminal` as a child and collects its output until `done` matches (bounded). */
async function runTerminal(args: string[], done: RegExp, env: Record<string, string> = {}): Promise<{ child: ChildProcess; stdout: string; stderr: string; code: number | null }> {
  const child = spawn(process.execPath, [BIN, 'terminal', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tillsync terminal never printed ${done}: ${stdout} ${stderr}`)), 60_000);
    const check = () => { if (done.test(stdout + stderr)) { clearTimeout(timer); resolve(null); } };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  return { child, stdout, stderr, code };
}

t.test('tillsync terminal: pairing token file, a first manager PIN shown once, TLS required off loopback (and a warning)', async (t) => {
  const dir = t.testdir();
  const flags = ['--data', join(dir, 'till'), '--store', 'store-1', '--terminal', 'till-1', '--cloud', 'http://127.0.0.1:9', '--token', 'a-terminal-token-for-tests'];
  const run = await runTerminal([...flags, '--port', '0'], /new staff account manager .*PIN \d{6}/);
  t.teardown(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); });
  const url = /agent on (http:\S+)/.exec(run.stdout)?.[1];
  const pin = /PIN (\d{6})/.exec(run.stdout)?.[1];
  t.ok(url && pin, 'the URL and the first PIN are printed');
  t.match(run.stdout, new RegExp(`pairing token .*${join(dir, 'till', 'agent-token').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  t.equal(statSync(join(dir, 'till', 'agent-token')).mode & 0o777, 0o600, 'the pairing token file is 0600');
  const signIn = await fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ staff: 'manager', pin }) });
  t.equal(signIn.status, 201, 'the printed PIN signs the manager in');
  // Staff accounts through the CLI (the PIN from the environment, never argv), then the audit log says who.
  const a = ['--agent', url!, '--agent-token-file', join(dir, 'till', 'agent-token')];
  let r = await runCli(['staff', 'set', 'casey', '--name', 'Casey', '--role', 'cashier', ...a], { env: { TILLSYNC_STAFF_PIN: '4321' } });
  t.equal(r.code, 0, r.stderr);
  const casey = await fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ staff: 'casey', pin: '4321' }) });
  t.equal(casey.status, 201, 'the new cashier signs in with the PIN set by the CLI');
  r = await runCli(['audit-log', '--json', ...a]);
  t.match(JSON.parse(r.stdout).entries.find((e: { action: string }) => e.action === 'staff.set'), { ok: true, actor: { kind: 'token', id: 'technician' }, details: { id: 'casey' } });
  const exited = new Promise((r) => run.child.once('exit', r));
  run.child.kill('SIGTERM');
  await exited;

  t.notMatch(run.stderr, /WARNING/, 'no warning on loopback');

  // Off loopback needs TLS: without a certificate it is a usage error (exit 2) and a fresh folder stays empty.
  const fresh = ['--data', join(dir, 'till-off'), '--store', 'store-1', '--terminal', 'till-2', '--cloud', 'http://127.0.0.1:9', '--token', 'a-terminal-token-for-tests', '--port', '0'];
  r = await runCli(['terminal', ...fresh, '--host', '0.0.0.0'], { timeoutMs: 60_000 });
  t.equal(r.code, 2, 'a non-loopback --host without TLS is a usage error');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one clear line');
  t.match(r.stderr, /--tls-cert/);
  t.notOk(existsSync(join(dir, 'till-off', 'agent.json')), 'no agent.json written');
  r = await runCli(['terminal', ...fresh, '--host', '0.0.0.0', '--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'missing.key')], { timeoutMs: 60_000 });
  t.equal(r.code, 1);
  t.match(r.stderr, /error VALIDATION_FAILED/, 'an unreadable certificate is VALIDATION_FAILED');
  t.notOk(existsSync(join(dir, 'till-off', 'agent.json')), 'still no agent.json');

  // With a certificate (from the environment): the warning, reworded, before it listens (192.0.2.1 is a documentation address this machine does not have).
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
  const off = await runTerminal([...fresh, '--host', '192.0.2.1'], /WARNING[\s\S]*(agent on|EADDRNOTAVAIL|error)/, { TILLSYNC_TLS_CERT: join(dir, 'c'), TILLSYNC_TLS_KEY: join(dir, 'k') });
  t.teardown(() => { if (off.child.exitCode === null) off.child.kill('SIGKILL'); });
  t.match(off.stderr, /WARNING: --host 192\.0\.2\.1 serves the terminal agent beyond this computer \(HTTPS/);
});

t.test('replay and audit from the cloud with the admin credential', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1', 'till-2'] });
  t.teardown(() => env.stop());
  for (const agent of env.agents) {
    await until('catalog', () => agent.terminal.searchItems('cola').length === 1);
    await agent.terminal.completeSale({ lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  }
  await until('both uploaded', () => env.agents.every((a) => a.status().sync.pending === 0 && a.status().sync.uploaded === 2));
  const c = ['--cloud', env.cloudUrl, '--admin-token', env.adminToken, '--store', 'store-1'];
  let r = await runCli(['replay', ...c]);
  t.equal(r.code, 0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { terminal: string; seq: number });
  t.same(lines.map((l) => `${l.terminal}:${l.seq}`), ['till-1:1', 'till-1:2', 'till-2:1', 'till-2:2']);
  r = await runCli(['replay', ...c, '--terminal', 'till-2', '--from', '2']);
  t.same(r.stdout.trim().split('\n').map((l) => JSON.parse(l).seq), [2]);
  r = await runCli(['audit', ...c, '--json']);
  t.equal(r.code, 0);
  const report = JSON.parse(r.stdout) as { ok: boolean; events: number; terminals: string[] };
  t.equal(report.ok, true);
  t.equal(report.events, 4);
  t.same(report.terminals, ['till-1', 'till-2']);
  r = await runCli(['audit', '--cloud', env.cloudUrl, '--admin-token', 'wrong-token-xxxxxxxx', '--store', 'store-1']);
  t.equal(r.code, 1);
  t.match(r.stderr, /CLOUD_REFUSED/);
});

t.test('admin verbs through the CLI', async (t) => {
  const dir = t.testdir({
    'items.csv': 'id,sku,name,barcodes,price,taxRate\nitm-a,A-1,"Apple, red",4006381333931|4006381333948,120,500\nitm-b,B-1,Banana,4006381333955,80,0\n',
    'bad.csv': 'id,sku,name,barcodes,price,taxRate\nitm-c,C-1,Cherry,4006381333962,1.5,0\n',
    'customers.json': JSON.stringify([{ id: 'cus-z', name: 'Zoë Quinn', email: 'zoe@example.com', openingBalance: 700 }]),
  });
  const env = await startEnvironment({ dir: join(dir, 'env'), store: 'seed-store', terminals: [] });
  t.teardown(() => env.stop());
  const a = ['--cloud', env.cloudUrl, '--admin-token', env.adminToken];
  let r = await runCli(['admin', 'store', 'create', ...a, '--id', 'shop-2', '--name', 'Second shop', '--currency', 'EUR', '--offline', 'cap', '--cap', '2500']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /store shop-2 created \(EUR, offline stored value: cap\)/);
  r = await runCli(['admin', 'store', 'create', ...a, '--id', 'shop-2', '--name', 'Again', '--currency', 'EUR']);
  t.equal(r.code, 1);
  t.match(r.stderr, /ALREADY_EXISTS/);
  r = await runCli(['admin', 'terminal', 'create', ...a, '--store', 'shop-2', '--id', 'till-9', '--json']);
  t.equal(r.code, 0);
  t.match(JSON.parse(r.stdout).token, /^\S{16,}$/);
  r = await runCli(['admin', 'import', 'items', join(dir, 'items.csv'), ...a, '--store', 'shop-2']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^2 items imported/);
  r = await runCli(['admin', 'import', 'items', join(dir, 'bad.csv'), ...a, '--store', 'shop-2']);
  t.equal(r.code, 1);
  t.match(r.stderr, /line 2: MONEY_NOT_INTEGER/);
  t.match(r.stderr, /IMPORT_INVALID/);
  r = await runCli(['admin', 'import', 'customers', join(dir, 'customers.json'), ...a, '--store', 'shop-2', '--json']);
  t.equal(JSON.parse(r.stdout).imported, 1);
  r = await runCli(['admin', 'voucher', 'issue', ...a, '--store', 'shop-2', '--code', 'GV-CLI-0001', '--amount', '1500']);
  t.match(r.stdout, /voucher GV-CLI-0001 issued: 1500 cents/);
  r = await runCli(['admin', 'exceptions', ...a, '--store', 'shop-2']);
  t.equal(r.code, 0);
  t.match(r.stdout, /no exceptions/);
  r = await runCli(['admin', 'terminal', 'revoke', ...a, '--store', 'shop-2', '--id', 'till-9']);
  t.match(r.stdout, /revoked/);
  r = await runCli(['admin', 'exceptions', '--cloud', env.cloudUrl, '--admin-token', 'wrong-token-123456', '--store', 'shop-2']);
  t.equal(r.code, 1);
  t.match(r.stderr, /UNAUTHORIZED/);
});

t.test('bad flags are refused by commander before the verb runs: exit 2, VALIDATION_FAILED', async (t) => {
  // Nothing listens on port 9 (discard): a verb that ran would fail with 4 (unreachable), not 2.
  const agent = ['--agent', 'http://127.0.0.1:9'];
  const cases: Array<[string, string[]]> = [
    ['an unknown flag', ['status', '--no-such-flag', ...agent]],
    ['a port out of range', ['cloud', '--port', '70000', '--admin-token', 'a-good-admin-token-0123456789']],
    ['a number with junk', ['terminal', '--data', join(t.testdir(), 'never'), '--port', '80x']],
    ['a refund limit below 0', ['terminal', '--data', join(t.testdir(), 'never'), '--refund-limit', '-1']],
    ['local mode past 14 days', ['local-mode', 'on', '--hours', '1000', ...agent]],
    ['a retention that is no duration', ['cleanup', '--older-than', 'soon', '--yes', ...agent]],
    ['--full with --force', ['resync', '--full', '--force', '--yes', ...agent]],
    ['--dry-run with --full', ['resync', '--full', '--dry-run', '--yes', ...agent]],
    ['--export-unsynced with --force', ['resync', '--force', '--export-unsynced', 'x.ndjson', '--yes', ...agent]],
    ['--data with --cloud', ['replay', '--data', 'x', '--cloud', 'http://127.0.0.1:9']],
    ['a seq below 1', ['replay', '--from', '0', ...agent]],
    ['an offline policy that does not exist', ['admin', 'store', 'create', '--id', 's', '--name', 'S', '--currency', 'EUR', '--offline', 'sometimes', '--cloud', 'http://127.0.0.1:9', '--admin-token', 'a-good-admin-token-0123456789']],
    ['a role that does not exist', ['pair', '--name', 'pos', '--role', 'owner', ...agent]],
    ['a demo port base past 65000', ['demo', '--port-base', '65001']],
  ];
  for (const [what, args] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 2, `${what}: exit 2`);
    t.match(r.stderr, /^error VALIDATION_FAILED: /, `${what}: VALIDATION_FAILED`);
  }
  const card = await runCli(['cloud', '--port', '4111111111111111']);
  t.equal(card.code, 2);
  t.match(card.stderr, /^error VALIDATION_FAILED: /);
  t.notMatch(card.stderr, /4111/, 'a refused value that may be a card number is not echoed');
  const json = await runCli(['status', '--json', '--no-such-flag', ...agent]);
  t.equal(json.code, 2);
  t.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'VALIDATION_FAILED', 'with --json, as JSON on stdout');
});

t.test('tillsync cloud refuses to start without an admin token, or with a guessable one (exit 2), before touching its folder', async (t) => {
  const dir = t.testdir({ 'token': 'a-good-admin-token-0123456789\n', 'short': 'short\n' });
  const data = join(dir, 'cloud-data');
  const noEnv = { TILLSYNC_ADMIN_TOKEN: '' };
  let r = await runCli(['cloud', '--port', '0', '--data', data], { env: noEnv });
  t.equal(r.code, 2);
  t.match(r.stderr, /error VALIDATION_FAILED: the cloud needs an admin token/);
  t.notOk(existsSync(data), 'no data folder created');
  r = await runCli(['cloud', '--port', '0', '--data', data, '--admin-token-file', join(dir, 'short')], { env: noEnv });
  t.equal(r.code, 2);
  t.match(r.stderr, /at least 16 printable characters/);
  r = await runCli(['cloud', '--port', '0', '--data', data, '--admin-token-file', join(dir, 'missing')], { env: noEnv });
  t.equal(r.code, 2);
  t.match(r.stderr, /cannot be read: ENOENT/);
  r = await runCli(['cloud', '--port', '0', '--data', data, '--admin-token', 'a-good-admin-token-0123456789', '--admin-token-file', join(dir, 'token')], { env: noEnv });
  t.equal(r.code, 2, 'both on the command line');
  r = await runCli(['cloud', '--port', 'x', '--data', data], { env: noEnv });
  t.equal(r.code, 2, 'a bad flag value');
  t.match(r.stderr, /error VALIDATION_FAILED: .*--port/);
  t.notOk(existsSync(data), 'still no data folder');

  // From a file (beats an exported variable): it starts, and the token from the file is the one that works.
  const child = spawn(process.execPath, [BIN, 'cloud', '--port', '0', '--data', data, '--admin-token-file', join(dir, 'token')], {
    env: { ...process.env, TILLSYNC_ADMIN_TOKEN: 'another-token-from-the-env-0123', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const url = await within(new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /listening on (http:\/\/\S+)/.exec(l);
      if (m) resolve(m[1]!);
    });
  }), WAIT_MS, 'the cloud to listen');
  const ok = await fetch(`${url}/v1/admin/stores`, { headers: { authorization: 'Bearer a-good-admin-token-0123456789' } });
  t.equal(ok.status, 200, 'the token from the file opens the back office');
  const other = await fetch(`${url}/v1/admin/stores`, { headers: { authorization: 'Bearer another-token-from-the-env-0123' } });
  t.equal(other.status, 401, 'the exported one does not');
  const exited = new Promise<number | null>((r2) => child.once('exit', (code) => r2(code)));
  child.kill('SIGTERM');
  t.equal(await within(exited, WAIT_MS, 'the cloud to stop'), 0);
});
