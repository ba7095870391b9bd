/** Size on disk of a LevelDB folder (F1 "log size on disk"): the sum of its files. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      total += (await stat(join(dir, e.name))).size;
    } catch {
      // A file removed by compaction between readdir and stat: skip it.
    }
  }
  return total;
}
