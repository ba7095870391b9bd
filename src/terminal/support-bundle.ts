/**
 * The support bundle (issue 22 item 4): one JSON file a store downloads from
 * the Sync Manager and sends to support, holding what support asks for first —
 * the status, the recent sync history, the agent's recent log lines, who did
 * which privileged action, the log's health and the exports on disk — and
 * nothing a thief could use.
 *
 * Two defences, so a new field cannot leak by accident:
 * - nothing secret is put in: no credential, pairing or session token, no PIN
 *   hash, no event bodies (sales are counted, not copied);
 * - everything put in is scrubbed on the way out: any string holding a
 *   card-number-like digit run (card-data.ts) or a bearer/credential-looking
 *   token is replaced, and keys named like secrets are dropped.
 */
import type { SyncStatus } from '../replication/sync-status.ts';
import { scrub, SUPPORT_BUNDLE_KIND } from '../events/support-scrub.ts';

export { CARD_REMOVED, scrub, SUPPORT_BUNDLE_KIND, TOKEN_REMOVED } from '../events/support-scrub.ts';
const HISTORY = 100;
const LOG_LINES = 200;
const LINE_MAX = 2_000;

export interface SyncHistoryEntry {
  at: number;
  what: 'up' | 'down' | 'up-failed' | 'down-failed' | 'connection';
  detail: string;
}

/**
 * The last sync passes and connection changes, from successive statuses: a new
 * `lastUp`/`lastDown`/error or a new connection state is one entry.
 */
export class SyncHistory {
  private readonly entries: SyncHistoryEntry[] = [];
  private last: { up?: number; down?: number; upErr?: number; downErr?: number; conn?: string } = {};

  record(s: SyncStatus): void {
    if (s.lastUp && s.lastUp.at !== this.last.up) {
      this.last.up = s.lastUp.at;
      const u = s.lastUp;
      this.push({ at: u.at, what: 'up', detail: `${u.uploaded} uploaded, ${u.duplicates} already held, ${u.quarantined} quarantined, ${u.conflicts} conflicts; acknowledged up to ${s.uploaded}` });
    }
    if (s.lastDown && s.lastDown.at !== this.last.down) {
      this.last.down = s.lastDown.at;
      this.push({ at: s.lastDown.at, what: 'down', detail: `${s.lastDown.changes} changes, cursor ${s.lastDown.cursor}` });
    }
    if (s.lastUpError && s.lastUpError.at !== this.last.upErr) {
      this.last.upErr = s.lastUpError.at;
      this.push({ at: s.lastUpError.at, what: 'up-failed', detail: `${s.lastUpError.code}: ${s.lastUpError.message}` });
    }
    if (s.lastDownError && s.lastDownError.at !== this.last.downErr) {
      this.last.downErr = s.lastDownError.at;
      this.push({ at: s.lastDownError.at, what: 'down-failed', detail: `${s.lastDownError.code}: ${s.lastDownError.message}` });
    }
    const c = s.connection;
    const conn = `${c.state}${'error' in c && c.error ? ` (${c.error})` : ''}`;
    if (conn !== this.last.conn) {
      this.last.conn = conn;
      this.push({ at: c.since, what: 'connection', detail: conn });
    }
  }

  list(): SyncHistoryEntry[] {
    return [...this.entries];
  }

  private push(e: SyncHistoryEntry): void {
    this.entries.push(e);
    if (this.entries.length > HISTORY) this.entries.shift();
  }
}

/** The agent's last log lines (pino JSON), kept in memory for the bundle; longer lines are cut. */
export class RecentLines {
  private readonly lines: string[] = [];

  /** A pino destination that keeps each line and passes it on. */
  tee(next: { write(line: string): unknown }): { write(line: string): void } {
    return {
      write: (line: string) => {
        this.lines.push(line.length > LINE_MAX ? `${line.slice(0, LINE_MAX)}…` : line.replace(/\n$/, ''));
        if (this.lines.length > LOG_LINES) this.lines.shift();
        next.write(line);
      },
    };
  }

  list(): string[] {
    return [...this.lines];
  }
}

export interface SupportBundleParts {
  generatedAt: number;
  version: string;
  store: string;
  terminal: string;
  cloudUrl: string;
  status: unknown;
  recovery: unknown;
  syncHistory: SyncHistoryEntry[];
  log: { enabled: boolean; lines: string[] };
  auditLog: unknown[];
  exports: unknown[];
}

export function supportBundle(parts: SupportBundleParts): Record<string, unknown> {
  return scrub({
    kind: SUPPORT_BUNDLE_KIND,
    format: 1,
    ...parts,
    generatedAt: new Date(parts.generatedAt).toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    uptimeSeconds: Math.round(process.uptime()),
  }) as Record<string, unknown>;
}

/** `tillsync-support-store-1-till-1-20261204T031500Z.json` */
export function supportBundleName(store: string, terminal: string, at: number): string {
  return `tillsync-support-${store}-${terminal}-${new Date(at).toISOString().replace(/[-:]|\.\d{3}/g, '')}.json`;
}
