/**
 * A small TCP proxy for tests of several cloud processes: terminals connect to
 * the proxy, the proxy connects each accepted connection to one upstream port
 * (round robin over the upstreams currently up). `move()` cuts every open
 * connection, both sides, so the clients' next connections (their retries)
 * land on the next upstream: what a load balancer does when it rebalances or
 * an instance goes away, in the middle of whatever request was on the wire.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Cuts every open connection; new ones go to the next upstream. Answers how many were cut. */
  move(): number;
  /** Replaces the upstream ports (e.g. without one that was killed). */
  setUpstreams(ports: readonly number[]): void;
  close(): Promise<void>;
}

export async function startTcpProxy(upstreams: readonly number[]): Promise<TcpProxy> {
  let ports = [...upstreams];
  let next = 0;
  let accepted = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    if (ports.length === 0) {
      client.destroy();
      return;
    }
    const port = ports[next % ports.length]!;
    const up = connect({ host: '127.0.0.1', port });
    open.add(client);
    open.add(up);
    const cut = (): void => {
      open.delete(client);
      open.delete(up);
      client.destroy();
      up.destroy();
    };
    client.on('error', cut).on('close', cut);
    up.on('error', cut).on('close', cut);
    client.pipe(up);
    up.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    get accepted() {
      return accepted;
    },
    move() {
      next++;
      const n = open.size;
      for (const s of [...open]) s.destroy();
      open.clear();
      return n;
    },
    setUpstreams(p) {
      ports = [...p];
    },
    close() {
      for (const s of [...open]) s.destroy();
      open.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
