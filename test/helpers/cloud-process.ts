/**
 * A real `tillsync cloud` child process (the CLI), for tests of several cloud
 * processes over one database: started on a free port, killed at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { BIN } from '../cli/run-cli.ts';

export interface CloudProcess {
  child: ChildProcess;
  url: string;
  port: number;
}

/** Starts `tillsync cloud --port 0 --admin-token ADMIN ...args` and resolves once it says where it listens (at most 240 s: a loaded machine starts a tsx process slowly). */
export function startCloudProcess(t: Test, name: string, admin: string, args: readonly string[]): Promise<CloudProcess> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'cloud', '--port', '0', '--admin-token', admin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  return new Promise<CloudProcess>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloud ${name} did not say it listens within 240 s: ${out}`)), 240_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const url = m[1]!.replace(/\/$/, '');
        resolve({ child, url, port: Number(new URL(url).port) });
      }
    });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`cloud ${name} exited with ${code ?? signal}: ${out}`));
    });
  });
}

/** SIGKILLs the process and waits (at most 20 s) for it to be gone. */
export async function killCloudProcess(c: CloudProcess): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.child.once('exit', () => r()));
  c.child.kill('SIGKILL');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([gone, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`cloud pid ${c.child.pid} still there 20 s after SIGKILL`)), 20_000); })]);
  clearTimeout(timer);
}
