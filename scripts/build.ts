/**
 * Compiles the product to plain JavaScript in `dist/` (or the folder given):
 *
 *   npm run build                 # → dist/src/cli/main.js, the deployable CLI
 *   npx tsx scripts/build.ts OUT  # elsewhere (tests, benchmarks)
 *
 * In a clone `bin/tillsync.js` runs the TypeScript sources through tsx (a
 * devDependency), which is what development and the tests use; installed from
 * the package (`npm pack` builds first: prepack) it runs these compiled files,
 * and package.json `exports` points at `dist/src/index.js` and its
 * declarations. A deployment runs the compiled files too
 * (`node dist/src/cli/main.js cloud ...`): the same code with the types erased
 * by tsc (tsconfig.build.json), without tsx's loader, whose hooks thread and
 * transform cache cost ~30 MB of RSS in every process and worker that loads it.
 * The sync benchmark's children run from such a build (bench/sync.ts).
 *
 * Besides the .js and .d.ts files, the build copies the files read at run
 * time (the terminal's pages, the dashboard's assets).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How a deployment runs the compiled cloud: `bin/tillsync-cloud` execs
 * `node <CLOUD_RUNTIME.execArgv> dist/src/cli/main.js cloud ...` with
 * CLOUD_RUNTIME.env added to its environment, and the sync benchmark runs its
 * cloud the same way (test/cli/build.test.ts checks that the launcher does).
 *
 * The cloud's live heap is small (a heap snapshot in the middle of bench (b),
 * 50 terminals reconnecting at once: 42 MB, 16 MB of it buffers); its peak RSS
 * was mostly garbage V8 had not collected yet and memory malloc kept. Peak RSS
 * of the cloud in bench (b), one run each: 375 MB with none of these, 335
 * with 4 MB semi-spaces, 354 with two malloc arenas, 320 with both, 249 with
 * the heap growing factor of 2 on top (234 with 1.2, but that took sync-up (a)
 * from ~52k to ~43k events/s). Full-scale bench runs with the growing factor
 * and arenas: 4 MB semi-spaces 266–268 MB, but (b) and (c) slower than
 * without; default semi-spaces 306–309 MB; 8 MB semi-spaces 270–276 MB with
 * (a), (b) and (c) as fast as the fastest runs: kept.
 * - `--max-semi-space-size=8` (MB): V8's young generation of the main thread
 *   (16 MB semi-spaces by default) holds only a batch's short-lived objects.
 * - `--heap-growing-percent=100`: the next full GC when the old generation has
 *   doubled since the last one (V8 otherwise lets a small heap grow up to 4×,
 *   and the request and feed buffers that died meanwhile wait for that GC).
 * - `MALLOC_ARENA_MAX=2`: glibc otherwise gives each of the cloud's threads
 *   (libuv pool, LevelDB, the decode worker) arenas of its own that stay mapped.
 */
export const CLOUD_RUNTIME = {
  execArgv: ['--max-semi-space-size=8', '--heap-growing-percent=100'],
  env: { MALLOC_ARENA_MAX: '2' },
} as const;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Files the compiled code reads next to itself, relative to the repository. */
const ASSETS = ['src/terminal/pages', 'src/server/dashboard/assets'];

/**
 * Builds into `outDir` (emptied first) and returns the compiled CLI's path.
 * `outDir` must be inside the repository, so the compiled files find its
 * node_modules; it gets its own package.json saying the .js files are ES modules.
 */
export function buildDist(outDir = join(ROOT, 'dist')): string {
  const out = resolve(outDir);
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/lib/tsc.js'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    // tsc is a plain program: it needs none of the caller's loaders (tsx).
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  for (const a of ASSETS) cpSync(join(ROOT, a), join(out, a), { recursive: true });
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'module', private: true })}\n`);
  return join(out, 'src/cli/main.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cli = buildDist(process.argv[2]);
  console.error(`built ${cli}`); // stderr: `npm pack --json` (prepack) keeps stdout for its JSON
}
