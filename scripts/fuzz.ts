/**
 * npm run fuzz -- [--requests 100000] [--seed N] [--concurrency 4] [--max-rss-mb 1024] [--dir PATH]
 * The seeded request fuzzer over every cloud /v1 route and every agent /api
 * route (test/helpers/fuzz.ts). Exit 0 when no answer broke a rule, 3 otherwise;
 * `--seed` replays a run's requests exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runFuzz } from '../test/helpers/fuzz.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '100000' }, seed: { type: 'string' }, concurrency: { type: 'string', default: '4' },
    'max-rss-mb': { type: 'string', default: '1024' }, dir: { type: 'string' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const maxRssMb = Number(values['max-rss-mb']);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (![requests, concurrency, maxRssMb, seed].every((n) => Number.isInteger(n) && n >= 0) || requests < 1 || concurrency < 1) {
  console.error('VALIDATION_FAILED: --requests, --concurrency, --max-rss-mb and --seed take whole numbers (requests, concurrency >= 1)');
  process.exit(2);
}
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'tillsync-fuzz-'));
console.log(`fuzz: ${requests} requests, seed ${seed}, concurrency ${concurrency}, data ${dir}`);
const stats = await runFuzz({
  requests, seed, dir, concurrency, maxRssMb,
  onProgress: (done, s) => {
    if (done % 5000 === 0) console.log(`${done}/${requests}: ${s.violations} violations, max RSS ${s.maxRssMb} MB`);
  },
});
const sorted = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`fuzz done in ${(stats.ms / 1000).toFixed(0)} s: ${stats.requests} requests, seed ${stats.seed}, ${stats.violations} violations`);
console.log(`statuses: ${sorted(stats.statuses)}`);
console.log(`codes (${Object.keys(stats.codes).length}): ${sorted(stats.codes)}`);
console.log(`kinds: ${sorted(stats.kinds)}`);
console.log(`RSS: ${stats.startRssMb} MB at start, ${stats.maxRssMb} MB at most; healthy after: ${stats.healthyAfter}`);
for (const e of stats.examples) console.log(`VIOLATION ${e}`);
if (values.dir === undefined) rmSync(dir, { recursive: true, force: true });
process.exit(stats.violations === 0 && stats.healthyAfter ? 0 : 3);
