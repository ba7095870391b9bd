// An in-memory CloudTransport that behaves like the cloud's upload contract
// (gapless seqs, duplicates, SEQ_GAP with expectedSeq) and records every call.
// Tests can hold answers, inject failures, and reorder replies.
import { decodeTrusted } from '../../../src/events/codec.ts';
import type { Change, TillEvent } from '../../../src/events/event-types.ts';
import { CloudError } from '../../../src/replication/cloud-error.ts';
import type { FeedPage, ServerMessage, SyncState, UploadResponse } from '../../../src/replication/protocol.ts';
import type { CheckEntry, CloudTransport, RequestOptions, StreamHandlers, Subscription } from '../../../src/replication/transport.ts';

export type Call =
  | { op: 'upload'; from: number; to: number; count: number }
  | { op: 'check'; count: number }
  | { op: 'feed'; since: number; limit: number }
  | { op: 'syncState' }
  | { op: 'subscribe' };

type Fault = () => CloudError;

export class FakeCloud implements CloudTransport {
  readonly calls: Call[] = [];
  /** seq → canonical bytes the cloud stored. */
  readonly stored = new Map<number, Uint8Array>();
  ackSeq = 0;
  token = 'tok-1';
  validTokens = new Set(['tok-1']);
  feedChanges: Change[] = [];
  openExceptions = 0;
  /** Faults thrown by the next calls of an op, in order. */
  private faults: Record<string, Fault[]> = {};
  /**
   * When set, the cloud stores each batch as it arrives (in order) but its answer
   * is delivered only on `release()`, in any order the test likes.
   */
  holdUploads = false;
  readonly held: Array<{ from: number; to: number; release: () => void; fail: (e: CloudError) => void }> = [];
  /** When set, uploads never answer; they only end by abort. */
  hang = false;
  /** The next this many feed calls never answer; they only end by abort (a request lost in a dropped network). */
  hangFeeds = 0;
  subscribers: StreamHandlers[] = [];

  private auth(): void {
    if (!this.validTokens.has(this.token)) {
      throw new CloudError('CREDENTIAL_REVOKED', 'revoked', { kind: 'refusal', httpStatus: 401, remoteCode: 'CREDENTIAL_REVOKED' });
    }
  }

  failNext(op: Call['op'], ...faults: Fault[]): void {
    (this.faults[op] ??= []).push(...faults);
  }

  /** The cloud is back: no more injected faults. */
  clearFaults(): void {
    this.faults = {};
  }

  private fault(op: Call['op']): void {
    const f = this.faults[op]?.shift();
    if (f) throw f();
  }

  count(op: Call['op']): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  setCredential(token: string): void {
    this.token = token;
  }

  async upload(events: readonly Uint8Array[], opts: RequestOptions = {}): Promise<UploadResponse> {
    const seqs = events.map((b) => decodeTrusted<TillEvent>(b).seq);
    const from = seqs[0]!;
    const to = seqs[seqs.length - 1]!;
    this.calls.push({ op: 'upload', from, to, count: events.length });
    await tick();
    if (opts.signal?.aborted) throw aborted();
    if (this.hang) return new Promise((_, reject) => opts.signal?.addEventListener('abort', () => reject(aborted()), { once: true }));
    let answer: () => UploadResponse;
    try {
      this.auth();
      this.fault('upload');
      const r = this.store(events, seqs);
      answer = () => r;
    } catch (err) {
      answer = () => { throw err; };
    }
    if (this.holdUploads) {
      await new Promise<void>((resolve, reject) => {
        this.held.push({ from, to, release: resolve, fail: reject });
        opts.signal?.addEventListener('abort', () => reject(aborted()), { once: true });
      });
    }
    return answer();
  }

  /** The cloud's batch logic: all or nothing, gapless. */
  store(events: readonly Uint8Array[], seqs: number[]): UploadResponse {
    let accepted = 0;
    let duplicates = 0;
    let next = this.ackSeq;
    for (let i = 0; i < events.length; i++) {
      const seq = seqs[i]!;
      if (seq <= next) {
        duplicates++;
        continue;
      }
      if (seq !== next + 1) {
        throw new CloudError('SEQ_GAP', 'gap', { kind: 'gap', expectedSeq: next + 1, httpStatus: 409, remoteCode: 'SEQ_GAP' });
      }
      next = seq;
      accepted++;
    }
    for (let i = 0; i < events.length; i++) if (seqs[i]! > this.ackSeq) this.stored.set(seqs[i]!, events[i]!);
    this.ackSeq = next;
    return { ackSeq: this.ackSeq, accepted, duplicates, quarantined: 0, conflicts: [] };
  }

  async check(events: readonly CheckEntry[]): Promise<{ have: number; lack: number; different: number; differentSeqs: number[] }> {
    this.calls.push({ op: 'check', count: events.length });
    await tick();
    return { have: 0, lack: events.length, different: 0, differentSeqs: [] };
  }

  async feed(since: number, limit: number, opts: RequestOptions = {}): Promise<FeedPage> {
    this.calls.push({ op: 'feed', since, limit });
    await tick();
    if (opts.signal?.aborted) throw aborted();
    if (this.hangFeeds > 0) {
      this.hangFeeds--;
      return new Promise((_, reject) => opts.signal?.addEventListener('abort', () => reject(aborted()), { once: true }));
    }
    this.auth();
    this.fault('feed');
    const changes = this.feedChanges.filter((c) => c.cursor > since).slice(0, limit);
    const head = this.feedChanges.at(-1)?.cursor ?? 0;
    return { changes, cursor: changes.at(-1)?.cursor ?? since, head };
  }

  async syncState(opts: RequestOptions = {}): Promise<SyncState> {
    this.calls.push({ op: 'syncState' });
    await tick();
    if (opts.signal?.aborted) throw aborted();
    this.auth();
    this.fault('syncState');
    return {
      store: 's1', terminal: 't1', ackSeq: this.ackSeq,
      feedHead: this.feedChanges.at(-1)?.cursor ?? 0, openExceptions: this.openExceptions, quarantined: 0,
    };
  }

  subscribe(handlers: StreamHandlers): Subscription {
    this.calls.push({ op: 'subscribe' });
    let open = true;
    setImmediate(() => {
      if (!open) return;
      const fault = this.faults.subscribe?.shift();
      if (fault) {
        open = false;
        handlers.onClose?.({ code: 1006, reason: 'unreachable', error: fault() });
        return;
      }
      if (!this.validTokens.has(this.token)) {
        open = false;
        handlers.onClose?.({ code: 4401, reason: 'CREDENTIAL_REVOKED', error: new CloudError('CREDENTIAL_REVOKED', 'revoked', { kind: 'refusal' }) });
        return;
      }
      this.subscribers.push(handlers);
      handlers.onOpen?.();
      handlers.onMessage({ type: 'hello', v: 1, feedHead: this.feedChanges.at(-1)?.cursor ?? 0 });
    });
    return {
      close: () => {
        open = false;
        this.subscribers = this.subscribers.filter((h) => h !== handlers);
      },
    };
  }

  /** The cloud went away: every open stream closes (as a dead cloud's sockets do). */
  dropStreams(): void {
    const subs = this.subscribers.splice(0);
    for (const s of subs) s.onClose?.({ code: 1006, reason: 'gone', error: offline() });
  }

  push(msg: ServerMessage): void {
    for (const s of this.subscribers) s.onMessage(msg);
  }
}

export const offline = (): CloudError =>
  new CloudError('CLOUD_UNREACHABLE', 'connect ECONNREFUSED', { kind: 'retry', details: { reason: 'network' } });
export const serverError = (): CloudError =>
  new CloudError('INTERNAL_ERROR', 'boom', { kind: 'retry', httpStatus: 500, remoteCode: 'INTERNAL_ERROR' });
export const forbidden = (): CloudError =>
  new CloudError('FORBIDDEN', 'no', { kind: 'refusal', httpStatus: 403, remoteCode: 'FORBIDDEN' });

function aborted(): CloudError {
  return new CloudError('SYNC_ABORTED', 'aborted', { kind: 'aborted' });
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
