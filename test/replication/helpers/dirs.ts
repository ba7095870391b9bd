// Temp folders: t.testdir() recreates (empties) the test's folder on every call,
// so it is called once per test and sub-folders are handed out from it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';

const bases = new WeakMap<Test, string>();
let n = 0;

export function freshDir(t: Test, name: string): string {
  let base = bases.get(t);
  if (!base) bases.set(t, (base = t.testdir()));
  const dir = join(base, `${name}-${++n}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
