/**
 * The sync status model (F1) and its change stream.
 *
 * `StatusStore` holds one `SyncStatus`; writers `update()` parts of it and
 * listeners get an immutable snapshot only when something actually changed
 * (compared by value). The state is an immer-produced, deeply frozen tree:
 * an update copies only what it changes, and a snapshot shares the rest
 * instead of cloning the whole status for every listener call. Nothing here
 * runs on a timer: the age of the oldest unsynced payment is derived from its
 * time when a snapshot is taken.
 */
import { freeze, produce } from 'immer';
import type { ErrorCode } from '../errors.ts';
import type { Clock } from './timers.ts';

/**
 * online  — the last exchange with the cloud succeeded.
 * offline — the cloud could not be reached; retrying with backoff (`retryAt`).
 * local   — local mode is on (no network calls), until `until` or turned off.
 * stuck   — the cloud refused something retrying cannot fix (400/403, broken
 *           chain...): shown until a restart or a successful sync.
 * revoked — the credential was refused (401): selling continues offline;
 *           syncing resumes after `setCredential`.
 */
export type ConnectionState =
  | { state: 'online'; since: number }
  | { state: 'offline'; since: number; error: ErrorCode | null; retryAt: number | null }
  | { state: 'local'; since: number; until: number | null }
  | { state: 'stuck'; since: number; error: ErrorCode; message: string }
  | { state: 'revoked'; since: number; error: ErrorCode };

export type ActivityOp = 'connect' | 'upload' | 'download';
export interface Activity {
  op: ActivityOp;
  done: number;
  total: number;
}

export interface LastSyncUp {
  at: number;
  /** Events newly stored by the cloud in that run. */
  uploaded: number;
  duplicates: number;
  quarantined: number;
  conflicts: number;
}

export interface LastSyncDown {
  at: number;
  changes: number;
  cursor: number;
}

export interface SyncErrorInfo {
  at: number;
  code: ErrorCode;
  message: string;
}

export interface ConflictInfo {
  id: string;
  seq: number;
  code: string;
}

export interface SyncStatus {
  connection: ConnectionState;
  localMode: { on: boolean; until: number | null };
  /** Events acknowledged by the cloud: the upload cursor (ackSeq). */
  uploaded: number;
  /** Last seq in the local log. */
  head: number;
  /** head - uploaded. */
  pending: number;
  /** This terminal's events the cloud keeps in quarantine. */
  quarantined: number;
  /** Events the cloud refused as conflicts (same id, other content), cumulative. */
  conflicts: number;
  /** The last few conflicts (newest last). */
  recentConflicts: ConflictInfo[];
  /**
   * Last successful sync up / down. `lastDown` is the last download pass that
   * applied changes (the first successful pass if none has yet): a pass that
   * found nothing new does not overwrite it.
   */
  lastUp: LastSyncUp | null;
  lastDown: LastSyncDown | null;
  /** Last failure of each direction; cleared by the next success. */
  lastUpError: SyncErrorInfo | null;
  lastDownError: SyncErrorInfo | null;
  /** Downstream cursor applied locally and the cloud's feed head, if known. */
  feedCursor: number;
  feedHead: number | null;
  activity: Activity | null;
  /** The oldest payment not yet acknowledged (terminal clock time), or null. */
  oldestUnsyncedPayment: { seq: number; time: number } | null;
  /** now - oldestUnsyncedPayment.time when this snapshot was taken. */
  oldestUnsyncedPaymentAgeMs: number | null;
  /** Open exceptions of the store, as last told by the cloud (null = unknown). */
  openExceptions: number | null;
  /** Size of the terminal's data folder, bytes (null = not measured yet). */
  logBytes: number | null;
  /** Whether the WebSocket stream is connected. */
  streamConnected: boolean;
  /** restart() calls and watchdog restarts since start. */
  restarts: number;
  watchdogRestarts: number;
}

export type StatusFields = Omit<SyncStatus, 'oldestUnsyncedPaymentAgeMs'>;
export type StatusListener = (status: SyncStatus) => void;

export class StatusStore {
  private state: StatusFields;
  private readonly listeners = new Set<StatusListener>();

  constructor(private readonly clock: Clock, initial: StatusFields) {
    this.state = freeze(structuredClone(initial), true);
  }

  get fields(): Readonly<StatusFields> {
    return this.state;
  }

  snapshot(): SyncStatus {
    const p = this.state.oldestUnsyncedPayment;
    return Object.freeze({ ...this.state, oldestUnsyncedPaymentAgeMs: p ? Math.max(0, this.clock.now() - p.time) : null });
  }

  /** Applies a partial update; notifies listeners once if any field changed. */
  update(patch: Partial<StatusFields>): void {
    let changed = false;
    for (const key of Object.keys(patch) as Array<keyof StatusFields>) {
      if (!sameValue(this.state[key], patch[key])) {
        changed = true;
        break;
      }
    }
    if (!changed) return;
    this.state = produce(this.state, (d) => {
      Object.assign(d, patch);
      if (patch.head !== undefined || patch.uploaded !== undefined) d.pending = Math.max(0, d.head - d.uploaded);
    });
    if (this.listeners.size === 0) return;
    const snap = this.snapshot();
    for (const fn of this.listeners) {
      try {
        fn(snap);
      } catch {
        // A listener's failure must not break sync or the other listeners.
      }
    }
  }

  subscribe(fn: StatusListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
