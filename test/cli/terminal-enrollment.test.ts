/**
 * Issue 21.3: a refused `tillsync terminal` start never rewrites agent.json.
 * Real CLI processes against a real cloud: a second agent on a folder in use
 * (same flags, a stray TILLSYNC_TOKEN, another --token), a mistyped --terminal
 * on a stopped folder — each is refused and agent.json keeps its bytes, so the
 * real agent starts again with its own credential. Re-enrollment is the explicit
 * `tillsync reenroll` verb, refused while the agent runs.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, runCli } from './run-cli.ts';
import { smallEnvironment } from '../helpers/env.ts';

const codeOf = (stderr: string): string | undefined => /^error ([A-Z_]+):/m.exec(stderr)?.[1];

function startAgent(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'terminal', ...args, '--port', '0'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tillsync terminal did not report its URL within 60 s')), 60_000);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = / agent on (http\S+)/.exec(l);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1]! }); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tillsync terminal exited ${code}: ${err}`)); });
  });
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

t.test('refused starts leave agent.json as it was; reenroll is explicit', async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(join(dir, 'env'), { terminals: [] });
  t.teardown(() => env.stop());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const data = join(dir, 'till-1');
  const flags = ['--data', data, '--store', 'store-1', '--terminal', 'till-1', '--cloud', env.cloudUrl, '--token', created.token];

  const first = await startAgent(flags);
  t.teardown(() => stopAgent(first.child));
  const enrolled = readFileSync(join(data, 'agent.json'));
  t.equal(JSON.parse(enrolled.toString()).token, created.token, 'first start enrolled the folder');

  // A second agent on the folder in use, with the same flags: refused by the lock.
  let r = await runCli(['terminal', ...flags, '--port', '0']);
  t.equal(codeOf(r.stderr), 'LOG_LOCKED');
  // ... with a stray TILLSYNC_TOKEN: still only refused, the token is not taken.
  r = await runCli(['terminal', '--data', data, '--port', '0'], { env: { TILLSYNC_TOKEN: 'stray-token-0123456789abcdef' } });
  t.equal(codeOf(r.stderr), 'LOG_LOCKED');
  // ... with another --token: refused before anything, as the folder is enrolled.
  r = await runCli(['terminal', ...flags.slice(0, -1), 'other-token-0123456789abcdef', '--port', '0']);
  t.equal(codeOf(r.stderr), 'ALREADY_ENROLLED');
  t.same(readFileSync(join(data, 'agent.json')), enrolled, 'agent.json unchanged by the refused starts (agent running)');

  await stopAgent(first.child);
  // A mistyped --terminal on the stopped folder.
  r = await runCli(['terminal', '--data', data, '--terminal', 'till-9', '--port', '0']);
  t.equal(codeOf(r.stderr), 'WRONG_STORE');
  r = await runCli(['terminal', '--data', data, '--cloud', 'http://127.0.0.1:1', '--port', '0']);
  t.equal(codeOf(r.stderr), 'ALREADY_ENROLLED');
  t.same(readFileSync(join(data, 'agent.json')), enrolled, 'agent.json unchanged by the refused starts (agent stopped)');

  // A stray TILLSYNC_TOKEN does not replace the folder's credential: the real agent starts and syncs.
  const again = await startAgent(['--data', data], { TILLSYNC_TOKEN: 'stray-token-0123456789abcdef' });
  t.teardown(() => stopAgent(again.child));
  // The agent requires a caller (issue 19): the pairing token, as the CLI sends it.
  const sale = await fetch(`${again.url}/api/status`, { headers: { authorization: `Bearer ${readFileSync(join(data, 'agent-token'), 'utf8').trim()}` } });
  t.equal(sale.status, 200, 'the real agent starts again');
  t.same(readFileSync(join(data, 'agent.json')), enrolled, 'still unchanged');

  // Re-enrollment is explicit, and refused while the agent holds the folder.
  const fresh = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals/till-1/token', {});
  r = await runCli(['reenroll', '--data', data, '--token', fresh.token]);
  t.equal(codeOf(r.stderr), 'LOG_LOCKED', 'reenroll refused while the agent runs');
  t.same(readFileSync(join(data, 'agent.json')), enrolled);
  await stopAgent(again.child);
  r = await runCli(['reenroll', '--data', data, '--token', fresh.token, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8')).token, fresh.token, 'reenroll replaced the credential');
  t.equal(JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8')).terminal, 'till-1', 'identity kept');
  t.notOk(existsSync(join(data, 'agent.json.tmp')));

});
