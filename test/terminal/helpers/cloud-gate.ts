/**
 * An HTTP forwarder on 127.0.0.1 between a terminal agent and the real cloud,
 * for maintenance tests: it passes every request (and the WebSocket upgrade)
 * through unchanged, except that it can refuse chosen routes, as a cloud that
 * goes away half-way through an operation would. `down` refuses everything.
 */
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { AgentOptions } from '../../../src/terminal/agent.ts';
import type { Environment } from '../../../src/cli/demo-env.ts';
import { smallEnvironment } from '../../helpers/env.ts';

export class CloudGate {
  /** Paths (prefix match, e.g. '/v1/feed') answered by cutting the connection. */
  readonly refuse = new Set<string>();
  down = false;
  refused = 0;
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  private constructor(private readonly target: number) {
    this.server = http.createServer((req, res) => {
      if (this.down || [...this.refuse].some((p) => req.url?.startsWith(p))) {
        this.refused++;
        req.socket.destroy();
        return;
      }
      const up = http.request({ host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => req.socket.destroy());
      req.pipe(up);
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (this.down) {
        socket.destroy();
        return;
      }
      const up = net.connect(this.target, '127.0.0.1', () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        up.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) up.write(head);
        socket.pipe(up).pipe(socket);
      });
      this.sockets.add(up);
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
  }

  static async start(target: number): Promise<CloudGate> {
    const g = new CloudGate(target);
    await new Promise<void>((resolve) => g.server.listen(0, '127.0.0.1', resolve));
    g.port = (g.server.address() as net.AddressInfo).port;
    return g;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  setDown(down: boolean): void {
    this.down = down;
    if (down) for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A small store's cloud (no agents) with store-1/till-1 enrolled, a gate in
 * front of it, and the options that start till-1's agent through the gate
 * (quick passes, a 3 s cloud timeout), `extra` on top. Torn down with `t`.
 */
export async function gatedTerminal(t: Test, dir: string, extra: Partial<AgentOptions> = {}): Promise<{ env: Environment; gate: CloudGate; token: string; opts: AgentOptions }> {
  const env = await smallEnvironment(dir, { terminals: [] });
  t.teardown(() => env.stop());
  const gate = await CloudGate.start(Number(new URL(env.cloudUrl).port));
  t.teardown(() => gate.close());
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const opts: AgentOptions = {
    store: 'store-1', terminal: 'till-1', cloudUrl: gate.url, token: created.token, dataDir: join(dir, 'till-1'), port: 0,
    cloudTimeoutMs: 3_000,
    worker: { uploadPollMs: 100, download: { intervalMs: 300 }, stallMs: 5_000, backoff: { initialMs: 50, maxMs: 300 } },
    ...extra,
  };
  return { env, gate, token: created.token, opts };
}
