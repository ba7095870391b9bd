/**
 * The CLI's client for a running terminal agent: JSON over HTTP on loopback,
 * and the status stream for progress while a long operation runs. Every call
 * carries the agent's pairing token as `Authorization: Bearer` (the agent
 * refuses callers without one: AUTH_REQUIRED).
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { TillsyncError, isTillsyncError, type ErrorCode } from '../errors.ts';
import { ERRORS } from '../errors.ts';
import type { AgentStatus } from '../terminal/agent.ts';
import type { Progress } from './output.ts';

export const DEFAULT_AGENT_URL = 'http://127.0.0.1:7420';

/**
 * The pairing token to send: TILLSYNC_AGENT_TOKEN, else the file named by
 * `tokenFile` (--agent-token-file) or TILLSYNC_AGENT_TOKEN_FILE. The token is
 * never taken from the command line, where other users could read it.
 */
export function agentToken(tokenFile?: string): string | undefined {
  const direct = process.env.TILLSYNC_AGENT_TOKEN?.trim();
  if (direct) return direct;
  const file = tokenFile ?? process.env.TILLSYNC_AGENT_TOKEN_FILE;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TillsyncError('AUTH_REQUIRED', `cannot read the agent's pairing token file ${file}`, { cause: err });
  }
}

export class AgentClient {
  constructor(readonly baseUrl: string, private readonly token?: string) {}

  /** The bearer header, when this client has a token. */
  get headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        ...(method !== 'GET' ? { headers: { ...this.headers, 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) } : { headers: this.headers }),
      });
    } catch (err) {
      throw new TillsyncError('AGENT_UNREACHABLE', `no terminal agent answers at ${this.baseUrl}`, { cause: err });
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
      const code = e?.code && Object.hasOwn(ERRORS, e.code) ? (e.code as ErrorCode) : 'INTERNAL_ERROR';
      throw new TillsyncError(code, e?.message ?? `agent answered ${res.status}`, e?.details ? { details: e.details } : {});
    }
    return parsed as T;
  }

  status(): Promise<AgentStatus> {
    return this.request('GET', '/api/status');
  }

  /** Runs a POST while showing the agent's operation progress from the status stream. */
  async withProgress<T>(path: string, body: unknown, progress: Progress): Promise<T> {
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/api/status/stream`, { headers: this.headers });
    ws.on('error', () => {});
    ws.on('message', (data) => {
      try {
        const msg = JSON.parse(String(data)) as { status?: AgentStatus };
        const op = msg.status?.operation;
        if (op) progress.update(op.phase, op.done, op.total);
      } catch {
        // A malformed frame only costs a progress update.
      }
    });
    try {
      return await this.request<T>('POST', path, body);
    } catch (err) {
      throw isTillsyncError(err) ? err : new TillsyncError('INTERNAL_ERROR', String(err), { cause: err });
    } finally {
      progress.stop();
      ws.terminate();
    }
  }
}
