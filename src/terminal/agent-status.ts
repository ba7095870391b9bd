/**
 * What the terminal agent reports about itself (AgentStatus) and the operations
 * its Sync Manager API drives (AgentOperations). A file of its own so that the
 * routes depend on this contract, not on the agent class: agent.ts builds the
 * routes, and the routes never import agent.ts back.
 */
import type { ErrorCode } from '../errors.ts';
import type { Alarm, CardWindow } from './alarm.ts';
import type { EventLog } from '../events/event-log.ts';
import type { SyncStatus } from '../replication/sync-status.ts';
import type { AuditReport } from './audit.ts';
import type { CleanupReport } from './cleanup.ts';
import type { ForceResyncDryRun, ForceResyncReport } from './force-resync.ts';
import type { FullResyncReport } from './full-resync.ts';

export type OperationName = 'sync-up' | 'sync-down' | 'full-resync' | 'restore' | 'force-resync' | 'force-resync-dry-run' | 'cleanup' | 'audit' | 'recover' | 'day-report' | 'close-day';

export interface OperationState {
  name: OperationName;
  phase: string;
  done: number;
  total: number;
  started: number;
}

export interface OperationOutcome {
  name: OperationName;
  ok: boolean;
  at: number;
  /** The agent stopped (kill, power cut) before the operation ended; `at` is when it started. */
  interrupted?: true;
  result?: unknown;
  error?: { code: ErrorCode; message: string };
}

export interface AgentStatus {
  store: string;
  terminal: string;
  cloudUrl: string;
  sync: SyncStatus;
  /** What the store should act on, amber then red, each reason with what to do (alarm.ts). */
  alarm: Alarm;
  log: { head: number; base: number; health: string; ackSeq: number };
  /**
   * The sales the cloud has not acknowledged yet, in store terms: how many,
   * their total in cents, when the oldest was made (terminal clock, ms; null
   * when none) and its age when this status was taken. `sync.pending` counts
   * the events behind them.
   */
  unsynced: { sales: number; amount: number; oldest: number | null; oldestAgeMs: number | null };
  /** The card processor's offline window against the oldest card payment not on the cloud (alarm.ts). */
  cardWindow: CardWindow;
  operation: OperationState | null;
  lastOperation: OperationOutcome | null;
  resyncInProgress: boolean;
}

/** The agent as the Sync Manager routes see it. */
export interface AgentOperations {
  readonly terminal: { readonly log: EventLog };
  status(): AgentStatus;
  setLocalMode(req: { on: boolean; hours?: number }): Promise<unknown>;
  syncUp(): Promise<unknown>;
  syncDown(): Promise<unknown>;
  restore(): Promise<SyncStatus>;
  fullResync(opts?: { exportUnsyncedTo?: string; exportUnsynced?: boolean }): Promise<FullResyncReport>;
  readonly dataDir: string;
  forceResync(opts: { dryRun: boolean }): Promise<ForceResyncDryRun | ForceResyncReport>;
  cleanup(opts: { olderThanDays: number }): Promise<CleanupReport>;
  audit(): Promise<AuditReport>;
  setCredential(token: string): Promise<void>;
}
