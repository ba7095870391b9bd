/**
 * WebSocket `/api/status/stream` on the terminal agent: pushes the whole status
 * (JSON text frame) on connect and after every change, coalesced to at most one
 * frame per `minIntervalMs`. Clients send nothing; any frame from a client or an
 * oversized one closes the socket. Dead peers are found by ping/pong.
 *
 * The agent checks Host, Origin and the caller (access-control.ts) before it
 * hands an upgrade here; a refused upgrade is answered by `refuseUpgrade` with
 * the same `{error:{code,message}}` body and status as any HTTP refusal.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TillsyncError } from '../errors.ts';
import { rawErrorResponse } from '../http/error-contract.ts';

export const STATUS_STREAM_PATH = '/api/status/stream';

/** Answers a refused upgrade with the error as JSON and closes the socket. */
export function refuseUpgrade(socket: Duplex, err: TillsyncError): void {
  const body = JSON.stringify({ error: { code: err.code, message: err.message } });
  socket.end(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Refused'}\r\nContent-Type: application/json; charset=utf-8\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export class StatusStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false });
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

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== STATUS_STREAM_PATH) {
      socket.end(rawErrorResponse('NOT_FOUND', 'no WebSocket endpoint at this path'));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const peer = { alive: true };
      this.peers.set(ws, peer);
      ws.on('pong', () => { peer.alive = true; });
      ws.on('message', () => ws.close(4400, 'clients send nothing on this stream'));
      ws.on('close', () => this.peers.delete(ws));
      ws.on('error', () => this.peers.delete(ws));
      ws.send(JSON.stringify({ type: 'status', status: this.snapshot() }));
    });
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
    this.wss.close();
  }
}
