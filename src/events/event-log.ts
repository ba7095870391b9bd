/**
 * The terminal's append-only event log on LevelDB.
 *
 * Guarantees:
 * - Ordering: events get a per-terminal gapless `seq` (1, 2, 3, ...) in the order
 *   their append groups reach the single writer. Each event's `prev` is the
 *   SHA-256 of the previous event's canonical bytes (GENESIS_HASH for seq 1, or
 *   the retained base after cleanup).
 * - Atomicity: one `append(drafts)` call is one group: all of its events land or
 *   none do. The events, every view change they cause (through the
 *   `CommitParticipant`), the head and any cursor or meta change are written in
 *   ONE LevelDB batch across sublevels.
 * - Durability: a promise resolves only after the batch holding it was written
 *   with `sync: true` (fsync). Group commit: groups arriving while a write is in
 *   flight are written together in the next single batch. The one exception is
 *   a batch of downloaded feed pages alone (`applyChanges`): it is not synced,
 *   as the cloud still has it; a power cut may undo it (page and cursor
 *   together), a process crash does not.
 * - Isolation of refusals: a group refused by validation or by the participant's
 *   business check is rejected alone; other groups in the same batch commit.
 *   A refused group changes nothing, on disk or in memory.
 * - Crash: a kill at any moment leaves either the whole batch or none of it
 *   (LevelDB's write-ahead log). On open the tail of the log is verified (seq
 *   continuity, hash chain, head record present); `verify({ full: true })` checks
 *   everything. Any mismatch puts the log in the `corrupted` state: reads still
 *   work, appends are refused with LOG_CORRUPTED; nothing is ever skipped.
 * - A missing key reads as `undefined`, not an error.
 */
import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { ClassicLevel } from 'classic-level';
import { TillsyncError, type ErrorCode } from '../errors.ts';
import { decodeTrusted, encodeCanonical, GENESIS_HASH, sha256Hex } from './codec.ts';
import type { Change, EventDraft, TillEvent } from './event-types.ts';
import { EVENT_SCHEMA_VERSION } from './event-types.ts';
import { parseChange, parseDraft } from './validate.ts';
import { BIG_READS, droppedOnOpen, openLevel, sealWriteAheadLog, seqKey, SYNC, type Bytes, type LevelDb, type Sublevel } from './level-util.ts';
import { HeadRecord } from './head-record.ts';

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** The part of a chained batch a participant may use. */
export interface BatchWriter {
  put(sublevel: Sublevel, key: string, value: Bytes): void;
  del(sublevel: Sublevel, key: string): void;
}

/**
 * Something whose state changes atomically with the log (the projections).
 * Calls for one commit: for each group `prepare(drafts)` (awaited when it returns a
 * promise: loads what staging will read), `mark()`, then `stageEvents` / `stageChanges`
 * (may throw to refuse the group, after which `rollbackTo(mark)` is called),
 * then once `flushInto(batch)`, then `committed()` or, if the write failed, `aborted()`.
 */
export interface CommitParticipant {
  prepare?(drafts: readonly EventDraft[]): Promise<void> | undefined;
  mark(): number;
  rollbackTo(mark: number): void;
  stageEvents(events: readonly TillEvent[]): void;
  stageChanges(changes: readonly Change[]): void;
  flushInto(batch: BatchWriter): void;
  committed(): void;
  aborted(): void;
}

export interface LoggedEvent {
  seq: number;
  hash: string;
  bytes: Uint8Array;
  event: TillEvent;
}

export interface AppendOptions {
  /** Runs in the writer before the group is staged (state as of the previous group); throw to refuse. */
  before?: () => void;
  /** Runs in the writer after the group's events were staged; throw to refuse the group. */
  check?: () => void;
}

export interface LogHead {
  seq: number;
  hash: string;
}

/**
 * `corrupted`: appends are refused (a failed verification, or a refusal for a
 * lost or stale history). `disk-full`: the last write failed for lack of disk
 * space (nothing of it was acknowledged); it clears by itself with the next
 * write that succeeds.
 */
export type LogHealth =
  | { state: 'ok' }
  | { state: 'corrupted'; seq: number; reason: string; code?: ErrorCode; details?: Record<string, unknown> }
  | { state: 'disk-full'; since: number };

/**
 * Why appends are refused although every stored record verifies: acknowledged
 * events are missing (the head went backwards) or the cloud holds more of this
 * terminal's history than the log (a restored backup). Only a recovery
 * (`restoreEvents` / `truncateAfter`, then `clearRefusal`) lifts it.
 */
export interface LogRefusal {
  code: 'LOG_CORRUPTED' | 'LOG_BEHIND_CLOUD';
  seq: number;
  reason: string;
  details: Record<string, unknown>;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  from: number;
  to: number;
  problem?: { seq: number; reason: string };
}

type Work =
  | { kind: 'events'; drafts: EventDraft[]; opts: AppendOptions; resolve: (e: LoggedEvent[]) => void; reject: (e: unknown) => void }
  | { kind: 'changes'; changes: Change[]; cursor: number; resolve: (v: void) => void; reject: (e: unknown) => void }
  | { kind: 'meta'; entries: Record<string, unknown>; resolve: (v: void) => void; reject: (e: unknown) => void }
  | { kind: 'restored'; records: Uint8Array[]; resolve: (e: LoggedEvent[]) => void; reject: (e: unknown) => void }
  | { kind: 'exclusive'; fn: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

const MAX_GROUPS_PER_BATCH = 2048;
const TAIL_VERIFY = 1024;

const NO_PARTICIPANT: CommitParticipant = {
  mark: () => 0, rollbackTo: () => {}, stageEvents: () => {}, stageChanges: () => {},
  flushInto: () => {}, committed: () => {}, aborted: () => {},
};

export interface EventLogOptions {
  store: string;
  terminal: string;
  clock?: Clock;
  participant?: CommitParticipant;
  /** Tail length verified on open (default 1024); `Infinity` verifies everything. */
  verifyOnOpen?: number;
  /**
   * Benchmarks only (bench/head-record.ts measures its cost): `false` keeps no
   * head record, so a lost write-ahead-log tail goes unnoticed. Never in a terminal.
   */
  headRecord?: boolean;
}

export class EventLog {
  readonly store: string;
  readonly terminal: string;
  readonly db: LevelDb;
  readonly logDb: Sublevel;
  readonly metaDb: Sublevel;
  readonly changeDb: Sublevel;
  private participant: CommitParticipant;
  private readonly clock: Clock;
  private readonly ulid = monotonicFactory(pooledRandom());
  private headState: LogHead = { seq: 0, hash: GENESIS_HASH };
  private baseState: LogHead = { seq: 0, hash: GENESIS_HASH };
  private feedCursorState = 0;
  private healthState: Exclude<LogHealth, { state: 'disk-full' }> = { state: 'ok' };
  /** A write failed: the write-ahead log may end in a torn record (see sealWriteAheadLog). */
  private walSuspect = false;
  private refusal: LogRefusal | undefined;
  private headRecord: HeadRecord | undefined;
  /** What LevelDB logged as skipped while opening (see droppedOnOpen). */
  private droppedLines: string[] = [];
  /** Since when writes fail with DISK_FULL (undefined: the last write succeeded). */
  private diskFullSince: number | undefined;
  private queue: Work[] = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private metaCache = new Map<string, unknown>();
  private readonly commitListeners = new Set<(head: LogHead) => void>();

  private constructor(db: LevelDb, opts: EventLogOptions) {
    this.db = db;
    this.store = opts.store;
    this.terminal = opts.terminal;
    this.clock = opts.clock ?? systemClock;
    this.participant = opts.participant ?? NO_PARTICIPANT;
    this.logDb = db.sublevel('log', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    this.metaDb = db.sublevel('meta', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    this.changeDb = db.sublevel('changes', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
  }

  /** Opens (creating if needed) the log in `location`, bound to one store and terminal. */
  static async open(location: string | ClassicLevel<string, Bytes>, opts: EventLogOptions): Promise<EventLog> {
    const db = typeof location === 'string' ? await openLevel(location) : location;
    const log = new EventLog(db, opts);
    await log.load(opts.verifyOnOpen ?? TAIL_VERIFY);
    if (opts.headRecord !== false) await log.checkDurability();
    return log;
  }

  /** Called after every successful commit (events, changes or meta). Returns an unsubscribe function. */
  onCommit(fn: (head: LogHead) => void): () => void {
    this.commitListeners.add(fn);
    return () => this.commitListeners.delete(fn);
  }

  /**
   * Writes meta entries at once (synced), bypassing the writer queue. Only for
   * use inside `exclusive`, where queueing through the writer would deadlock.
   */
  async putMetaNow(entries: Record<string, unknown>): Promise<void> {
    const batch = this.db.batch();
    for (const [k, v] of Object.entries(entries)) {
      if (v === undefined) batch.del(this.metaDb.prefix + k);
      else batch.put(this.metaDb.prefix + k, encodeCanonical(v));
    }
    await batch.write({ sync: true });
    for (const [k, v] of Object.entries(entries)) this.metaCache.set(k, v);
    if ('feedCursor' in entries) this.feedCursorState = typeof entries.feedCursor === 'number' ? entries.feedCursor : 0;
  }

  /** Deletes every stored downstream change (full resync). Only inside `exclusive`. */
  async clearChanges(): Promise<void> {
    await this.changeDb.clear();
  }

  /** Attach the projections (once, before the first write). */
  setParticipant(p: CommitParticipant): void {
    this.participant = p;
  }

  get head(): LogHead {
    return { ...this.headState };
  }
  /** The seq before the first retained event (0 until cleanup removes a prefix) and its hash. */
  get base(): LogHead {
    return { ...this.baseState };
  }
  get feedCursor(): number {
    return this.feedCursorState;
  }
  /** Corruption first (appends refused), then a full disk (writes failing now), else ok. */
  get health(): LogHealth {
    if (this.healthState.state === 'corrupted') return this.healthState;
    if (this.healthState.state === 'ok' && this.refusal) {
      const r = this.refusal;
      return { state: 'corrupted', seq: r.seq, reason: r.reason, code: r.code, details: r.details };
    }
    if (this.diskFullSince !== undefined) return { state: 'disk-full', since: this.diskFullSince };
    return this.healthState;
  }
  /** Set while appends are refused for a lost or stale history (see LogRefusal). */
  get refused(): LogRefusal | undefined {
    return this.refusal ? { ...this.refusal, details: { ...this.refusal.details } } : undefined;
  }
  /** Lines LevelDB logged as skipped data while this log was opened (empty when none). */
  get droppedOnOpen(): readonly string[] {
    return this.droppedLines;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  private async load(verifyTail: number): Promise<void> {
    const identity = await this.readMeta<{ store: string; terminal: string }>('identity');
    if (identity && (identity.store !== this.store || identity.terminal !== this.terminal)) {
      throw new TillsyncError('WRONG_STORE', `data folder belongs to ${identity.store}/${identity.terminal}`, {
        details: { expected: { store: this.store, terminal: this.terminal }, found: identity },
      });
    }
    if (!identity) await this.metaDb.put('identity', encodeCanonical({ store: this.store, terminal: this.terminal }), SYNC);
    this.headState = (await this.readMeta<LogHead>('head')) ?? { seq: 0, hash: GENESIS_HASH };
    this.baseState = (await this.readMeta<LogHead>('base')) ?? { seq: 0, hash: GENESIS_HASH };
    this.feedCursorState = (await this.readMeta<number>('feedCursor')) ?? 0;
    const report = await this.verify({ from: Math.max(this.baseState.seq + 1, this.headState.seq - verifyTail + 1) });
    // A record past the head would mean a write that the head does not account for.
    const beyond = await this.logDb.get(seqKey(this.headState.seq + 1));
    if (beyond !== undefined && report.ok) {
      this.healthState = { state: 'corrupted', seq: this.headState.seq + 1, reason: 'record beyond the head' };
    }
  }

  /**
   * Compares the log's head with the head record (kept outside LevelDB) and
   * reads what LevelDB skipped while opening. A head below the recorded one
   * means acknowledged events were lost: appends are refused (LOG_CORRUPTED)
   * until a recovery. A record one batch behind the log (a crash between the
   * batch and the record) is repaired.
   */
  private async checkDurability(): Promise<void> {
    this.droppedLines = await droppedOnOpen(this.db.location);
    if (this.droppedLines.length > 0 && this.healthState.state === 'ok') {
      // Dropped write-ahead-log blocks may lie anywhere in its span, not only in the tail verified on open.
      await this.verify({ full: true });
    }
    const record = await HeadRecord.open(this.db.location);
    this.headRecord = record;
    const rec = record.recorded;
    const head = this.headState;
    const dropped = this.droppedLines.slice(0, 5);
    if (rec === undefined) {
      if (record.unreadable) {
        this.refusal = {
          code: 'LOG_CORRUPTED', seq: head.seq, reason: 'the head record is unreadable: the acknowledged head cannot be checked',
          details: { head: head.seq, recordedHead: null, levelDbDropped: dropped },
        };
        return;
      }
      await record.write(head); // a new folder, or one from before the head record existed
      return;
    }
    if (rec.seq > head.seq) {
      this.refusal = {
        code: 'LOG_CORRUPTED', seq: head.seq + 1,
        reason: `acknowledged events ${head.seq + 1}..${rec.seq} are missing: the log's head went back from ${rec.seq} to ${head.seq}`,
        details: { head: head.seq, recordedHead: rec.seq, lost: { from: head.seq + 1, to: rec.seq }, levelDbDropped: dropped },
      };
      return;
    }
    if (rec.seq === head.seq ? rec.hash !== head.hash : rec.seq > this.baseState.seq && (await this.get(rec.seq))?.hash !== rec.hash) {
      this.refusal = {
        code: 'LOG_CORRUPTED', seq: rec.seq, reason: `the event at seq ${rec.seq} is not the one acknowledged there`,
        details: { head: head.seq, recordedHead: rec.seq, levelDbDropped: dropped },
      };
      return;
    }
    if (rec.seq < head.seq) await record.write(head);
  }

  /**
   * The cloud's high-water mark for this terminal (on connect). A cloud ahead of
   * the log, or holding another event at a seq both have, means this log is a
   * stale copy (a restored backup) or lost its tail: appends are refused with
   * LOG_BEHIND_CLOUD (or the LOG_CORRUPTED refusal gains what the cloud holds),
   * so no seq the cloud already has is ever reused. Returns the refusal, if any.
   */
  async noteCloudHead(cloud: { seq: number; hash?: string | undefined }): Promise<LogRefusal | undefined> {
    const head = this.headState;
    let diverged = false;
    if (cloud.hash !== undefined && cloud.seq > this.baseState.seq && cloud.seq <= head.seq) {
      diverged = (await this.get(cloud.seq))?.hash !== cloud.hash;
    }
    if (this.refusal) {
      this.refusal = { ...this.refusal, details: { ...this.refusal.details, cloudAckSeq: cloud.seq } };
      return this.refused;
    }
    if (cloud.seq > head.seq || diverged) {
      this.refusal = {
        code: 'LOG_BEHIND_CLOUD', seq: diverged ? cloud.seq : head.seq + 1,
        reason: diverged
          ? `the cloud holds another event at seq ${cloud.seq} than this log: the data folder is not this terminal's latest state`
          : `the cloud holds this terminal's events up to seq ${cloud.seq} but the log ends at ${head.seq}: was the data folder restored from a backup?`,
        details: { head: head.seq, cloudAckSeq: cloud.seq, diverged },
      };
    }
    return this.refused;
  }

  /**
   * Refuses appends from now on (LOG_CORRUPTED): for damage found outside
   * `verify`, e.g. a LevelDB block whose checksum fails, or a record that the
   * iterator returns but a read by key does not. Lifted only by a recovery.
   */
  markCorrupted(seq: number, reason: string, details: Record<string, unknown> = {}): void {
    if (this.refusal?.code === 'LOG_CORRUPTED') return;
    this.refusal = { code: 'LOG_CORRUPTED', seq, reason, details: { head: this.headState.seq, ...details } };
  }

  /** Lifts a refusal after a recovery; the head record is rewritten to the current head. */
  async clearRefusal(): Promise<void> {
    await this.headRecord?.write(this.headState);
    this.refusal = undefined;
  }

  /**
   * Appends events recovered from elsewhere (the cloud) exactly as they were
   * stored: canonical bytes, each continuing the log's seq and hash chain
   * (else CHAIN_BROKEN, nothing written). Allowed while appends are refused;
   * the views fold them in like any append. Durable when it resolves.
   */
  restoreEvents(records: Uint8Array[]): Promise<LoggedEvent[]> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'restored', records, resolve, reject }));
  }

  /**
   * Removes every event after `seq` (recovery of a log that diverged from the
   * cloud). Call inside `exclusive`; the views must then be rebuilt. The head
   * (in LevelDB and in the head record) is moved back first, synced.
   */
  async truncateAfter(seq: number): Promise<number> {
    const head = this.headState;
    if (seq >= head.seq) return 0;
    if (seq < this.baseState.seq) throw new TillsyncError('VALIDATION_FAILED', 'cannot truncate below the base');
    const at = seq === this.baseState.seq ? this.baseState : await this.get(seq);
    if (!at) throw new TillsyncError('LOG_CORRUPTED', `no event at seq ${seq} to truncate to`);
    const newHead = { seq, hash: at.hash };
    await this.metaDb.put('head', encodeCanonical(newHead), SYNC);
    this.metaCache.set('head', newHead);
    this.headState = newHead;
    await this.headRecord?.write(newHead);
    let removed = 0;
    for (;;) {
      const keys = await this.logDb.keys({ gt: seqKey(seq), limit: 10_000 }).all();
      if (keys.length === 0) break;
      const batch = this.db.batch();
      for (const k of keys) batch.del(k, { sublevel: this.logDb });
      await batch.write({ sync: true });
      removed += keys.length;
    }
    return removed;
  }

  /** The refusal of an append right now, if any. */
  private appendRefusal(): TillsyncError | undefined {
    if (this.healthState.state === 'corrupted') {
      return new TillsyncError('LOG_CORRUPTED', `log is corrupted at seq ${this.healthState.seq}: ${this.healthState.reason}`, {
        details: { seq: this.healthState.seq },
      });
    }
    if (this.refusal) return new TillsyncError(this.refusal.code, this.refusal.reason, { details: { seq: this.refusal.seq, ...this.refusal.details } });
    return undefined;
  }

  async readMeta<T>(key: string): Promise<T | undefined> {
    if (this.metaCache.has(key)) return this.metaCache.get(key) as T;
    const raw = await this.metaDb.get(key);
    const value = raw === undefined ? undefined : decodeTrusted<T>(raw);
    this.metaCache.set(key, value);
    return value;
  }

  /**
   * Appends one group of events atomically. Resolves with the stored events once
   * they are on disk; rejects (changing nothing) if any event is invalid or the
   * participant's check refuses the group.
   */
  append(drafts: EventDraft[], opts: AppendOptions = {}): Promise<LoggedEvent[]> {
    // Validate here, in the caller's turn: this CPU work overlaps the batch
    // being fsynced, instead of lengthening the writer's critical path.
    let valid: EventDraft[];
    try {
      if (drafts.length === 0) throw new TillsyncError('VALIDATION_FAILED', 'an append needs at least one event');
      valid = drafts.map((d) => parseDraft(d));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => this.enqueue({ kind: 'events', drafts: valid, opts, resolve, reject }));
  }

  /** Applies a page of downstream changes and advances the feed cursor, atomically. */
  applyChanges(changes: Change[], cursor: number): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'changes', changes, cursor, resolve, reject }));
  }

  /** Writes meta entries (cursors, flags) through the same serialized writer; `undefined` deletes. */
  setMeta(entries: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'meta', entries, resolve, reject }));
  }

  /**
   * Runs `fn` with the writer to itself: every write queued before has
   * committed, and nothing queued after commits until `fn` settles. For
   * maintenance that must see a still log (snapshots, cleanup, resync, rebuild).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.enqueue({ kind: 'exclusive', fn, resolve: resolve as (v: unknown) => void, reject }),
    );
  }

  /**
   * Moves the start of the retained log to `seq` (cleanup, F10): records up to
   * it are outside the log from now on. Call inside `exclusive`. The base is
   * written first (synced); the records below it are deleted afterwards, so a
   * crash in between leaves only unreachable garbage, which `deleteBelowBase`
   * removes on the next run.
   */
  async moveBase(base: LogHead): Promise<void> {
    if (base.seq <= this.baseState.seq) return;
    if (base.seq > this.headState.seq) throw new TillsyncError('VALIDATION_FAILED', 'cannot move the base past the head');
    await this.metaDb.put('base', encodeCanonical(base), SYNC);
    this.metaCache.set('base', base);
    this.baseState = { ...base };
  }

  /** The lowest stored seq at or below the base (records a cleanup has yet to delete), or undefined. */
  async firstBelowBase(): Promise<number | undefined> {
    const keys = await this.logDb.keys({ lte: seqKey(this.baseState.seq), limit: 1 }).all();
    return keys.length === 0 ? undefined : Number(keys[0]);
  }

  /** Deletes stored records at or below the base, in chunks. Returns how many; `onChunk` gets the running count. */
  /**
   * Reclaims the disk space of records deleted below the base: compacts the log's
   * key range below it, then the whole database (no data changes; outside the writer).
   */
  async compactBelowBase(): Promise<void> {
    const prefix = this.logDb.prefix;
    await this.db.compactRange(`${prefix}${seqKey(0)}`, `${prefix}${seqKey(this.base.seq + 1)}`);
    await this.db.compactRange('!', '~');
  }

  async deleteBelowBase(onChunk?: (deleted: number) => void): Promise<number> {
    let deleted = 0;
    for (;;) {
      const keys = await this.logDb.keys({ lte: seqKey(this.baseState.seq), limit: 10_000 }).all();
      if (keys.length === 0) return deleted;
      const batch = this.db.batch();
      for (const k of keys) batch.del(k, { sublevel: this.logDb });
      await batch.write();
      deleted += keys.length;
      onChunk?.(deleted);
    }
  }

  private enqueue(work: Work): void {
    if (this.closed) {
      work.reject(new TillsyncError('LOG_CLOSED', 'the event log is closed'));
      return;
    }
    const refusal = work.kind === 'events' ? this.appendRefusal() : undefined;
    if (refusal) {
      work.reject(refusal);
      return;
    }
    this.queue.push(work);
    if (!this.writing) this.writing = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const first = this.queue[0]!;
        if (first.kind === 'exclusive') {
          this.queue.shift();
          try {
            first.resolve(await first.fn());
          } catch (err) {
            // Exclusive work writes too (cleanup, rebuilds): a write of it that ran out of space may have torn the log.
            if (toStorageError(err).code === 'DISK_FULL') this.walSuspect = true;
            first.reject(err);
          }
          continue;
        }
        let n = this.queue.findIndex((w) => w.kind === 'exclusive');
        if (n < 0 || n > MAX_GROUPS_PER_BATCH) n = Math.min(this.queue.length, MAX_GROUPS_PER_BATCH);
        await this.commit(this.queue.splice(0, n));
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async commit(works: Work[]): Promise<void> {
    if (this.walSuspect) {
      try {
        await this.sealWriteAheadLog();
      } catch (err) {
        const wrapped = toStorageError(err);
        this.noteWriteFailure(wrapped);
        for (const w of works) if (w.kind !== 'exclusive') w.reject(wrapped);
        return;
      }
    }
    const batch = this.db.batch();
    // Prefixing keys by hand is several times cheaper per op than the
    // `{ sublevel }` option (abstract-level copies the options into every op).
    const writer: BatchWriter = {
      put: (sublevel, key, value) => batch.put(sublevel.prefix + key, value),
      del: (sublevel, key) => batch.del(sublevel.prefix + key),
    };
    const startHead = this.headState;
    let head = startHead;
    let feedCursor = this.feedCursorState;
    const accepted: Array<{ work: Work; result: LoggedEvent[] | undefined }> = [];
    const meta: Record<string, unknown> = {};

    for (const work of works) {
      if (work.kind === 'exclusive') continue; // never batched (see drain)
      const refusal = work.kind === 'events' ? this.appendRefusal() : undefined;
      if (refusal) {
        work.reject(refusal);
        continue;
      }
      const mark = this.participant.mark();
      try {
        if (work.kind === 'events') {
          const loading = this.participant.prepare?.(work.drafts);
          if (loading) await loading;
          work.opts.before?.();
          const logged = this.buildEvents(work.drafts, head);
          this.participant.stageEvents(logged.map((l) => l.event));
          work.opts.check?.();
          for (const l of logged) writer.put(this.logDb, seqKey(l.seq), l.bytes);
          const last = logged[logged.length - 1]!;
          head = { seq: last.seq, hash: last.hash };
          accepted.push({ work, result: logged });
        } else if (work.kind === 'restored') {
          const logged = this.checkRestored(work.records, head);
          const events = logged.map((l) => l.event);
          const loading = this.participant.prepare?.(events);
          if (loading) await loading;
          this.participant.stageEvents(events);
          for (const l of logged) writer.put(this.logDb, seqKey(l.seq), l.bytes);
          const last = logged[logged.length - 1];
          if (last) head = { seq: last.seq, hash: last.hash };
          accepted.push({ work, result: logged });
        } else if (work.kind === 'changes') {
          this.participant.stageChanges(work.changes);
          for (const c of work.changes) writer.put(this.changeDb, seqKey(c.cursor), encodeCanonical(c));
          feedCursor = Math.max(feedCursor, work.cursor);
          accepted.push({ work, result: undefined });
        } else {
          Object.assign(meta, work.entries);
          accepted.push({ work, result: undefined });
        }
      } catch (err) {
        this.participant.rollbackTo(mark);
        work.reject(err);
      }
    }
    if (accepted.length === 0) return;

    if (head.seq !== startHead.seq) meta.head = head;
    if (feedCursor !== this.feedCursorState) meta.feedCursor = feedCursor;
    for (const [k, v] of Object.entries(meta)) {
      if (v === undefined) writer.del(this.metaDb, k);
      else writer.put(this.metaDb, k, encodeCanonical(v));
    }
    this.participant.flushInto(writer);

    // Downloaded feed pages alone are written without waiting for the disk: the
    // page and its cursor are one atomic batch, so losing it in a power cut only
    // means downloading it again. Anything of the terminal's own (events,
    // cursors, settings) is synced, which also makes every earlier write durable.
    const sync = accepted.some((a) => a.work.kind !== 'changes');
    try {
      await batch.write({ sync });
    } catch (err) {
      this.participant.aborted();
      const wrapped = toStorageError(err);
      this.walSuspect = true;
      this.noteWriteFailure(wrapped);
      for (const a of accepted) a.work.reject(wrapped);
      return;
    }
    this.diskFullSince = undefined;
    this.headState = head;
    this.feedCursorState = feedCursor;
    for (const [k, v] of Object.entries(meta)) this.metaCache.set(k, v);
    this.participant.committed();
    // Recorded before anything is acknowledged: an acknowledged head is always
    // in the head record, whatever LevelDB's write-ahead log loses later.
    if (head.seq !== startHead.seq && this.headRecord) {
      try {
        await this.headRecord.write(head);
      } catch (err) {
        // The batch is durable in LevelDB: refusing the group now would invite a
        // retry that sells twice. Stop taking sales instead.
        this.refusal = { code: 'LOG_CORRUPTED', seq: head.seq, reason: `the head record could not be written: ${String(err)}`, details: { head: head.seq } };
      }
    }
    for (const fn of this.commitListeners) fn(head);
    for (const a of accepted) {
      if (a.work.kind === 'events' || a.work.kind === 'restored') a.work.resolve(a.result!);
      else a.work.resolve();
    }
  }

  private noteWriteFailure(wrapped: TillsyncError): void {
    if (wrapped.code !== 'DISK_FULL') return;
    const first = this.diskFullSince === undefined;
    this.diskFullSince ??= this.clock.now();
    // Status pages listen to commits; a full disk is a change they must show.
    if (first) for (const fn of this.commitListeners) fn(this.headState);
  }

  /** After a failed write, before the next one (see sealWriteAheadLog in level-util.ts). */
  private async sealWriteAheadLog(): Promise<void> {
    await sealWriteAheadLog(this.db);
    this.walSuspect = false;
  }

  /** Recovered records must continue the chain from `head`, one seq at a time, for this terminal. */
  private checkRestored(records: readonly Uint8Array[], head: LogHead): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    let prev = head;
    for (const bytes of records) {
      const event = decodeTrusted<TillEvent>(bytes);
      if (event.seq !== prev.seq + 1 || event.prev !== prev.hash || event.store !== this.store || event.terminal !== this.terminal) {
        throw new TillsyncError('CHAIN_BROKEN', `recovered event at seq ${event.seq} does not continue the log at seq ${prev.seq}`, {
          details: { seq: event.seq, expectedSeq: prev.seq + 1 },
        });
      }
      const hash = sha256Hex(bytes);
      out.push({ seq: event.seq, hash, bytes, event });
      prev = { seq: event.seq, hash };
    }
    return out;
  }

  /** Drafts were validated by `append`; the envelope fields are the log's own. */
  private buildEvents(drafts: EventDraft[], head: LogHead): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    let prev = head;
    const now = this.clock.now();
    for (const draft of drafts) {
      const event = {
        id: draft.id ?? this.ulid(now),
        type: draft.type,
        v: EVENT_SCHEMA_VERSION,
        store: this.store,
        terminal: this.terminal,
        seq: prev.seq + 1,
        time: draft.time ?? now,
        prev: prev.hash,
        body: draft.body,
      } as TillEvent;
      const bytes = encodeCanonical(event);
      const hash = sha256Hex(bytes);
      out.push({ seq: event.seq, hash, bytes, event });
      prev = { seq: event.seq, hash };
    }
    return out;
  }

  /** One event by seq, or undefined. */
  async get(seq: number): Promise<LoggedEvent | undefined> {
    const bytes = await this.logDb.get(seqKey(seq));
    if (bytes === undefined) return undefined;
    return { seq, hash: sha256Hex(bytes), bytes, event: decodeTrusted<TillEvent>(bytes) };
  }

  /**
   * Reads events with seq >= from (up to `to`, inclusive) in pages, never holding
   * more than one page. Decoding is skipped when `decode: false` (for upload).
   */
  async *read(from: number, opts: { to?: number; pageSize?: number } = {}): AsyncGenerator<LoggedEvent[]> {
    for await (const page of this.readRaw(from, opts)) {
      yield page.map(([seq, bytes]) => ({ seq, hash: sha256Hex(bytes), bytes, event: decodeTrusted<TillEvent>(bytes) }));
    }
  }

  /**
   * [seq, bytes] pages only: no decoding, no hashing (upload needs just the
   * stored bytes). Same paging as `read`.
   */
  readBytes(from: number, opts: { to?: number; pageSize?: number } = {}): AsyncGenerator<Array<[number, Uint8Array]>> {
    return this.readRaw(from, opts);
  }

  /** Decoded events only (no hashing), for folding history fast (rebuild). */
  async *readEvents(from: number, opts: { to?: number; pageSize?: number } = {}): AsyncGenerator<TillEvent[]> {
    for await (const page of this.readRaw(from, opts)) yield page.map(([, bytes]) => decodeTrusted<TillEvent>(bytes));
  }

  /** [seq, bytes] pages; the next page is requested before the current one is handed out. */
  private async *readRaw(from: number, opts: { to?: number; pageSize?: number }): AsyncGenerator<Array<[number, Uint8Array]>> {
    const pageSize = opts.pageSize ?? 1000;
    const it = this.logDb.iterator({
      gte: seqKey(Math.max(1, from)),
      ...(opts.to !== undefined ? { lte: seqKey(opts.to) } : {}),
      ...BIG_READS,
    });
    try {
      let next = it.nextv(pageSize);
      for (;;) {
        const entries = await next;
        if (entries.length === 0) return;
        next = it.nextv(pageSize);
        yield entries.map(([k, bytes]): [number, Uint8Array] => [Number(k), bytes]);
      }
    } finally {
      await it.close();
    }
  }

  /** Reads the stored downstream changes with cursor > `after`, in cursor order, in pages. */
  async *readChanges(pageSize = 1000, after = 0): AsyncGenerator<Change[]> {
    const it = this.changeDb.iterator({ gt: seqKey(after), ...BIG_READS });
    try {
      for (;;) {
        const entries = await it.nextv(pageSize);
        if (entries.length === 0) return;
        yield entries.map(([key, bytes]) => storedChange(key, bytes));
      }
    } finally {
      await it.close();
    }
  }

  /**
   * Verifies seq continuity and the hash chain from `from` (default: the first
   * retained event) to the head, as of ONE consistent point: a LevelDB snapshot
   * from which the head, the base and every record are read. Sales, downloads
   * and cleanup may go on meanwhile; what they write after the snapshot is not
   * looked at, so a healthy log never fails because it moved during the check
   * (an audit on a selling till). A failure found this way is a fact about the
   * stored data and marks the log corrupted; a verify never clears a corruption
   * (a restart re-checks the log on open).
   */
  async verify(opts: { from?: number; full?: boolean } = {}): Promise<VerifyReport> {
    const snapshot = this.db.snapshot();
    try {
      return await this.verifyAt(snapshot, opts);
    } finally {
      await snapshot.close();
    }
  }

  private async verifyAt(snapshot: ReturnType<LevelDb['snapshot']>, opts: { from?: number; full?: boolean }): Promise<VerifyReport> {
    const at = { snapshot } as object;
    const metaAt = async (key: string): Promise<LogHead | undefined> => {
      const raw = await this.metaDb.get(key, at);
      return raw === undefined ? undefined : decodeTrusted<LogHead>(raw);
    };
    const headAt = (await metaAt('head')) ?? { seq: 0, hash: GENESIS_HASH };
    const baseAt = (await metaAt('base')) ?? { seq: 0, hash: GENESIS_HASH };
    const first = baseAt.seq + 1;
    const from = opts.full ? first : Math.max(first, opts.from ?? first);
    const headSeq = headAt.seq;
    const report: VerifyReport = { ok: true, checked: 0, from, to: headSeq };
    if (headSeq < from) return report;
    let expectSeq = from;
    let prevHash: string | undefined;
    if (from === first) prevHash = baseAt.hash;
    else {
      const before = await this.logDb.get(seqKey(from - 1), at);
      prevHash = before === undefined ? undefined : sha256Hex(before);
    }
    const fail = (seq: number, reason: string): VerifyReport => {
      this.healthState = { state: 'corrupted', seq, reason };
      return { ...report, ok: false, problem: { seq, reason } };
    };
    // Raw pages, decoded record by record: a record that does not decode is
    // reported at its own seq, not at the start of its page.
    const it = this.logDb.iterator({ gte: seqKey(from), lte: seqKey(headSeq), snapshot, ...BIG_READS });
    try {
      for (;;) {
        const page = await it.nextv(1000);
        if (page.length === 0) break;
        for (const [key, bytes] of page) {
          const seq = Number(key);
          if (seq !== expectSeq) return fail(expectSeq, `missing record (next stored is ${seq})`);
          let ev: Partial<TillEvent> | undefined;
          try {
            ev = decodeTrusted<Partial<TillEvent>>(bytes);
          } catch (err) {
            return fail(seq, `unreadable record: ${err instanceof Error ? err.message : String(err)}`);
          }
          if (!ev || typeof ev !== 'object' || ev.seq !== seq) return fail(seq, 'record does not decode to its seq');
          if (prevHash !== undefined && ev.prev !== prevHash) return fail(seq, 'hash chain broken');
          if (ev.store !== this.store || ev.terminal !== this.terminal) return fail(seq, 'record of another terminal');
          prevHash = sha256Hex(bytes);
          expectSeq++;
          report.checked++;
        }
      }
    } catch (err) {
      return fail(expectSeq, `unreadable log: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await it.close();
    }
    if (expectSeq <= headSeq) return fail(expectSeq, 'missing record at the tail');
    if (prevHash !== headAt.hash) return fail(headSeq, 'head hash does not match the last record');
    return report;
  }

  /** Waits for queued writes, then closes the database. Appends after this fail with LOG_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.writing;
    await this.headRecord?.close().catch(() => {});
    await this.db.close();
  }
}

/**
 * A stored change, checked as it was when it was downloaded. LevelDB does not
 * verify block checksums on reads (level-util.ts), so a damaged table can hand
 * back bytes that still decode but are no longer a change (a key garbled by
 * snappy: found by the fault simulator); folding them into views would key a
 * balance by `undefined`. Such a record is LOG_CORRUPTED, named by its key.
 */
function storedChange(key: string, bytes: Uint8Array): Change {
  let change: Change;
  try {
    change = parseChange(decodeTrusted(bytes));
  } catch (err) {
    throw new TillsyncError('LOG_CORRUPTED', `stored change ${Number(key)} is damaged: ${err instanceof Error ? err.message : String(err)}`, { details: { cursor: Number(key) }, cause: err });
  }
  if (change.cursor !== Number(key)) throw new TillsyncError('LOG_CORRUPTED', `stored change ${Number(key)} is damaged: it names cursor ${change.cursor}`, { details: { cursor: Number(key) } });
  return change;
}

function toStorageError(err: unknown): TillsyncError {
  if (err instanceof TillsyncError) return err;
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const text = `${e.message ?? ''} ${String(e.cause?.code ?? '')}`;
  if (/ENOSPC|No space left/i.test(text)) return new TillsyncError('DISK_FULL', 'disk full: nothing was written', { cause: err });
  if (e.code === 'LEVEL_DATABASE_NOT_OPEN') return new TillsyncError('LOG_CLOSED', 'the event log is closed', { cause: err });
  return new TillsyncError('STORAGE_FAILED', `write failed: ${e.message ?? String(err)}`, { cause: err });
}

/**
 * ulid's default PRNG calls randomFillSync once per character; drawing from a
 * pooled buffer of crypto randomness is ~10x cheaper and just as unpredictable.
 */
export function pooledRandom(): () => number {
  const pool = new Uint32Array(4096);
  let i = pool.length;
  return () => {
    if (i >= pool.length) {
      randomFillSync(pool);
      i = 0;
    }
    return pool[i++]! / 4294967296;
  };
}
