/**
 * Remembers, in the data folder, which maintenance operation is running, so
 * that one cut short by a kill or a power cut is reported as interrupted at the
 * next start (`lastOperation`) instead of vanishing.
 *
 * `operation.json` is written (atomically, 0600) when an operation starts and
 * removed when it ends either way; one found at start is an interrupted run.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writePrivateFileAtomic } from '../events/atomic-file.ts';

export const OPERATION_FILE = 'operation.json';

export interface JournalEntry {
  name: string;
  started: number;
}

export async function recordOperationStart(dataDir: string, entry: JournalEntry): Promise<void> {
  await writePrivateFileAtomic(join(dataDir, OPERATION_FILE), JSON.stringify(entry));
}

export async function recordOperationEnd(dataDir: string): Promise<void> {
  await rm(join(dataDir, OPERATION_FILE), { force: true });
}

/** The operation that was running when the agent last stopped without finishing it (and forgets it). */
export async function takeInterruptedOperation(dataDir: string): Promise<JournalEntry | undefined> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dataDir, OPERATION_FILE), 'utf8'));
  } catch {
    await recordOperationEnd(dataDir);
    return undefined;
  }
  await recordOperationEnd(dataDir);
  const e = raw as Partial<JournalEntry> | null;
  return e && typeof e.name === 'string' && typeof e.started === 'number' ? { name: e.name, started: e.started } : undefined;
}
