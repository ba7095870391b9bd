/**
 * Phase 1 of uploads (decode, validate, canonical check, hash: CPU only, no
 * lock) on worker threads, so it overlaps phase 2 of other batches on the main
 * thread. A worker gets a copy of the raw body and answers with the batch's
 * columns (upload-batch.ts); the bytes stored are spans of the request's own
 * body, never the worker's copy.
 *
 * Guarantees:
 * - The answer is exactly what `decodeUploadBody` gives on the main thread:
 *   the same columns, or a TillsyncError with the same code, message and
 *   details (the worker runs the same code on the same bytes).
 * - A worker that dies (crash, out of memory, terminated) loses nothing: every
 *   body it had not answered is decoded on the main thread instead, and a new
 *   worker is started for later bodies. Anything else a worker throws is
 *   redone on the main thread too, which then answers or throws for itself.
 * - `close()` terminates the workers; bodies still pending are decoded on the
 *   main thread, and so is every body after close.
 * - Workers are started on first use and never keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import { TillsyncError, type ErrorCode } from '../errors.ts';
import type { DecodeAnswer, DecodeJob } from './decode-worker.ts';
import { UploadBatch } from './upload-batch.ts';
import { decodeUploadBody } from './upload.ts';

interface Pending {
  body: Uint8Array;
  cred: { store: string; terminal: string };
  resolve(batch: UploadBatch): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Compiled (scripts/build.ts): this module is .js and so is the worker's. */
const COMPILED = import.meta.url.endsWith('.js');
const WORKER_FILE = new URL(COMPILED ? './decode-worker.js' : './decode-worker.ts', import.meta.url).href;
/**
 * Run from the TypeScript sources, the worker is plain JS that registers tsx's
 * loader, then imports the TypeScript worker (no build step); compiled, it
 * imports the compiled worker.
 */
const BOOT = COMPILED
  ? `import(${JSON.stringify(WORKER_FILE)})`
  : `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_FILE)}); })`;

/**
 * A worker's heap is its own, on top of the main thread's. Its live set is one
 * batch, so the old generation is kept small; the young generation is not (with
 * 8 MB the worker spent ~18% of its time in GC and sync-up (a) fell from ~45k to
 * ~38k ev/s). Should a worker ever run out, it dies, and its bodies are decoded inline.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 48 };

export class DecodePool {
  private readonly slots: Array<Slot | undefined>;
  private nextId = 1;
  private closed = false;
  /** Workers that died so far (tests, logs). */
  crashes = 0;

  constructor(readonly size: number) {
    this.slots = new Array<Slot | undefined>(Math.max(0, size)).fill(undefined);
  }

  /** Phase 1 of a msgpack body (see decodeUploadBody); rejects with its TillsyncError. */
  decode(body: Uint8Array, cred: { store: string; terminal: string }): Promise<UploadBatch> {
    if (this.closed || this.slots.length === 0) return Promise.resolve().then(() => decodeInline(body, cred));
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise<UploadBatch>((resolve, reject) => {
      slot.pending.set(id, { body, cred, resolve, reject });
      // A copy of exactly the body (not the rest of its ArrayBuffer), handed over without a second copy.
      const copy = new Uint8Array(body);
      try {
        slot.worker.postMessage({ id, body: copy, cred: { store: cred.store, terminal: cred.terminal } } satisfies DecodeJob, [copy.buffer]);
      } catch {
        slot.pending.delete(id);
        settleInline(body, cred, resolve, reject);
      }
    });
  }

  /** Terminates the workers; what they had not answered is decoded here. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s, i) => (s ? this.retire(i, s) : undefined)));
  }

  /** Test seam: terminates worker `index` (if started) the way a crash would end it. */
  async crash(index: number): Promise<void> {
    const s = this.slots[index];
    if (s) await s.worker.terminate();
  }

  /** Started workers (tests). */
  get started(): number {
    return this.slots.filter((s) => s !== undefined).length;
  }

  private pick(): Slot {
    let best = -1;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (!s) {
        best = i;
        break;
      }
      if (best < 0 || s.pending.size < this.slots[best]!.pending.size) best = i;
    }
    return this.slots[best] ?? this.start(best);
  }

  private start(index: number): Slot {
    const worker = new Worker(BOOT, { eval: true, resourceLimits: WORKER_LIMITS });
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    this.slots[index] = slot;
    worker.on('message', (a: DecodeAnswer) => {
      const p = slot.pending.get(a.id);
      if (!p) return;
      slot.pending.delete(a.id);
      if ('batch' in a) p.resolve(new UploadBatch(a.inBody ? { ...a.batch, data: p.body } : a.batch));
      else if ('error' in a) p.reject(new TillsyncError(a.error.code as ErrorCode, a.error.message, a.error.details ? { details: a.error.details } : {}));
      else settleInline(p.body, p.cred, p.resolve, p.reject);
    });
    // 'error' (an uncaught exception) is followed by 'exit'; a terminated worker only exits.
    worker.on('error', () => {});
    worker.on('exit', () => {
      if (this.slots[index] === slot) {
        this.slots[index] = undefined;
        if (!this.closed) this.crashes++;
      }
      this.redoInline(slot);
    });
    return slot;
  }

  private async retire(index: number, slot: Slot): Promise<void> {
    this.slots[index] = undefined;
    await slot.worker.terminate();
    this.redoInline(slot);
  }

  private redoInline(slot: Slot): void {
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of pending) settleInline(p.body, p.cred, p.resolve, p.reject);
  }
}

function decodeInline(body: Uint8Array, cred: { store: string; terminal: string }): UploadBatch {
  return new UploadBatch(decodeUploadBody(body, cred));
}

function settleInline(body: Uint8Array, cred: { store: string; terminal: string }, resolve: (b: UploadBatch) => void, reject: (e: unknown) => void): void {
  try {
    resolve(decodeInline(body, cred));
  } catch (err) {
    reject(err);
  }
}
