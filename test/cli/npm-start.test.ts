/**
 * F14: `npm start` as a child process (its own process group, like a terminal
 * session): both pages of both terminals answer, a sale through the checkout
 * page's API reaches the cloud, and Ctrl-C (SIGINT to the group) exits 0 with
 * nothing left running. A second start reuses the folder.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { runCli } from './run-cli.ts';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until } from '../helpers/env.ts';
import { exitWithin, within, WAIT_MS } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Started {
  child: ChildProcess;
  cloud: string;
  pages: string[];
  output: string[];
}

async function npmStart(dir: string): Promise<Started> {
  const child = spawn('npm', ['start', '--', '--data', dir, '--port-base', '0', '--items', '2000', '--customers', '300'], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const output: string[] = [];
  const pages: string[] = [];
  let cloud = '';
  await within(new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      const url = /(https?:\/\/\S+)/.exec(line)?.[1];
      if (line.startsWith('cloud:') && url) cloud = url;
      else if (/Sync Manager:|Checkout:/.test(line) && url) pages.push(url);
      if (line.startsWith('Press Ctrl-C')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`npm start exited early with ${code}: ${output.join('\n')}`)));
  }), 4 * WAIT_MS, 'npm start to print "Press Ctrl-C"').catch((err: unknown) => {
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    throw err;
  });
  return { child, cloud, pages, output };
}

async function ctrlC(child: ChildProcess): Promise<string> {
  const exited = exitWithin(child, 2 * WAIT_MS, 'npm start to exit on Ctrl-C');
  process.kill(-child.pid!, 'SIGINT');
  const { code: c, signal } = await exited;
  const code = `code ${c} signal ${signal}`;
  // Nothing of the group may be left running.
  await until('process group gone', () => {
    try {
      process.kill(-child.pid!, 0);
      return false;
    } catch {
      return true;
    }
  }, WAIT_MS);
  return code;
}

t.test('npm start runs the demo and stops cleanly on Ctrl-C', async (t) => {
  const home = t.testdir();
  const dir = join(home, 'tillsync-data'); // the demo's default folder name: the CLI run from `home` finds it
  const first = await npmStart(dir);
  t.teardown(() => { try { process.kill(-first.child.pid!, 'SIGKILL'); } catch { /* already gone */ } });
  t.equal(first.pages.length, 4, 'Sync Manager and checkout of two terminals');
  t.match(first.output.join('\n'), /newly seeded/);
  // The demo's staff sign-in is printed, and it works on the pages.
  const printed = first.output.join('\n');
  const pins = Object.fromEntries([...printed.matchAll(/(manager|cashier)\s+staff ID (\S+)\s+PIN (\d+)/g)].map((m) => [m[1]!, { id: m[2]!, pin: m[3]! }]));
  t.ok(pins.manager && pins.cashier, 'manager and cashier credentials are printed');
  const till1 = new URL(first.pages[0]!).origin;
  const signIn = await fetch(`${till1}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ staff: pins.cashier!.id, pin: pins.cashier!.pin }) });
  t.equal(signIn.status, 201, 'the printed cashier PIN signs in');
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
  for (const page of first.pages) {
    const anonymous = await fetch(page, { redirect: 'manual' });
    t.equal(anonymous.status, 303, `${page} sends a visitor to the sign-in`);
    if (new URL(page).origin !== till1) continue;
    const res = await fetch(page, { headers: { cookie }, redirect: 'manual' });
    t.equal(res.status, 200, `${page} with the session`);
    t.match(await res.text(), /<html/i);
  }
  // The checkout page's API, as a POS front end with the terminal's pairing token.
  const auth = { authorization: `Bearer ${readFileSync(join(dir, 'till-1', 'agent-token'), 'utf8').trim()}` };
  t.match(printed, new RegExp(`pairing token:\\s+${join(dir, 'till-1', 'agent-token').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the pairing token file is printed');
  // A sale through the checkout page's API: scan a seeded barcode, pay cash.
  const items = await until('catalog downloaded', async () => {
    const r = (await (await fetch(`${till1}/api/items?q=a`, { headers: auth })).json()) as { items: Array<{ id: string; barcodes: string[]; price: number }> };
    return r.items.length > 0 ? r.items : undefined;
  }, 60_000);
  const item = items[0]!;
  const scanned = (await (await fetch(`${till1}/api/items/scan/${item.barcodes[0]}`, { headers: auth })).json()) as { item: { id: string } };
  t.equal(scanned.item.id, item.id);
  const sale = await fetch(`${till1}/api/sales`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ lines: [{ item: item.id, qty: 1 }], payments: [{ tender: 'cash', tendered: item.price * 2 + 1_000 }] }),
  });
  t.equal(sale.status, 201);
  const admin = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
  await until('the sale reached the cloud', async () => {
    const r = (await (await fetch(`${first.cloud}/v1/admin/stores/demo-store/events?terminal=till-1&from=1&limit=10`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { events: Array<{ event: { type: string } }> };
    return r.events.some((e) => e.event.type === 'sale.completed');
  }, 30_000);

  // The CLI run from the folder holding the demo's data finds its first terminal, token included.
  const noAgentEnv = { TILLSYNC_AGENT: '', TILLSYNC_AGENT_TOKEN_FILE: '', TILLSYNC_AGENT_TOKEN: '' };
  const st = await runCli(['status', '--json'], { cwd: home, env: noAgentEnv });
  t.equal(st.code, 0, st.stderr);
  t.equal((JSON.parse(st.stdout) as { terminal: string }).terminal, 'till-1', 'tillsync status talks to the demo');
  t.equal(statSync(join(dir, 'cli.json')).mode & 0o777, 0o600, 'the file for the CLI is private');
  t.match(printed, new RegExp(`export TILLSYNC_AGENT=${till1} TILLSYNC_AGENT_TOKEN_FILE=\\S+agent-token`), 'and the lines for another shell are printed');
  t.equal(await ctrlC(first.child), 'code 0 signal null', `exit code 0 on Ctrl-C (${first.output.slice(-3).join(' | ')})`);
  t.notOk(existsSync(join(dir, 'cli.json')), 'a stopped demo leaves no file for the CLI to find');

  const second = await npmStart(dir);
  t.teardown(() => { try { process.kill(-second.child.pid!, 'SIGKILL'); } catch { /* already gone */ } });
  t.match(second.output.join('\n'), /reused/);
  t.equal((await fetch(second.pages[1]!)).status, 200, 'the page answers (the sign-in, after a restart)');
  t.equal(await ctrlC(second.child), 'code 0 signal null', `second exit (${second.output.slice(-3).join(' | ')})`);
});
