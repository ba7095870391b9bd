/**
 * WebSocket `/v1/stream`: the cloud tells connected terminals "new feed data up
 * to cursor N" and "open exceptions: N". Server → client JSON text frames only
 * (`serverMessage` in protocol.ts); any frame from the client is a protocol
 * error (closed with 4400), an oversized one is closed by ws with 1009.
 *
 * The route is app.ts's, through @fastify/websocket (http/websocket.ts): the
 * upgrade passes the app's onRequest auth hook, which checks the terminal's
 * bearer token like any request's. A refused upgrade still completes the
 * handshake and is then closed with 4401 (4403 for the admin token, 1013
 * RATE_LIMITED past the rate limit), so a client sees a stable close code
 * instead of a bare HTTP failure: the hook hands its refusal to `accept`.
 *
 * Feed notifications are coalesced per store: the first goes out at once, later
 * ones at most every `feedNotifyMs`, carrying the latest head. While uploads
 * commit many batches a second, each terminal then fetches the feed a few times
 * a second in larger pages instead of once per commit (with 50 terminals
 * uploading at once, their feed fetches were most of the load). No head is
 * lost: the last one of a burst is always sent.
 *
 * Connections per credential are capped (`maxPerCredential`, default 4: a
 * terminal needs one; the rest cover reconnects while a dead socket still
 * waits for its heartbeat): one more is closed right after the handshake with
 * 1013 "try again later" and reason CLOUD_BUSY, and the client reconnects with
 * its backoff.
 *
 * Heartbeat: every `heartbeatMs` each socket is pinged; one that has not
 * answered any ping for MISSED_BEATS beats in a row is terminated (a half-open
 * TCP connection never answers), so a dead socket goes within 2–3 beats. One
 * missed beat is forgiven because the server's own loop may have been blocked
 * past a beat (GC, a starved CPU): the next beat then fires before the client
 * has even read the ping, and its pong can only arrive a poll or two later. The
 * verdict also waits for the next I/O poll (setImmediate), so a pong that has
 * already arrived is read first (timers run before pending I/O).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { notAnUpgrade } from '../http/websocket.ts';
import { TERMINAL_SECURITY } from './openapi.ts';
import { isTillsyncError } from '../errors.ts';
import { PROTOCOL_VERSION, WS_CLOSE, type ServerMessage } from '../replication/protocol.ts';
import type { CloudStorage, CredentialRecord } from './storage.ts';
import type { Notifier } from './store-tx.ts';

/** Beats in a row without a pong before a socket is terminated (see the heartbeat note). */
const MISSED_BEATS = 2;

interface Peer {
  ws: WebSocket;
  store: string;
  terminal: string;
  alive: boolean;
  /** Beats in a row that found no pong since the ping before. */
  missed: number;
}

export const STREAM_PATH = '/v1/stream';
/** Default cap of open streams per terminal credential. */
export const MAX_STREAMS_PER_CREDENTIAL = 4;
/** WebSocket close code "try again later" (RFC 6455 registry). */
const TRY_AGAIN_LATER = 1013;

/** What the auth hook found on an upgrade: the credential, or why it was refused. */
export type StreamAuth = { cred: CredentialRecord } | { refused: unknown };

export class StreamHub implements Notifier {
  private readonly peers = new Set<Peer>();
  private readonly timer: NodeJS.Timeout;
  /** Per store: when the last feed notification went out, and the head waiting for the next. */
  private readonly feedNotes = new Map<string, { sentAt: number; pending: number | undefined; timer: NodeJS.Timeout | undefined }>();
  /**
   * Per store: the highest feed head and the latest open-exception count told to
   * its streams (with a version that counts the tellings). A stream's greeting
   * reads the counters first and sends them after: a commit told in between
   * must not be followed by the older count (the terminal would keep it).
   */
  private readonly told = new Map<string, { head: number; open: number; version: number }>();

  constructor(
    private readonly storage: CloudStorage,
    heartbeatMs: number,
    private readonly feedNotifyMs = 0,
    private readonly maxPerCredential = MAX_STREAMS_PER_CREDENTIAL,
  ) {
    this.timer = setInterval(() => this.heartbeat(), heartbeatMs);
    this.timer.unref();
  }

  get connections(): number {
    return this.peers.size;
  }

  /** An upgraded socket: greeted and kept, or closed with the code of its refusal. */
  async accept(ws: WebSocket, auth: StreamAuth): Promise<void> {
    if ('refused' in auth) {
      const err = auth.refused;
      if (isTillsyncError(err, 'RATE_LIMITED')) {
        ws.close(TRY_AGAIN_LATER, 'RATE_LIMITED');
        return;
      }
      const code = isTillsyncError(err, 'FORBIDDEN') ? WS_CLOSE.forbidden : WS_CLOSE.unauthorized;
      ws.close(code, isTillsyncError(err) ? err.code : 'UNAUTHORIZED');
      return;
    }
    const { cred } = auth;
    let open = 0;
    for (const p of this.peers) if (p.store === cred.store && p.terminal === cred.terminal) open++;
    if (open >= this.maxPerCredential) {
      ws.close(TRY_AGAIN_LATER, 'CLOUD_BUSY');
      return;
    }
    const peer: Peer = { ws, store: cred.store, terminal: cred.terminal, alive: true, missed: 0 };
    this.peers.add(peer);
    ws.on('pong', () => {
      peer.alive = true;
      peer.missed = 0;
    });
    ws.on('message', () => ws.close(WS_CLOSE.badFrame, 'VALIDATION_FAILED'));
    ws.on('close', () => this.peers.delete(peer));
    try {
      const before = this.told.get(cred.store)?.version ?? 0;
      const counters = await this.storage.getCounters(cred.store);
      const since = this.told.get(cred.store);
      const newer = since !== undefined && since.version !== before;
      this.sendTo(peer, { type: 'hello', v: PROTOCOL_VERSION, feedHead: Math.max(counters.feedHead, since?.head ?? 0) });
      this.sendTo(peer, { type: 'exceptions', open: newer ? since.open : counters.openExceptions });
    } catch {
      ws.close(1011, 'STORAGE_FAILED');
    }
  }

  /** Open streams of one terminal (the dashboard shows a connected one as live). */
  streamsOf(store: string, terminal: string): number {
    let n = 0;
    for (const p of this.peers) if (p.store === store && p.terminal === terminal) n++;
    return n;
  }

  private sendTo(peer: Peer, msg: ServerMessage): void {
    if (peer.ws.readyState === peer.ws.OPEN) peer.ws.send(JSON.stringify(msg));
  }

  private broadcast(store: string, msg: ServerMessage): void {
    for (const p of this.peers) if (p.store === store) this.sendTo(p, msg);
  }

  private tell(store: string, what: { head?: number; open?: number }): void {
    const t = this.told.get(store) ?? { head: 0, open: 0, version: 0 };
    this.told.set(store, {
      head: Math.max(t.head, what.head ?? 0),
      open: what.open ?? t.open,
      version: what.open === undefined ? t.version : t.version + 1,
    });
  }

  feed(store: string, head: number): void {
    this.tell(store, { head });
    if (this.feedNotifyMs <= 0) return this.broadcast(store, { type: 'feed', head });
    const now = performance.now();
    let note = this.feedNotes.get(store);
    if (!note) this.feedNotes.set(store, (note = { sentAt: -Infinity, pending: undefined, timer: undefined }));
    if (note.timer === undefined && now - note.sentAt >= this.feedNotifyMs) {
      note.sentAt = now;
      return this.broadcast(store, { type: 'feed', head });
    }
    note.pending = Math.max(note.pending ?? 0, head);
    if (note.timer !== undefined) return;
    const n = note;
    n.timer = setTimeout(() => {
      n.timer = undefined;
      n.sentAt = performance.now();
      const h = n.pending!;
      n.pending = undefined;
      this.broadcast(store, { type: 'feed', head: h });
    }, Math.max(0, this.feedNotifyMs - (now - n.sentAt)));
    n.timer.unref();
  }

  exceptions(store: string, open: number): void {
    this.tell(store, { open });
    this.broadcast(store, { type: 'exceptions', open });
  }

  credentialRevoked(store: string, terminal: string): void {
    for (const p of this.peers) {
      if (p.store === store && p.terminal === terminal) p.ws.close(WS_CLOSE.unauthorized, 'CREDENTIAL_REVOKED');
    }
  }

  private heartbeat(): void {
    const silent: Peer[] = [];
    for (const p of this.peers) {
      if (p.alive) p.missed = 0;
      else if (++p.missed >= MISSED_BEATS) {
        silent.push(p);
        continue;
      }
      p.alive = false;
      p.ws.ping();
    }
    if (silent.length > 0) setImmediate(() => this.cut(silent));
  }

  /** Terminates the peers that still have not answered (see the heartbeat note above). */
  private cut(silent: Peer[]): void {
    for (const p of silent) {
      if (p.alive || !this.peers.has(p)) continue;
      p.ws.terminate();
      this.peers.delete(p);
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const n of this.feedNotes.values()) clearTimeout(n.timer);
    this.feedNotes.clear();
    for (const p of this.peers) p.ws.close(1001, 'SHUTTING_DOWN');
    for (const p of this.peers) p.ws.terminate();
    this.peers.clear();
  }
}

/**
 * GET /v1/stream: the upgrade goes to the hub with what the auth hook found;
 * a plain GET (no Upgrade header) is answered, after auth, with a clear error.
 */
export const streamRoutes: FastifyPluginAsync<{ hub: StreamHub; auth: (req: FastifyRequest) => StreamAuth }> = async (app, { hub, auth }) => {
  app.route({
    method: 'GET',
    url: STREAM_PATH,
    config: { auth: 'terminal', websocket: true },
    schema: { summary: 'WebSocket: feed heads and open-exception counts (stream.ts)', tags: ['sync'], security: TERMINAL_SECURITY },
    wsHandler: (socket, req) => hub.accept(socket, auth(req)),
    handler: async () => {
      throw notAnUpgrade(STREAM_PATH);
    },
  });
};
