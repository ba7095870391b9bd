/**
 * CPU profiles of one sync-up (bench/sync.ts case (a), real worker and cloud),
 * both processes started with --cpu-prof:
 *
 *   npx tsx bench/tools/profile-sync.ts [events=200000] [profDir=/tmp/prof-sync] [terminals=1]
 *   npx tsx bench/tools/cpuprofile-summary.ts /tmp/prof-sync/cloud/<file>.cpuprofile
 *   npx tsx bench/tools/cpuprofile-summary.ts /tmp/prof-sync/terminal/<file>.cpuprofile
 *
 * With terminals > 1 (case (b)), each terminal has `events` events and the
 * terminals run 5 to a process, as in the bench. CLOUD_FLAGS replaces the
 * cloud's node flags, e.g. `CLOUD_FLAGS=--trace-gc` to see its collections
 * (one isolate per thread: main and decode worker) instead of a profile.
 */
import { join } from 'node:path';
import { buildTerminal, fixtures, syncUp } from '../sync.ts';
import { perSecond, withTempDir } from '../lib.ts';

const events = Number(process.argv[2] ?? 200_000);
const profDir = process.argv[3] ?? '/tmp/prof-sync';
const terminals = Number(process.argv[4] ?? 1);
const fx = fixtures(1);
await withTempDir('profile-sync', async (root) => {
  const pristine = Array.from({ length: terminals }, (_, i) => ({ dir: join(root, `pristine-${i}`), terminal: `t-${String(i).padStart(2, '0')}` }));
  let head = 0;
  for (const [i, p] of pristine.entries()) head += await buildTerminal(p.dir, p.terminal, events, 11 + i, fx);
  const prof = (who: string) => ['--cpu-prof', `--cpu-prof-dir=${join(profDir, who)}`];
  const cloud = process.env.CLOUD_FLAGS ? process.env.CLOUD_FLAGS.split(' ') : prof('cloud');
  const r = await syncUp('worker', root, pristine, fx, { cloud, terminal: prof('terminal') }, 5);
  console.log(`${head} events: ${Math.round(perSecond(r.events, r.ms))} ev/s in ${(r.ms / 1000).toFixed(1)} s; peak RSS cloud ${r.cloudMb.toFixed(0)} MB, terminal ${r.terminalMb.toFixed(0)} MB; profiles in ${profDir}/{cloud,terminal}`);
});
