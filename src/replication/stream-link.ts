/**
 * Keeps the WebSocket subscription (/v1/stream) up while allowed, reconnecting
 * with backoff. A refusal (401/403 on upgrade or close) is reported and not
 * retried until `reconnectNow()`; while `allowed()` is false (local mode, a
 * revoked credential) no socket is opened.
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
    const sub = this.opts.transport.subscribe({
      onOpen: () => {
        if (this.sub !== sub) return;
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
        this.timer = this.opts.timers.setTimeout(() => {
          this.timer = undefined;
          this.connect();
        }, this.opts.backoff.next());
      },
    });
    this.sub = sub;
  }
}
