/**
 * The one way tillsync replaces a small private file (agent.json, pairings,
 * staff accounts, the operation journal, kept day reports).
 *
 * Guarantees:
 * - All or nothing: the text goes to a temp file, is fsynced, renamed over the
 *   target, and the folder is fsynced, so a crash leaves the old file or the new
 *   one, never a torn one, and a completed write survives power loss.
 * - Mode 0600 from birth (these files hold credentials and PIN hashes).
 * - Writes to one path are serialized in this process: two at once (two
 *   requests setting the credential) used to share one temp file, and the second
 *   rename failed with ENOENT. The last write to start is the one that stays.
 */
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PRIVATE_FILE_MODE } from './private-dir.ts';

const queues = new Map<string, Promise<void>>();

export async function writePrivateFileAtomic(path: string, text: string): Promise<void> {
  const before = queues.get(path) ?? Promise.resolve();
  const mine = before.catch(() => {}).then(() => replace(path, text));
  const settled = mine.catch(() => {});
  queues.set(path, settled);
  try {
    await mine;
  } finally {
    if (queues.get(path) === settled) queues.delete(path);
  }
}

async function replace(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
