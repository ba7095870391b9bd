/**
 * Where the tests' PostgreSQL is: PG_URL if set, else the URL scripts/test-deps.sh
 * settled on (.test-deps/pg-url, written by `npm test`'s pretest), else the
 * default local server. An empty PG_URL counts as unset, as in the script.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PG_URL_FILE = fileURLToPath(new URL('../../.test-deps/pg-url', import.meta.url));
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function pgUrl(): string {
  if (process.env.PG_URL) return process.env.PG_URL;
  try {
    const line = readFileSync(PG_URL_FILE, 'utf8').trim();
    if (line) return line;
  } catch {
    // no file: npm test's pretest has not run here; the default is the last guess
  }
  return DEFAULT_PG_URL;
}
