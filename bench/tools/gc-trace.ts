/**
 * The cloud's garbage collections during one sync-up (bench/sync.ts case (a)):
 * runs the cloud child with `--trace-gc` (or CLOUD_ARGS, e.g. `--heap-prof`),
 * whose lines name the isolate (the main thread or the decode worker) and
 * each pause:
 *
 *   npx tsx bench/tools/gc-trace.ts [events=300000]
 */
import { join } from 'node:path';
import { buildTerminal, fixtures, syncUp } from '../sync.ts';
import { perSecond, withTempDir } from '../lib.ts';

const events = Number(process.argv[2] ?? 300_000);
const fx = fixtures(1);
await withTempDir('gc-trace', async (root) => {
  const one = [{ dir: join(root, 'pristine'), terminal: 't-one' }];
  await buildTerminal(one[0]!.dir, 't-one', events, 11, fx);
  const r = await syncUp('worker', root, one, fx, { cloud: (process.env.CLOUD_ARGS ?? '--trace-gc').split(' '), terminal: [] });
  console.log(`${r.events} events: ${Math.round(perSecond(r.events, r.ms))} ev/s (the cloud's GC lines above, one isolate per thread)`);
});
