/**
 * The agent's audit log of privileged actions: who (staff member or token),
 * what, when, and how it ended. One JSON line per entry in `audit-log.jsonl`
 * in the data folder (0600). An entry is on disk before the answer to its
 * request is sent. At 8 MB the file moves to `audit-log.1.jsonl` (one
 * generation kept) so it cannot fill the disk. A refused request is logged
 * too, so its facts may be hostile: any value (or key) that may hold a card
 * number is written as WITHHELD, never as sent.
 */
import { appendFile, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { holdsCardNumber } from '../events/card-data.ts';
import type { Actor } from './agent-credentials.ts';

export const AUDIT_LOG_FILE = 'audit-log.jsonl';
const ROTATE_BYTES = 8 * 1024 * 1024;

export interface AuditEntry {
  at: number;
  actor: Actor | null;
  action: string;
  ok: boolean;
  status: number;
  code?: string;
  details?: Record<string, string | number | boolean>;
}

export class AuditLog {
  private queue: Promise<void> = Promise.resolve();
  readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, AUDIT_LOG_FILE);
  }

  /** Appends in order; resolves once the line is written. A failed write is reported, not hidden. */
  append(entry: AuditEntry): Promise<void> {
    const line = `${JSON.stringify(withheld(entry))}\n`;
    const next = this.queue.then(async () => {
      const size = await stat(this.file).then((s) => s.size, () => 0);
      if (size > ROTATE_BYTES) await rename(this.file, join(this.file, '..', 'audit-log.1.jsonl'));
      await appendFile(this.file, line, { mode: 0o600 });
    });
    this.queue = next.catch(() => {});
    return next;
  }

  /** The newest `limit` entries, oldest first (after every pending append). */
  async read(limit = 100): Promise<AuditEntry[]> {
    await this.queue;
    const text = await readFile(this.file, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).slice(-limit).map((l) => JSON.parse(l) as AuditEntry);
  }
}

export const WITHHELD = '[withheld: may hold a card number]';

function withheld(entry: AuditEntry): AuditEntry {
  if (!holdsCardNumber(entry)) return entry;
  const details: Record<string, string | number | boolean> = {};
  let i = 0;
  for (const [k, v] of Object.entries(entry.details ?? {})) {
    details[holdsCardNumber(k) ? `withheld-${i++}` : k] = holdsCardNumber(v) ? WITHHELD : v;
  }
  const actor = entry.actor && holdsCardNumber(entry.actor)
    ? Object.fromEntries(Object.entries(entry.actor).map(([k, v]) => [k, holdsCardNumber(v) ? WITHHELD : v])) as unknown as Actor
    : entry.actor;
  return { ...entry, actor, ...(entry.details ? { details } : {}) };
}
