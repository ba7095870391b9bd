/**
 * The CLI's client for a running terminal agent: JSON over HTTP on loopback,
 * and the status stream for progress while a long operation runs.
 */
import WebSocket from 'ws';
import { TillsyncError, isTillsyncError, type ErrorCode } from '../errors.ts';
import { ERRORS } from '../errors.ts';
import type { AgentStatus } from '../terminal/agent.ts';
import type { Progress } from './output.ts';

export const DEFAULT_AGENT_URL = 'http://127.0.0.1:7420';

export class AgentClient {
  constructor(readonly baseUrl: string) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) } : {}),
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
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/api/status/stream`);
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
