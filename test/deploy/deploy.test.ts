// deploy/: the systemd unit and the container image of the cloud, tested
// without systemd as PID 1 and without docker (CI can pull no base image):
// - the unit passes `systemd-analyze verify` with no warning, and its offline
//   security exposure stays low (`systemd-analyze security --threshold`);
// - the unit's ExecStart and the image's ENTRYPOINT + CMD are run as written
//   (against the compiled build, in a temp folder; only the install prefix,
//   systemd's specifiers, the data and secret paths and the port are put in)
//   and the cloud answers its health route, with the admin token taken from
//   the secret file the unit or the image names;
// - the image's HEALTHCHECK command passes against that cloud and fails once
//   it is gone; every COPY of the Dockerfile takes something that exists and
//   that .dockerignore does not drop.
// Building and running the image itself is the documented check in the README.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist } from '../../scripts/build.ts';
import { within, WAIT_MS } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNIT = readFileSync(join(ROOT, 'deploy/tillsync-cloud.service'), 'utf8');
const DOCKERFILE = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const PREFIX = '/opt/tillsync/';
// Inside the repository, so the compiled files find node_modules (test-output/ is git-ignored).
const OUT = join(ROOT, 'test-output', `deploy-${process.pid}`);
t.teardown(() => rmSync(OUT, { recursive: true, force: true }));
buildDist(join(OUT, 'dist'));
const DIST = join(OUT, 'dist');
const TOKEN = 'the-admin-token-from-the-secret-file-0123';
const ENV_TOKEN = 'another-admin-token-from-the-env-4567';

/** The unit's `Key=value` lines of one section, in order (a key may repeat). */
function unitSection(name: string): Array<[string, string]> {
  const body = UNIT.split(/^\[/m).find((s) => s.startsWith(`${name}]`)) ?? '';
  return body.split('\n').slice(1).filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}
const service = unitSection('Service');
const unitValues = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);

/** The Dockerfile's instructions (continuation lines joined, comments dropped). */
const instructions = DOCKERFILE.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => ({ op: l.split(/\s+/)[0]!.toUpperCase(), args: l.slice(l.split(/\s+/)[0]!.length).trim() }));
const runtimeStart = instructions.findIndex((i) => i.op === 'FROM' && / AS runtime$/i.test(i.args));
const runtime = instructions.slice(runtimeStart);
const dockerValue = (op: string) => runtime.filter((i) => i.op === op).map((i) => i.args);

function spawnCloud(t: Test, argv: string[], env: Record<string, string>) {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', TILLSYNC_DIST: DIST, ...env } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const port = within(new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/\S+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`the cloud exited with ${code}: ${stderr}`)));
  }), 4 * WAIT_MS, 'the cloud to print "listening on"');
  return { child, port, exited, stderr: () => stderr };
}

async function adminStatus(port: number, token: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/v1/admin/stores`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function stop(t: Test, c: ReturnType<typeof spawnCloud>): Promise<void> {
  c.child.kill('SIGTERM');
  t.equal(await within(c.exited, WAIT_MS, 'the cloud to exit on SIGTERM'), 0, 'stops cleanly on SIGTERM');
}

const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

t.test('the systemd unit: a dedicated user, its state folder 0700, the token as a credential, hardened', async (t) => {
  t.same(unitValues('User'), ['tillsync']);
  t.same(unitValues('DynamicUser'), ['yes']);
  t.same(unitValues('StateDirectory'), ['tillsync-cloud']);
  t.same(unitValues('StateDirectoryMode'), ['0700']);
  t.same(unitValues('UMask'), ['0077']);
  t.same(unitValues('LoadCredential'), ['admin-token:/etc/tillsync/admin-token']);
  t.ok(unitValues('Environment').includes('TILLSYNC_ADMIN_TOKEN_FILE=%d/admin-token'), 'the cloud reads the credential by TILLSYNC_ADMIN_TOKEN_FILE');
  for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes'], ['PrivateDevices', 'yes'], ['CapabilityBoundingSet', '']] as const) {
    t.same(unitValues(k), [v], `${k}=${v}`);
  }
  t.notOk(service.some(([k, v]) => k === 'Environment' && /TOKEN=/.test(v)), 'no token in the environment');
});

t.test('systemd-analyze verifies the unit without a warning and rates its exposure low', { skip: systemdAnalyze ? false : 'systemd-analyze is not installed: run the README check by hand' }, async (t) => {
  const dir = join(OUT, 'units');
  mkdirSync(dir, { recursive: true });
  // The unit as installed in a clone at ROOT (verify checks that ExecStart is executable).
  const unit = join(dir, 'tillsync-cloud.service');
  writeFileSync(unit, UNIT.replaceAll(PREFIX, `${ROOT}/`));
  const verify = (file: string) => spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  const ok = verify(unit);
  t.equal(ok.stderr, '', 'no warning');
  t.equal(ok.status, 0, 'verify exits 0');
  // verify exits 0 on a line it cannot parse, saying so on stderr: that is what fails above.
  const broken = join(dir, 'broken.service');
  writeFileSync(broken, UNIT.replaceAll(PREFIX, `${ROOT}/`).replace('NoNewPrivileges=yes', 'NoNewPrivileges=perhaps'));
  t.match(verify(broken).stderr, /NoNewPrivileges|perhaps/, 'a broken line is reported (the check above can fail)');
  // Exposure 0.0 (locked down) … 10.0 (nothing); without the hardening lines this unit rates ~4.
  const security = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '--no-pager', unit], { encoding: 'utf8' });
  t.equal(security.status, 0, `exposure at most 2.0: ${/Overall exposure level[^\n]*/.exec(security.stdout)?.[0] ?? security.stderr}`);
});

t.test("the unit's ExecStart runs the cloud, with the admin token from its credential", async (t) => {
  const state = join(OUT, 'state');
  const credentials = join(OUT, 'credentials');
  // As systemd makes StateDirectory= with DynamicUser=yes: the folder in private/, linked from %S.
  mkdirSync(join(state, 'private', 'tillsync-cloud'), { recursive: true, mode: 0o700 });
  symlinkSync(join(state, 'private', 'tillsync-cloud'), join(state, 'tillsync-cloud'));
  mkdirSync(credentials, { recursive: true, mode: 0o700 });
  writeFileSync(join(credentials, 'admin-token'), `${TOKEN}\n`, { mode: 0o600 });
  // systemd's specifiers: %S the state root (/var/lib), %d the credentials folder.
  const specifiers = (s: string) => s.replaceAll('%S', state).replaceAll('%d', credentials).replaceAll(PREFIX, `${ROOT}/`);
  const [execStart] = unitValues('ExecStart');
  t.ok(execStart?.startsWith(`${PREFIX}bin/tillsync-cloud `), 'ExecStart is the launcher');
  const argv = specifiers(execStart!).split(/\s+/).map((a) => (a === '8080' ? '0' : a));
  const env = Object.fromEntries(unitValues('Environment').map((e) => specifiers(e).split(/=(.*)/s).slice(0, 2) as [string, string]));
  // Both variables set: the file named by the unit wins.
  const cloud = spawnCloud(t, argv, { ...env, TILLSYNC_ADMIN_TOKEN: ENV_TOKEN });
  const port = await cloud.port;
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'GET /healthz');
  t.equal(await adminStatus(port, TOKEN), 200, "the credential's token is the admin token");
  t.equal(await adminStatus(port, ENV_TOKEN), 401, 'not the one in TILLSYNC_ADMIN_TOKEN');
  const data = join(state, 'tillsync-cloud');
  t.ok(existsSync(join(data, 'CURRENT')), 'the data is in StateDirectory');
  t.equal(statSync(data).mode & 0o777, 0o700, 'which is private');
  await stop(t, cloud);
  t.equal(cloud.stderr(), '', 'nothing on stderr (no DATA_DIR_NOT_PRIVATE warning about the link)');
});

t.test("the image's ENTRYPOINT and CMD run the cloud; its HEALTHCHECK passes, and fails once it is gone", async (t) => {
  const user = dockerValue('USER');
  t.equal(user.length, 1, 'the runtime stage sets a user');
  t.match(user[0], /^[1-9]\d*(:[1-9]\d*)?$/, 'numeric and not root');
  t.ok(dockerValue('RUN').some((r) => /npm ci --omit=dev/.test(r)), 'production dependencies only');
  t.ok(dockerValue('VOLUME').includes('/var/lib/tillsync-cloud'), 'the data folder is a volume');
  const entrypoint = JSON.parse(dockerValue('ENTRYPOINT')[0]!) as string[];
  const cmd = JSON.parse(dockerValue('CMD')[0]!) as string[];
  t.same(entrypoint, [`${PREFIX}bin/tillsync-cloud`], 'the launcher is the entry');
  const env = Object.fromEntries(dockerValue('ENV').map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
  t.equal(env.TILLSYNC_ADMIN_TOKEN_FILE, '/run/secrets/tillsync-admin-token', 'the admin token comes from a secret file');

  const volume = join(OUT, 'volume');
  mkdirSync(volume, { recursive: true, mode: 0o700 });
  const secret = join(OUT, 'secret-admin-token');
  writeFileSync(secret, `${TOKEN}\n`, { mode: 0o600 });
  const paths = (a: string) => a.replaceAll(PREFIX, `${ROOT}/`).replaceAll('/var/lib/tillsync-cloud', volume).replaceAll('/run/secrets/tillsync-admin-token', secret);
  const argv = [...entrypoint, ...cmd].map(paths).map((a) => (a === '8080' ? '0' : a));
  const cloud = spawnCloud(t, argv, { ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, paths(v)])), TILLSYNC_ADMIN_TOKEN: '' });
  const port = await cloud.port;
  t.equal(await adminStatus(port, TOKEN), 200, "the secret file's token is the admin token");
  t.ok(existsSync(join(volume, 'CURRENT')), 'the data is in the volume');

  const health = /^--.*?CMD\s+(\[.*\])$/.exec(dockerValue('HEALTHCHECK')[0] ?? '');
  t.ok(health, 'HEALTHCHECK … CMD ["…"]');
  const check = (JSON.parse(health![1]!) as string[]).map((a) => a.replace(':8080/', `:${port}/`));
  t.match(check.join(' '), /\/healthz/, 'against the health route');
  const run = () => spawnSync(check[0] === 'node' ? process.execPath : check[0]!, check.slice(1), { env: { ...process.env, NODE_OPTIONS: '' }, timeout: WAIT_MS }).status;
  t.equal(run(), 0, 'healthy while the cloud runs');
  await stop(t, cloud);
  t.equal(run(), 1, 'unhealthy once it is gone');

  // The documented variant: the token in a variable, the file variable emptied.
  const byEnv = spawnCloud(t, argv, { ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, paths(v)])), TILLSYNC_ADMIN_TOKEN_FILE: '', TILLSYNC_ADMIN_TOKEN: ENV_TOKEN });
  t.equal(await adminStatus(await byEnv.port, ENV_TOKEN), 200, '-e TILLSYNC_ADMIN_TOKEN_FILE= -e TILLSYNC_ADMIN_TOKEN=… works');
  await stop(t, byEnv);
});

t.test("every COPY of the Dockerfile takes what exists, and .dockerignore keeps it in the context", async (t) => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const isIgnored = (path: string) => ignored.some((p) => {
    const segments = path.split('/');
    if (p.startsWith('**/')) return segments.includes(p.slice(3));
    if (p.startsWith('*.')) return path.endsWith(p.slice(1));
    return path === p || path.startsWith(`${p}/`) || (p.endsWith('*') && path.startsWith(p.slice(0, -1)));
  });
  t.ok(isIgnored('node_modules') && isIgnored('dist') && isIgnored('bench/results/x.json'), 'local modules, builds and results stay out');
  const copies = instructions.filter((i) => i.op === 'COPY');
  t.ok(copies.length >= 6);
  for (const c of copies) {
    const words = c.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='));
    const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
    for (const s of sources) {
      if (from) {
        // The build stage builds in /src: its dist/ is what buildDist made here.
        t.ok(s.startsWith('/src/dist/') && existsSync(join(DIST, s.slice('/src/dist/'.length))), `${c.args}: the build makes ${s}`);
      } else {
        t.ok(existsSync(join(ROOT, s)), `COPY ${s}: exists`);
        t.notOk(isIgnored(s.replace(/\/$/, '')), `COPY ${s}: not in .dockerignore`);
      }
    }
  }
});
