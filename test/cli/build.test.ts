// The compiled build (scripts/build.ts): what a deployment runs. The compiled
// CLI starts a real cloud that takes an upload over HTTP; the compiled decode
// pool runs its compiled worker (no tsx anywhere in that process); the
// terminal's pages are shipped next to the compiled code; bin/tillsync-cloud
// becomes that cloud with the node settings the benchmark runs it with.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decode } from '@msgpack/msgpack';
import fastify from 'fastify';
import { buildDist, CLOUD_RUNTIME } from '../../scripts/build.ts';
import { within, WAIT_MS } from '../helpers/wait.ts';
import { delta, MSGPACK, redeem, sale, subdir, terminalLog, uploadBody } from '../server/harness.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Inside the repository, so the compiled files find node_modules (test-output/ is git-ignored).
const OUT = join(ROOT, 'test-output', `build-${process.pid}`);
t.teardown(() => rmSync(OUT, { recursive: true, force: true }));
const CLI = buildDist(OUT);
const ADMIN = 'admin-token-for-the-build-test-0123';

t.test('the compiled decode pool decodes in its compiled worker', async (t) => {
  const { DecodePool } = (await import(pathToFileURL(join(OUT, 'src/server/decode-pool.js')).href)) as typeof import('../../src/server/decode-pool.ts');
  const pool = new DecodePool(1);
  t.teardown(() => pool.close());
  const log = await terminalLog(t, 's1', 't1');
  const good = await log.append([sale(700, 'EUR', 'c1'), delta('c1', -700), redeem('GIFT-1', 100), sale(5)]);
  const batch = await pool.decode(uploadBody(good), { store: 's1', terminal: 't1' });
  t.equal(batch.length, 4, 'four events decoded');
  t.same([batch.seq(0), batch.seq(3)], [1, 4]);
  const refused = await pool.decode(uploadBody(good), { store: 's1', terminal: 't2' }).then(
    () => 'accepted',
    (err: { code?: string }) => err.code,
  );
  t.equal(refused, 'WRONG_TERMINAL', 'an event of another terminal is refused with its code');
  t.equal(pool.started, 1, 'a worker was started');
  t.equal(pool.crashes, 0, 'and it did not die (a worker that cannot load its file exits, and would be counted)');
});

/** Starts a cloud child and resolves its base URL from the "listening on" line. */
async function startCloudChild(t: Test, command: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const base = await within(new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`cloud exited with ${code}: ${stderr}`)));
  }), 4 * WAIT_MS, 'the cloud child to print "listening on"');
  return { child, base, exited, stderr: () => stderr };
}

t.test('the compiled CLI runs a cloud that stores an upload', async (t) => {
  const data = subdir(t, 'cloud');
  const { child, base, exited, stderr } = await startCloudChild(t, process.execPath, [CLI, 'cloud', '--port', '0', '--data', data, '--admin-token', ADMIN]);
  const health = await fetch(`${base}/healthz`);
  t.equal(health.status, 200, '/healthz');

  const adminPost = async (url: string, payload: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(payload),
    });
    t.equal(res.status, 201, `POST ${url}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await adminPost('/v1/admin/stores', { id: 's1', name: 'Store 1', currency: 'EUR' });
  const { token } = await adminPost('/v1/admin/stores/s1/terminals', { id: 't1' });
  const log = await terminalLog(t, 's1', 't1');
  const events = await log.append([sale(700), sale(300)]);
  const res = await fetch(`${base}/v1/events`, {
    method: 'POST', headers: { authorization: `Bearer ${String(token)}`, 'content-type': MSGPACK }, body: uploadBody(events),
  });
  t.equal(res.status, 200, 'upload answered');
  const answer = decode(new Uint8Array(await res.arrayBuffer())) as { ackSeq: number; accepted: number };
  t.same({ ackSeq: answer.ackSeq, accepted: answer.accepted }, { ackSeq: 2, accepted: 2 }, 'both events stored and acknowledged');

  child.kill('SIGTERM');
  t.equal(await within(exited, WAIT_MS, 'the cloud child to exit on SIGTERM'), 0, 'stops cleanly on SIGTERM');
  t.equal(stderr(), '', 'nothing on stderr');
});

t.test('bin/tillsync-cloud execs the compiled cloud with CLOUD_RUNTIME', async (t) => {
  const launcher = join(ROOT, 'bin/tillsync-cloud');
  const data = subdir(t, 'cloud');
  const { child, base, exited } = await startCloudChild(t, launcher, ['--port', '0', '--data', data, '--admin-token', ADMIN], { TILLSYNC_DIST: OUT });
  t.equal((await fetch(`${base}/healthz`)).status, 200, '/healthz');
  // exec: the launcher's PID is the cloud's node process.
  const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const main = argv.indexOf(CLI);
  t.ok(main > 0, 'runs the compiled CLI');
  t.same(argv.slice(1, main), CLOUD_RUNTIME.execArgv, 'with exactly the node flags of CLOUD_RUNTIME');
  t.same(argv.slice(main + 1, main + 2), ['cloud']);
  const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
  for (const [k, v] of Object.entries(CLOUD_RUNTIME.env)) t.ok(environ.includes(`${k}=${v}`), `${k}=${v} in its environment`);
  child.kill('SIGTERM');
  t.equal(await within(exited, WAIT_MS, 'the cloud child to exit on SIGTERM'), 0, 'stops cleanly on SIGTERM');
});

t.test('bin/tillsync-cloud without a build says what to do', async (t) => {
  const r = await within(new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(join(ROOT, 'bin/tillsync-cloud'), [], { env: { ...process.env, TILLSYNC_DIST: join(OUT, 'missing') } });
    t.teardown(() => void c.kill('SIGKILL'));
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.on('close', (code) => resolve({ code, stderr }));
  }), WAIT_MS, 'bin/tillsync-cloud without a build to exit');
  t.equal(r.code, 2);
  t.ok(r.stderr.length > 0, 'and says why on stderr');
});

t.test('the compiled terminal serves its pages', async (t) => {
  const { registerPages } = (await import(pathToFileURL(join(OUT, 'src/terminal/pages.js')).href)) as typeof import('../../src/terminal/pages.ts');
  const app = fastify();
  t.teardown(() => app.close());
  // A signed-in caller: the pages' own redirect to /sign-in is tested with the agent.
  registerPages(app, { signedIn: () => true });
  for (const url of ['/', '/checkout', '/sign-in', '/assets/app.css', '/assets/sync-manager.js', '/assets/sign-in.js']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 200, url);
    t.ok(res.payload.length > 100, `${url} has its content`);
  }
});
