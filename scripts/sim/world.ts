/**
 * The fault simulator's world: a real cloud (`tillsync cloud`, LevelDB) and
 * real terminal agents, each a child process of the compiled build, every
 * terminal behind its own LinkProxy to the cloud. Processes die by SIGKILL;
 * folders are copied, restored and damaged between a kill and a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Rng } from '../../src/fixtures/prng.ts';
import { writeAgentConfig } from '../../src/terminal/agent-config.ts';
import { mountSmallDisk, type SmallDisk } from '../../test/helpers/small-disk.ts';
import { LinkProxy } from './link-proxy.ts';

const AGENT_CHILD = fileURLToPath(new URL('./agent-child.mjs', import.meta.url));
/** A child that says nothing within this long is a failure of the schedule (a loaded machine starts node slowly). */
const START_MS = 60_000;
const CALL_MS = 30_000;

export interface Answer<T = any> {
  /** 0: no answer (connection refused or cut, the process gone, or the call timed out). */
  status: number;
  body: T;
}

export interface SimTerminal {
  id: string;
  store: string;
  dir: string;
  proxy: LinkProxy;
  child: ChildProcess | null;
  url: string | null;
  /** Wall-clock offset of the agent process, ms. */
  clock: number;
  /** Its credential at the cloud (agent.json). */
  token: string;
  /** stderr of the last start, for reports. */
  stderr: string;
  /** Exits the harness did not cause (a till that died on its own), with the end of their stderr. */
  diedOnItsOwn: string[];
}

/** Starts a child, resolves with the first stdout line matching `ready` (its capture group). */
function startChild(cmd: string, args: string[], ready: RegExp, ipc: boolean): Promise<{ child: ChildProcess; match: string; stderr: () => string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} said nothing within ${START_MS} ms: ${err}`));
    }, START_MS);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = ready.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m[1]!, stderr: () => err });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`exited (${code ?? signal}) before it was ready: ${err}`), { stderr: err }));
    });
  });
}

/** SIGKILL (or SIGTERM, bounded) and wait for the exit. Only our own child, by its handle. */
async function endChild(child: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await gone;
  clearTimeout(timer);
}

export class World {
  readonly adminToken = `sim-admin-${randomBytes(12).toString('hex')}`;
  readonly cloudDir: string;
  cloud: ChildProcess | null = null;
  cloudPort = 0;
  readonly terminals: SimTerminal[] = [];
  /** The small tmpfs one terminal's folder lives on (disk-full faults), if the machine lets us mount one. */
  private smallDisk: SmallDisk | null = null;

  constructor(readonly dist: string, readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    this.cloudDir = join(root, 'cloud');
  }

  get cloudUrl(): string {
    return `http://127.0.0.1:${this.cloudPort}`;
  }

  async startCloud(): Promise<void> {
    const tokenFile = join(this.root, 'admin-token');
    writeFileSync(tokenFile, this.adminToken, { mode: 0o600 });
    const { child, match } = await startChild(process.execPath, [join(this.dist, 'src/cli/main.js'), 'cloud', '--port', '0', '--data', this.cloudDir, '--admin-token-file', tokenFile], /listening on http:\/\/127\.0\.0\.1:(\d+)/, false);
    this.cloud = child;
    this.cloudPort = Number(match);
    for (const t of this.terminals) t.proxy.setTarget(this.cloudPort);
  }

  async killCloud(): Promise<void> {
    await endChild(this.cloud, 'SIGKILL');
    this.cloud = null;
  }

  async stopCloud(): Promise<void> {
    await endChild(this.cloud, 'SIGTERM');
    this.cloud = null;
  }

  /** An admin call straight to the cloud (the back office is not behind a terminal's link). */
  async admin<T = any>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
    return call(this.cloudUrl, method, path, body, { authorization: `Bearer ${this.adminToken}` });
  }

  async mustAdmin<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const a = await this.admin<T>(method, path, body);
    if (a.status < 200 || a.status >= 300) throw new Error(`admin ${method} ${path}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.body;
  }

  /** Mounts a 32 MB tmpfs for one terminal's folder; false (and the disk-full faults are skipped) where mounting is not allowed. */
  mountSmallDisk(): boolean {
    const at = join(this.root, 'small-disk');
    mkdirSync(at, { mode: 0o700 });
    const disk = mountSmallDisk(32, at);
    if (disk.mounted) this.smallDisk = disk;
    return disk.mounted;
  }

  /** Fills the small disk to its last byte; answers the filler's path (remove it to free the space). */
  fillSmallDisk(): string | null {
    return this.smallDisk?.fill() ?? null;
  }

  /** Enrolls a terminal: its folder (on the small disk if asked and mounted), its credential, its link to the cloud. */
  async addTerminal(store: string, id: string, rng: Rng, onSmallDisk = false): Promise<SimTerminal> {
    const { token } = await this.mustAdmin<{ token: string }>('POST', `/v1/admin/stores/${store}/terminals`, { id });
    const proxy = await LinkProxy.start(this.cloudPort, rng);
    const dir = join(onSmallDisk && this.smallDisk ? this.smallDisk.path : this.root, `term-${id}`);
    await writeAgentConfig(dir, { store, terminal: id, cloudUrl: proxy.url, token });
    const t: SimTerminal = { id, store, dir, proxy, child: null, url: null, clock: 0, token, stderr: '', diedOnItsOwn: [] };
    this.terminals.push(t);
    return t;
  }

  /** Starts the agent; answers the error code it refused to start with, if it did. */
  async startAgent(t: SimTerminal): Promise<string | null> {
    try {
      const { child, match, stderr } = await startChild(process.execPath, [AGENT_CHILD, this.dist, t.dir], /^url (\S+)$/, true);
      t.child = child;
      t.url = match;
      t.stderr = '';
      child.on('exit', (code, signal) => {
        t.stderr = stderr();
        if (t.child !== child) return; // killed or stopped by the harness (it let go of the handle first)
        t.child = null;
        t.url = null;
        t.diedOnItsOwn.push(`exited (${code ?? signal}): ${t.stderr.slice(-300)}`);
      });
      if (t.clock !== 0) child.send({ clock: t.clock });
      return null;
    } catch (err) {
      t.child = null;
      t.url = null;
      t.stderr = (err as { stderr?: string }).stderr ?? String(err);
      return /\b([A-Z][A-Z0-9_]{3,})\b/.exec(t.stderr)?.[1] ?? 'START_FAILED';
    }
  }

  async killAgent(t: SimTerminal): Promise<void> {
    const child = t.child;
    t.child = null;
    t.url = null;
    await endChild(child, 'SIGKILL');
  }

  async stopAgent(t: SimTerminal): Promise<void> {
    const child = t.child;
    t.child = null;
    t.url = null;
    await endChild(child, 'SIGTERM');
  }

  setClock(t: SimTerminal, offsetMs: number): void {
    t.clock = offsetMs;
    if (t.child?.connected) t.child.send({ clock: offsetMs });
  }

  /** A call to a terminal's agent API with its pairing token, as the CLI makes it. */
  async agent<T = any>(t: SimTerminal, method: string, path: string, body?: unknown): Promise<Answer<T>> {
    if (!t.url) return { status: 0, body: undefined as T };
    let token = '';
    try {
      token = readFileSync(join(t.dir, 'agent-token'), 'utf8').trim();
    } catch {
      return { status: 0, body: undefined as T };
    }
    return call(t.url, method, path, body, { authorization: `Bearer ${token}` });
  }

  /** A copy of a stopped terminal's folder (a backup). */
  backup(t: SimTerminal, to: string): void {
    rmSync(to, { recursive: true, force: true });
    cpSync(t.dir, to, { recursive: true });
  }

  /** Puts a copy back in place of a stopped terminal's folder. */
  restore(t: SimTerminal, from: string): void {
    rmSync(t.dir, { recursive: true, force: true });
    cpSync(from, t.dir, { recursive: true });
  }

  /** Replaces a stopped terminal's folder by a new one with the same enrollment (what a technician does with a dead disk). */
  async replaceFolder(t: SimTerminal): Promise<void> {
    rmSync(t.dir, { recursive: true, force: true });
    await writeAgentConfig(t.dir, { store: t.store, terminal: t.id, cloudUrl: t.proxy.url, token: t.token });
  }

  /** LevelDB files of a terminal's log (for damage). */
  dbFiles(t: SimTerminal, ext: string): string[] {
    const db = join(t.dir, 'db');
    return readdirSync(db).filter((f) => f.endsWith(ext)).sort().map((f) => join(db, f));
  }

  /** Ends every process and link; `keep`: copies the small disk's folders out first (a failed schedule's evidence). */
  async close(keep = false): Promise<void> {
    await Promise.all(this.terminals.map((t) => this.killAgent(t)));
    await this.killCloud();
    await Promise.all(this.terminals.map((t) => t.proxy.close()));
    if (this.smallDisk) {
      const at = this.smallDisk.path;
      if (keep) for (const f of readdirSync(at).filter((n) => n.startsWith('term-'))) cpSync(join(at, f), join(this.root, f), { recursive: true });
      this.smallDisk.remove();
      this.smallDisk = null;
    }
  }
}

async function call<T>(base: string, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Answer<T>> {
  const write = body !== undefined;
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...(write ? { 'content-type': 'application/json' } : {}) },
      ...(write ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(CALL_MS),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: kept as text */
    }
    return { status: res.status, body: parsed as T };
  } catch {
    return { status: 0, body: undefined as T };
  }
}
