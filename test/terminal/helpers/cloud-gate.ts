/**
 * An HTTP forwarder on 127.0.0.1 between a terminal agent and the real cloud,
 * for maintenance tests: it passes every request (and the WebSocket upgrade)
 * through unchanged, except that it can refuse chosen routes, as a cloud that
 * goes away half-way through an operation would. `down` refuses everything.
 */
import http from 'node:http';
import net from 'node:net';

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
