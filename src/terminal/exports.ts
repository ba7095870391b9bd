/**
 * The agent's export folder (issue 22 item 4): `<data>/exports/`, private
 * (0700, files 0600), where the page's full-resync override writes the sales it
 * could not upload first (`unsynced-*.ndjson`) and a recovery writes the local
 * events that had to make way (`recovered-*.ndjson`). The Sync Manager lists
 * them and downloads them, so a store gets them without a shell.
 *
 * Only names this module made are ever opened: a name is checked against the
 * pattern before it is joined to the folder, and the file must be a regular
 * file there (no links followed out of it). The files hold events as the log
 * does: card payments by processor token, brand and last 4 only.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { makePrivateDir } from '../events/private-dir.ts';

export const EXPORTS_DIR = 'exports';
export type ExportKind = 'unsynced' | 'recovered';
export const exportName = z.string().regex(/^(unsynced|recovered)-\d{8}T\d{6}-\d{3}Z(-\d{1,4})?\.ndjson$/);

export interface ExportFile {
  name: string;
  kind: ExportKind;
  bytes: number;
  /** When it was written (ms). */
  modified: number;
}

export function exportsDir(dataDir: string): string {
  return join(dataDir, EXPORTS_DIR);
}

/** `unsynced-20261204T031500-123Z.ndjson`: sorts by time, readable, no characters a file system minds. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '-');
}

/** A fresh path in the export folder (created if needed); the caller creates the file exclusively. */
export async function newExportPath(dataDir: string, kind: ExportKind, now: number): Promise<string> {
  const dir = exportsDir(dataDir);
  await makePrivateDir(dir);
  const taken = new Set(await readdir(dir));
  const base = `${kind}-${stamp(now)}`;
  for (let i = 0; i < 10_000; i++) {
    const name = `${base}${i === 0 ? '' : `-${i}`}.ndjson`;
    if (!taken.has(name)) return join(dir, name);
  }
  throw new TillsyncError('VALIDATION_FAILED', 'too many exports in one millisecond');
}

/** The exports, newest first. */
export async function listExports(dataDir: string): Promise<ExportFile[]> {
  let names: string[];
  try {
    names = await readdir(exportsDir(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ExportFile[] = [];
  for (const name of names) {
    if (!exportName.safeParse(name).success) continue;
    const st = await lstat(join(exportsDir(dataDir), name));
    if (!st.isFile()) continue;
    out.push({ name, kind: name.startsWith('unsynced-') ? 'unsynced' : 'recovered', bytes: st.size, modified: Math.trunc(st.mtimeMs) });
  }
  return out.sort((a, b) => b.modified - a.modified || (a.name < b.name ? 1 : -1));
}

/** A stream of one export, by a name `listExports` would show; EXPORT_NOT_FOUND otherwise. */
export async function openExport(dataDir: string, name: string): Promise<{ stream: ReadStream; bytes: number }> {
  if (!exportName.safeParse(name).success) throw new TillsyncError('EXPORT_NOT_FOUND', 'no such export');
  const path = join(exportsDir(dataDir), name);
  const st = await lstat(path).catch(() => undefined);
  if (!st || !st.isFile()) throw new TillsyncError('EXPORT_NOT_FOUND', `no export named ${name}`);
  return { stream: createReadStream(path), bytes: st.size };
}
