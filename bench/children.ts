/**
 * The benchmarks' child processes: forking the compiled tools, asking them
 * over IPC, stopping them, and reading what /proc says of them (peak RSS,
 * CPU time by thread). Shared by sync.ts, storm.ts, peer.ts and the tools.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist, CLOUD_RUNTIME } from '../scripts/build.ts';

const BENCH = dirname(fileURLToPath(import.meta.url));
/** How long a child may take to answer one message (building a 1M-event log is the longest). */
const CHILD_TIMEOUT_MS = 15 * 60_000;

let compiledTools: string | undefined;

/**
 * Forks a child tool compiled to JavaScript as a deployment runs the product
 * (scripts/build.ts, into dist/ once per process): no tsx loader in the
 * children, whose hooks thread would add ~30 MB to every peak RSS measured.
 */
export function forkTool(name: string, args: string[], extraExecArgv: string[] = []): ChildProcess {
  // Both clouds (real and raw) run with the deployed cloud's node settings (bin/tillsync-cloud).
  const runtime = name.endsWith('-cloud') ? CLOUD_RUNTIME : { execArgv: [], env: {} };
  if (compiledTools === undefined) {
    // TILLSYNC_BENCH_DIST: another folder, so two bench runs at once do not empty each other's build.
    const dist = process.env.TILLSYNC_BENCH_DIST ?? join(BENCH, '..', 'dist');
    buildDist(dist);
    compiledTools = join(dist, 'bench', 'tools');
  }
  return fork(join(compiledTools, `${name}.js`), args, {
    execArgv: [...runtime.execArgv, ...extraExecArgv],
    env: { ...process.env, ...runtime.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Sends `msg` (if any) and waits for the child's next message. */
export function ask<T>(child: ChildProcess, msg: object | undefined, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${what}: no answer within ${CHILD_TIMEOUT_MS / 1000} s`)), CHILD_TIMEOUT_MS);
    const onMessage = (m: unknown): void => {
      const e = (m as { error?: string }).error;
      done(e === undefined ? undefined : new Error(`${what}: ${e}`), m as T);
    };
    const onExit = (code: number | null): void => done(new Error(`${what}: child exited with ${code}`));
    const done = (err: Error | undefined, value?: T): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value!);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    if (msg) child.send(msg);
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send({ stop: true });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** Peak resident set size (VmHWM) of a live process, in MB. */
export async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/**
 * Samples RssAnon (heap, stacks, native allocations: memory the process
 * really holds) of each pid every 100 ms and keeps the peak. VmHWM also counts
 * RssFile: LevelDB reads its table files through mmap, so pages of data files
 * that were read show up as resident although the kernel may drop them at will.
 */
export function sampleAnonPeaks(pids: readonly number[]): { stop(): Promise<number[]> } {
  const peaks = pids.map(() => 0);
  const sample = async (): Promise<void> => {
    await Promise.all(pids.map(async (pid, i) => {
      try {
        const m = /RssAnon:\s+(\d+)\s+kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
        if (m) peaks[i] = Math.max(peaks[i]!, Number(m[1]) / 1024);
      } catch {
        // the process is gone
      }
    }));
  };
  let pending = sample();
  const timer = setInterval(() => {
    pending = pending.then(sample);
  }, 100);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      await sample();
      return peaks;
    },
  };
}


export function perEventByThread(before: Map<string, number>, after: Map<string, number>, events: number): Record<string, number> {
  return Object.fromEntries([...after].map(([k, v]) => [k, ((v - (before.get(k) ?? 0)) * 1000) / events]));
}

/** CPU time (user + system) of each live thread of a process so far, in ms, keyed by thread name (`comm`) and tid - pid (threads unnamed by Node are all `node`). */
export async function threadCpuMs(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tids) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (stat === '') continue;
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const key = tid === String(pid) ? `${name} (main)` : `${name}#${Number(tid) - pid}`;
    out.set(key, (out.get(key) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
  }
  return out;
}

/** CPU time (user + system, all threads) of a live process so far, in ms. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11], [12] = utime, stime (fields 14 and 15 of proc(5)), in clock ticks (100 Hz on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Writes the machine's dirty pages out (`sync`, Linux and macOS); elsewhere does nothing. */
export async function flushDirtyPages(): Promise<void> {
  await new Promise<void>((resolve) => execFile('sync', () => resolve()));
}
