/**
 * A real small disk for full-disk tests and the fault simulator: a tmpfs of
 * `sizeMb` mounted on a new private folder (root only). Where mounting is not
 * allowed, `mounted` is false and `why` says so: the callers skip, saying so;
 * nothing is simulated.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallDisk {
  path: string;
  mounted: boolean;
  /** Why it could not be mounted (when `mounted` is false). */
  why?: string;
  /** Fills the disk to its last byte; answers the filler's path (remove it to free the space). */
  fill(): string;
  /** Unmounts (lazily) and removes the folder. */
  remove(): void;
}

export function mountSmallDisk(sizeMb: number, at = mkdtempSync(join(tmpdir(), 'tillsync-smalldisk-'))): SmallDisk {
  let mounted = false;
  let why: string | undefined;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', at], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    why = `mount -t tmpfs not allowed here (${String(err).split('\n')[0]})`;
  }
  return {
    path: at,
    mounted,
    ...(why ? { why } : {}),
    fill() {
      const filler = join(at, 'filler');
      // Big chunks first, then ever smaller ones, down to the last byte.
      for (const size of [1 << 20, 64 << 10, 4096, 512, 1]) {
        try {
          for (;;) writeFileSync(filler, Buffer.alloc(size, 1), { flag: 'a' });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        }
      }
      return filler;
    },
    remove() {
      if (mounted) execFileSync('umount', ['-l', at]);
      mounted = false;
      rmSync(at, { recursive: true, force: true });
    },
  };
}
