// Issue 24, item 1, end to end with real processes: a cloud (`tillsync cloud`)
// and a terminal agent (`tillsync terminal`) as child processes on loopback, a
// store with `--offline forbid`. The cloud is killed with SIGKILL: an account
// sale right after the agent's stream saw the cloud go must follow the offline
// policy (refused), not wait for the next poll. The cloud then comes back on
// the same port and data folder and the agent is online again by itself.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../cli/run-cli.ts';
import { until } from '../helpers/env.ts';

const ADMIN = 'admin-token-e2e-cloud-loss';

interface Child {
  proc: ChildProcess;
  url: string;
}

/** Starts `tillsync <args>` and waits (bounded) for the line holding its URL. */
async function startChild(t: Test, args: string[], pattern: RegExp): Promise<Child> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TILLSYNC_CLOUD: '' } });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tillsync ${args[0]} printed no URL within 60 s; stderr: ${err}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tillsync ${args[0]} exited with ${code}; stderr: ${err}`));
    });
  });
  return { proc, url };
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) } });
  return { status: res.status, body: await res.json() };
}

function killed(p: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    const timer = setTimeout(() => reject(new Error('the cloud did not die within 10 s of SIGKILL')), 10_000);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    p.kill('SIGKILL');
  });
}

t.test('cloud killed: an account sale right after the stream dropped follows --offline forbid; back online by itself', async (t) => {
  const dir = t.testdir();
  const cloudArgs = (port: number) => ['cloud', '--port', String(port), '--data', `${dir}/cloud`, '--admin-token', ADMIN];
  let cloud = await startChild(t, cloudArgs(0), /listening on (http:\/\/\S+)/);
  const port = Number(new URL(cloud.url).port);
  const admin = { authorization: `Bearer ${ADMIN}` };
  const post = (path: string, body: unknown) => json(`${cloud.url}/v1/admin${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
  t.equal((await post('/stores', { id: 's1', name: 'Shop', currency: 'USD', offlineStoredValue: 'forbid' })).status, 201);
  t.equal((await post('/stores/s1/items', [{ id: 'itm-1', sku: 'A1', name: 'Cola', barcodes: [], price: 200, taxRate: 0 }])).status, 200);
  t.equal((await post('/stores/s1/customers', [{ id: 'c1', name: 'Ann', openingBalance: 5_000 }])).status, 200);
  const term = await post('/stores/s1/terminals', { id: 't1' });
  t.equal(term.status, 201);

  const agent = await startChild(t, ['terminal', '--data', `${dir}/t1`, '--store', 's1', '--terminal', 't1', '--cloud', cloud.url, '--token', term.body.token, '--port', '0'],
    /agent on (http:\/\/\S+)/);
  // The agent's pairing token, as the CLI sends it.
  const auth = { authorization: `Bearer ${readFileSync(join(dir, 't1', 'agent-token'), 'utf8').trim()}` };
  const status = async () => (await json(`${agent.url}/api/status`, { headers: auth })).body.sync;
  const accountSale = () => json(`${agent.url}/api/sales`, {
    method: 'POST', headers: auth, body: JSON.stringify({ lines: [{ item: 'itm-1', qty: 1 }], customer: 'c1', payments: [{ tender: 'account', amount: 200 }] }),
  });
  await until('the agent online with its stream and the customer downloaded', async () => {
    const s = await status();
    return s.connection.state === 'online' && s.streamConnected && (await json(`${agent.url}/api/customers/c1`, { headers: auth })).status === 200;
  }, 60_000);
  t.equal((await accountSale()).status, 201, 'online, an account sale is taken');
  // Idle before the cloud dies: nothing pending, so no upload is there to fail and notice.
  await until('the sale uploaded', async () => {
    const s = await status();
    return s.pending === 0 && s.activity === null && s.connection.state === 'online';
  }, 30_000);

  await killed(cloud.proc);
  await until('the agent saw its stream drop', async () => (await status()).streamConnected === false, 15_000);
  const refused = await accountSale();
  t.equal(refused.status, 409);
  t.equal(refused.body.error?.code, 'OFFLINE_STORED_VALUE_FORBIDDEN', 'the offline policy applies as soon as the cloud is gone');
  t.not((await status()).connection.state, 'online');

  cloud = await startChild(t, cloudArgs(port), /listening on (http:\/\/\S+)/);
  await until('the agent online again with its stream, by itself', async () => {
    const s = await status();
    return s.connection.state === 'online' && s.streamConnected;
  }, 30_000);
  t.equal((await accountSale()).status, 201, 'online again, account sales are taken');
  await until('every sale uploaded', async () => (await status()).pending === 0, 30_000);
});
