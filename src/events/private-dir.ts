/**
 * Data folders are private to the user tillsync runs as: folders 0700, files
 * 0600 (they hold customers' names, balances and the terminal's credential).
 *
 * `makePrivateDir(dir)` is called by every site that opens a data folder
 * (`openLevel`, the terminal agent's folder). It
 * - masks group and world bits in the process's umask (077) from then on: LevelDB
 *   keeps creating table, log and manifest files for as long as it runs, and
 *   this is the one way they are all born 0600 / 0700;
 * - creates the folder 0700 if missing;
 * - checks what is there on start: a folder or file open to group or world
 *   (an older install, a copy, a restore) is made private, with a process
 *   warning (code DATA_DIR_NOT_PRIVATE) naming the folder; if that fails (not
 *   the owner) it refuses with DATA_DIR_NOT_PRIVATE.
 * The folder named may be a symbolic link (systemd's StateDirectory with
 * DynamicUser=yes is /var/lib/NAME → /var/lib/private/NAME; a path pointed at a
 * volume): the folder it points to is checked. Links inside it are never
 * followed, so nothing outside the folder is changed.
 */
import { isMainThread } from 'node:worker_threads';
import { chmod, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TillsyncError } from '../errors.ts';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
const OPEN_BITS = 0o077;

/** Masks group and world bits for every file this process creates from now on. */
export function maskGroupAndWorld(): void {
  // Worker threads cannot set the umask; they share the main thread's.
  if (isMainThread) process.umask(process.umask() | OPEN_BITS);
}

/** Creates `dir` (0700) if missing and makes it and everything in it private; see the file comment. */
export async function makePrivateDir(dir: string): Promise<void> {
  maskGroupAndWorld();
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const loosened: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    await tighten(d, PRIVATE_DIR_MODE, loosened, d === dir);
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) await tighten(p, PRIVATE_FILE_MODE, loosened);
    }
  }
  if (loosened.length > 0) {
    process.emitWarning(`data folder ${dir} was open to other users (${loosened.length} entries): made private (folders 0700, files 0600)`, {
      code: 'DATA_DIR_NOT_PRIVATE',
    });
  }
}

async function tighten(path: string, mode: number, loosened: string[], followLink = false): Promise<void> {
  let st;
  try {
    st = await (followLink ? stat(path) : lstat(path));
  } catch {
    return; // removed meanwhile (a compaction): nothing to protect
  }
  if ((st.mode & OPEN_BITS) === 0) return;
  try {
    await chmod(path, mode);
  } catch (err) {
    throw new TillsyncError('DATA_DIR_NOT_PRIVATE', `${path} is open to other users and cannot be made private`, { cause: err });
  }
  loosened.push(path);
}
