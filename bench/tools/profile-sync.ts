/**
 * CPU profiles of one sync-up (bench/sync.ts case (a), real worker and cloud),
 * both processes started with --cpu-prof:
 *
 *   npx tsx bench/tools/profile-sync.ts [events=200000] [profDir=/tmp/prof-sync]
 *   npx tsx bench/tools/cpuprofile-summary.ts /tmp/prof-sync/cloud/<file>.cpuprofile
 *   npx tsx bench/tools/cpuprofile-summary.ts /tmp/prof-sync/terminal/<file>.cpuprofile
 */
import { join } from 'node:path';
import { buildTerminal, fixtures, syncUp } from '../sync.ts';
import { perSecond, withTempDir } from '../lib.ts';

const events = Number(process.argv[2] ?? 200_000);
const profDir = process.argv[3] ?? '/tmp/prof-sync';
const fx = fixtures(1);
await withTempDir('profile-sync', async (root) => {
  const one = [{ dir: join(root, 'pristine'), terminal: 't-one' }];
  const head = await buildTerminal(one[0]!.dir, 't-one', events, 11, fx);
  const prof = (who: string) => ['--cpu-prof', `--cpu-prof-dir=${join(profDir, who)}`];
  const r = await syncUp('worker', root, one, fx, { cloud: prof('cloud'), terminal: prof('terminal') });
  console.log(`${head} events: ${Math.round(perSecond(r.events, r.ms))} ev/s in ${(r.ms / 1000).toFixed(1)} s; peak RSS cloud ${r.cloudMb.toFixed(0)} MB, terminal ${r.terminalMb.toFixed(0)} MB; profiles in ${profDir}/{cloud,terminal}`);
});
