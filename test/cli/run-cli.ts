/** Runs the real `tillsync` CLI (bin/tillsync.js) as a child process. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WaitTimeout } from '../helpers/wait.ts';

export const BIN = fileURLToPath(new URL('../../bin/tillsync.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Resolves when the CLI exits; past `timeoutMs` (default 120 s) it is killed and the wait rejects. */
export function runCli(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    const ms = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new WaitTimeout(`tillsync ${args.join(' ')} to exit`, ms, `stdout ${JSON.stringify(stdout)} stderr ${JSON.stringify(stderr)}`));
    }, ms);
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(opts.input ?? '');
  });
}
