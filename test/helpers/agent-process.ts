/**
 * A terminal agent as a real child process (test/terminal/fixtures/agent-child.ts)
 * on an enrolled data folder, and ONE helper for every HTTP call to an agent,
 * so an auth header for the agent's API is a one-line change in `agentHeaders`.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const AGENT_CHILD = fileURLToPath(new URL('../terminal/fixtures/agent-child.ts', import.meta.url));

/** Agent URL → its pairing token file (the agent writes it into its data folder on start). */
const tokenFiles = new Map<string, string>();

/** The pairing token file of the agent at `base` (started by startAgentProcess). */
export function agentTokenFile(base: string): string | undefined {
  return tokenFiles.get(base);
}

/** Headers every agent call carries: the agent's pairing token, as the CLI sends it. */
export function agentHeaders(base: string): Record<string, string> {
  const file = tokenFiles.get(base);
  return file ? { authorization: `Bearer ${readFileSync(file, 'utf8').trim()}` } : {};
}

export async function agentCall<T = any>(base: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...agentHeaders(base), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export interface AgentProcess {
  child: ChildProcess;
  url: string;
}

/**
 * Starts `command args... AGENT_CHILD dataDir` (default: node --import=tsx) and
 * resolves with the URL the agent prints; rejects if it exits first or does
 * not print it within `timeoutMs`.
 */
export function startAgentProcess(dataDir: string, opts: { prefix?: string[]; timeoutMs?: number; spawn?: SpawnOptions } = {}): Promise<AgentProcess> {
  const argv = [...(opts.prefix ?? []), process.execPath, '--import=tsx', AGENT_CHILD, dataDir];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], ...opts.spawn });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent on ${dataDir} printed no URL within ${opts.timeoutMs ?? 60_000} ms`)), opts.timeoutMs ?? 60_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('url ')) {
        clearTimeout(timer);
        const url = l.slice(4);
        tokenFiles.set(url, join(dataDir, 'agent-token'));
        resolve({ child, url });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`agent exited (${code ?? signal}) before printing its URL`));
    });
  });
}

/** Sends `signal` and waits (bounded) for the exit. */
export async function stopAgentProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`agent pid ${child.pid} did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs); })]);
  clearTimeout(timer);
}
