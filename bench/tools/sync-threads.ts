/**
 * Where the CPU of one sync-up (bench/sync.ts case (a)) goes, without a
 * profiler: ev/s, CPU per event of the cloud and the terminal, and the cloud's
 * CPU per event by thread (main, decode worker, LevelDB, libuv pool), for the
 * real worker and the raw baseline, `runs` times each, interleaved:
 *
 *   npx tsx bench/tools/sync-threads.ts [events=200000] [runs=1]
 *
 * CLOUD_FLAGS / TERMINAL_FLAGS add node flags to the cloud's / the terminal's
 * process (after the deployed ones), e.g. `CLOUD_FLAGS=--v8-pool-size=2`.
 */
import { join } from 'node:path';
import { buildTerminal, fixtures, syncUp } from '../sync.ts';
import { perSecond, withTempDir } from '../lib.ts';

const events = Number(process.argv[2] ?? 200_000);
const runs = Number(process.argv[3] ?? 1);
const fx = fixtures(1);
const flags = (name: string): string[] => process.env[name]?.split(' ').filter(Boolean) ?? [];
await withTempDir('sync-threads', async (root) => {
  const one = [{ dir: join(root, 'pristine'), terminal: 't-one' }];
  const head = await buildTerminal(one[0]!.dir, 't-one', events, 11, fx);
  for (let r = 1; r <= runs; r++) {
    for (const mode of ['worker', 'raw'] as const) {
      const x = await syncUp(mode, root, one, fx, { cloud: flags('CLOUD_FLAGS'), terminal: flags('TERMINAL_FLAGS') });
      const threads = (t: Record<string, number>): string =>
        Object.entries(t)
          .filter(([, us]) => us >= 0.05)
          .sort((a, b) => b[1] - a[1])
          .map(([name, us]) => `${name} ${us.toFixed(1)}`)
          .join(', ');
      console.log(
        `run ${r} ${mode.padEnd(6)} ${head} events: ${Math.round(perSecond(x.events, x.ms))} ev/s; CPU µs/event cloud ${x.cloudCpuUs.toFixed(1)} ` +
          `[${threads(x.cloudThreadsUs)}], terminal ${x.terminalCpuUs.toFixed(1)} [${threads(x.terminalThreadsUs)}]; peak RSS cloud ${x.cloudMb.toFixed(0)} MB (anon ${x.cloudAnonMb.toFixed(0)}), ` +
          `terminal ${x.terminalMb.toFixed(0)} MB (anon ${x.terminalAnonMb.toFixed(0)})`,
      );
    }
  }
});
