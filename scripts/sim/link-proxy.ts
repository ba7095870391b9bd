/**
 * The network between one terminal and the cloud, for the fault simulator: an
 * HTTP proxy on 127.0.0.1 that forwards each request to the cloud's current
 * port and, while a fault window is open, does to a share of them what a bad
 * network does:
 *
 * - `drop`: the request never reaches the cloud (connection reset);
 * - `lose-reply`: the cloud handles it, its answer is lost (connection reset);
 * - `truncate`: the cloud gets the head and part of the body, then a reset;
 * - `delay`: forwarded late (0.05–0.8 s), so later requests overtake it;
 * - `duplicate`: forwarded twice, the client gets the second answer;
 * - `reorder`: held until the next request of this link has been forwarded.
 *
 * `down` refuses every request and cuts the live streams (a cable pulled).
 * WebSocket upgrades (the live stream) are piped as raw TCP; a fault window
 * cuts them now and then. Which requests a window hits comes from the link's
 * own seeded generator, so a schedule's faults follow from its seed (their
 * timing against the terminal's own timers cannot: that is what is tested).
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Rng } from '../../src/fixtures/prng.ts';

export const LINK_FAULTS = ['drop', 'lose-reply', 'truncate', 'delay', 'duplicate', 'reorder'] as const;
export type LinkFault = (typeof LINK_FAULTS)[number];

interface Upstream {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection']);

export class LinkProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly streams = new Set<Socket>();
  private window: { rate: number; kinds: readonly LinkFault[] } | null = null;
  private held: (() => void) | null = null;
  port = 0;
  down = false;
  /** Faults injected so far, by kind. */
  readonly injected: Record<LinkFault | 'down' | 'stream-cut', number> = { drop: 0, 'lose-reply': 0, truncate: 0, delay: 0, duplicate: 0, reorder: 0, down: 0, 'stream-cut': 0 };

  private constructor(private target: number, private readonly rng: Rng) {
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req, socket) => this.onUpgrade(req, socket as Socket));
    this.server.keepAliveTimeout = 2_000;
  }

  static async start(target: number, rng: Rng): Promise<LinkProxy> {
    const p = new LinkProxy(target, rng);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  setTarget(port: number): void {
    this.target = port;
  }

  /** Opens a fault window: each request meets one of `kinds` with probability `rate`. */
  flaky(rate: number, kinds: readonly LinkFault[]): void {
    this.window = { rate, kinds };
  }

  setDown(down: boolean): void {
    this.down = down;
    if (down) {
      for (const s of [...this.sockets, ...this.streams]) s.destroy();
      this.injected.down++;
    }
  }

  /** Ends every fault: the network is healthy again. */
  heal(): void {
    this.window = null;
    this.down = false;
    this.release();
  }

  async close(): Promise<void> {
    this.heal();
    for (const s of [...this.sockets, ...this.streams]) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private release(): void {
    const h = this.held;
    this.held = null;
    h?.();
  }

  private pick(): LinkFault | null {
    const w = this.window;
    if (!w || !this.rng.chance(w.rate)) return null;
    return this.rng.pick(w.kinds);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return;
    }
    const body = Buffer.concat(chunks);
    if (this.down) {
      res.socket?.destroy();
      return;
    }
    const fault = this.pick();
    if (fault) this.injected[fault]++;
    if (fault !== 'reorder') this.release();
    try {
      switch (fault) {
        case 'drop':
          res.socket?.destroy();
          return;
        case 'truncate':
          await this.forwardPart(req, body, this.rng.int(0, Math.max(0, body.length - 1)));
          res.socket?.destroy();
          return;
        case 'lose-reply':
          await this.forward(req, body);
          res.socket?.destroy();
          return;
        case 'duplicate':
          await this.forward(req, body).catch(() => undefined);
          break;
        case 'delay':
          await new Promise((r) => setTimeout(r, this.rng.int(50, 800)));
          break;
        case 'reorder':
          // Held until the next request of this link went ahead (or 500 ms).
          this.release();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              if (this.held === go) this.held = null;
              resolve();
            }, 500);
            const go = (): void => {
              clearTimeout(timer);
              // Let the overtaking request reach the cloud first.
              setTimeout(resolve, 20);
            };
            this.held = go;
          });
          break;
        default:
      }
      if (this.down) {
        res.socket?.destroy();
        return;
      }
      const up = await this.forward(req, body);
      if (this.down) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(up.status, { ...up.headers, 'content-length': String(up.body.length) });
      res.end(up.body);
    } catch {
      res.socket?.destroy();
    }
  }

  private forward(req: IncomingMessage, body: Buffer): Promise<Upstream> {
    return new Promise<Upstream>((resolve, reject) => {
      const headers = { ...req.headers, host: `127.0.0.1:${this.target}`, 'content-length': String(body.length) };
      delete headers.connection;
      const up = httpRequest({ host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers, agent: false }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('error', reject);
        r.on('end', () => {
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
          resolve({ status: r.statusCode ?? 502, headers: out, body: Buffer.concat(parts) });
        });
      });
      up.setTimeout(120_000, () => up.destroy(new Error('upstream timeout')));
      up.on('error', reject);
      up.end(body);
    });
  }

  /** Sends the head and `bytes` of the body with the full declared length, then resets. */
  private forwardPart(req: IncomingMessage, body: Buffer, bytes: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const headers = { ...req.headers, host: `127.0.0.1:${this.target}`, 'content-length': String(body.length) };
      delete headers.connection;
      const up = httpRequest({ host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers, agent: false });
      up.on('error', () => resolve());
      up.on('response', () => resolve());
      up.write(body.subarray(0, bytes), () => {
        setTimeout(() => {
          up.destroy();
          resolve();
        }, 20);
      });
    });
  }

  private onUpgrade(req: IncomingMessage, client: Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const up = connect({ host: '127.0.0.1', port: this.target });
    this.streams.add(client);
    const cut = (): void => {
      this.streams.delete(client);
      client.destroy();
      up.destroy();
    };
    client.on('error', cut).on('close', cut);
    up.on('error', cut).on('close', cut);
    up.once('connect', () => {
      const head = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!;
        head.push(`${name}: ${name.toLowerCase() === 'host' ? `127.0.0.1:${this.target}` : req.rawHeaders[i + 1]}`);
      }
      up.write(`${head.join('\r\n')}\r\n\r\n`);
      client.pipe(up);
      up.pipe(client);
    });
    // A fault window cuts a live stream now and then (a NAT timeout, a flaky Wi-Fi).
    const w = this.window;
    if (w && this.rng.chance(w.rate)) {
      const timer = setTimeout(() => {
        this.injected['stream-cut']++;
        cut();
      }, this.rng.int(100, 2_000));
      client.once('close', () => clearTimeout(timer));
    }
  }
}
