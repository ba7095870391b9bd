/**
 * WebSocket `/api/status/stream` on the terminal agent: pushes the whole status
 * (JSON text frame) on connect and after every change, coalesced to at most one
 * frame per `minIntervalMs`. Clients send nothing; any frame from a client or an
 * oversized one closes the socket. Dead peers are found by ping/pong.
 *
 * The upgrade is a fastify route (`statusStreamRoutes`, @fastify/websocket:
 * http/websocket.ts), so it passes the agent's onRequest hook like any /api
 * request: Host, Origin and the caller (access-control.ts). A refused upgrade
 * is answered with the same `{error:{code,message}}` body and status as any
 * HTTP refusal, by the app's error handler.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import { notAnUpgrade } from '../http/websocket.ts';

export const STATUS_STREAM_PATH = '/api/status/stream';
/** Largest frame a client may send (it sends none): past it ws closes with 1009. */
export const STATUS_STREAM_MAX_PAYLOAD = 1024;

export class StatusStream {
  private readonly peers = new Map<WebSocket, { alive: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly snapshot: () => unknown, private readonly minIntervalMs = 100) {
    this.heartbeat = setInterval(() => {
      for (const [ws, peer] of this.peers) {
        if (!peer.alive) {
          ws.terminate();
          continue;
        }
        peer.alive = false;
        ws.ping();
      }
    }, 15_000);
    this.heartbeat.unref();
  }

  /** An upgraded socket of an allowed caller: sent the status now and on every change. */
  accept(ws: WebSocket): void {
    const peer = { alive: true };
    this.peers.set(ws, peer);
    ws.on('pong', () => { peer.alive = true; });
    ws.on('message', () => ws.close(4400, 'clients send nothing on this stream'));
    ws.on('close', () => this.peers.delete(ws));
    ws.on('error', () => this.peers.delete(ws));
    ws.send(JSON.stringify({ type: 'status', status: this.snapshot() }));
  }

  /** Something changed: push soon (coalesced). */
  changed(): void {
    if (this.timer || this.peers.size === 0) return;
    const wait = Math.max(0, this.last + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.last = Date.now();
      const frame = JSON.stringify({ type: 'status', status: this.snapshot() });
      for (const ws of this.peers.keys()) if (ws.readyState === ws.OPEN) ws.send(frame);
    }, wait);
  }

  close(): void {
    clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    for (const ws of this.peers.keys()) ws.terminate();
    this.peers.clear();
  }
}

/** GET /api/status/stream: the upgrade joins the stream; a plain GET is answered with a clear error. */
export const statusStreamRoutes: FastifyPluginAsync<{ stream: StatusStream }> = async (app, { stream }) => {
  app.route({
    method: 'GET',
    url: STATUS_STREAM_PATH,
    config: { websocket: true },
    schema: { summary: 'WebSocket: the status, pushed on connect and on every change', tags: ['sync-manager'] },
    wsHandler: (socket) => stream.accept(socket),
    handler: async () => {
      throw notAnUpgrade(STATUS_STREAM_PATH);
    },
  });
};
