/**
 * Keeps the WebSocket subscription (/v1/stream) up while allowed, reconnecting
 * with backoff. A refusal (401/403 on upgrade or close) is reported and not
 * retried until `reconnectNow()`; while `allowed()` is false (local mode, a
 * revoked credential) no socket is opened.
 *
 * An open socket that closes by itself (the cloud died, a connection reset,
 * a half-open stream dropped by its idle timer) is reported through `onLost()`
 * at once, before the reconnect is scheduled: the stream is the terminal's
 * first sign that the cloud is gone, and the worker probes on it (F4).
 * `retrySoon()` skips a pending reconnect wait, for when some other exchange
 * just showed the cloud is back.
 */
import type { Backoff } from './backoff.ts';
import type { CloudError } from './cloud-error.ts';
import type { ServerMessage } from './protocol.ts';
import type { TimerHandle, Timers } from './timers.ts';
import type { CloudTransport, Subscription } from './transport.ts';

export interface StreamLinkOptions {
  transport: CloudTransport;
  timers: Timers;
  backoff: Backoff;
  allowed(): boolean;
  onMessage(msg: ServerMessage): void;
  onConnected(connected: boolean): void;
  onRefusal(err: CloudError): void;
  /** An open socket closed without a refusal and without us closing it. */
  onLost?(err: CloudError | undefined): void;
}

export class StreamLink {
  private sub: Subscription | undefined;
  private timer: TimerHandle | undefined;
  private running = false;
  private refused = false;

  constructor(private readonly opts: StreamLinkOptions) {}

  start(): void {
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    this.drop();
  }

  /** Drops the current socket (if any) and connects again at once. */
  reconnectNow(): void {
    this.refused = false;
    this.opts.backoff.reset();
    this.drop();
    if (this.running) this.connect();
  }

  /** If a reconnect is waiting on its backoff timer, connects now (the cloud answered elsewhere). */
  retrySoon(): void {
    if (this.timer === undefined || this.refused || !this.running) return;
    this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.opts.backoff.reset();
    this.connect();
  }

  private drop(): void {
    if (this.timer !== undefined) this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sub) {
      this.sub.close();
      this.sub = undefined;
      this.opts.onConnected(false);
    }
  }

  private connect(): void {
    if (!this.running || this.refused || this.sub || this.timer !== undefined || !this.opts.allowed()) return;
    let opened = false;
    const sub = this.opts.transport.subscribe({
      onOpen: () => {
        if (this.sub !== sub) return;
        opened = true;
        this.opts.backoff.reset();
        this.opts.onConnected(true);
      },
      onMessage: (msg) => {
        if (this.sub === sub) this.opts.onMessage(msg);
      },
      onClose: ({ error }) => {
        if (this.sub !== sub) return;
        this.sub = undefined;
        this.opts.onConnected(false);
        if (error?.kind === 'refusal') {
          this.refused = true;
          this.opts.onRefusal(error);
          return;
        }
        if (!this.running) return;
        if (opened) this.opts.onLost?.(error);
        if (!this.running || this.sub !== undefined || this.timer !== undefined) return;
        this.timer = this.opts.timers.setTimeout(() => {
          this.timer = undefined;
          this.connect();
        }, this.opts.backoff.next());
      },
    });
    this.sub = sub;
  }
}
