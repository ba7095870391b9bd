/**
 * npm run soak:crash -- [--kills 1000] [--seed N] [--dir PATH]
 * The long kill -9 soak: >= 1,000 SIGKILLs of a terminal appending sales from
 * 16 concurrent callers, checking after every restart (see crash-harness.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCrashCycles } from './crash-harness.ts';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '1000' }, seed: { type: 'string' }, dir: { type: 'string' } } });
const kills = Number(values.kills);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(kills) || kills < 1) {
  console.error('VALIDATION_FAILED: --kills takes a positive whole number');
  process.exit(2);
}
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'tillsync-soak-'));
console.log(`soak: ${kills} kills, seed ${seed}, data ${dir}`);
const started = Date.now();
const result = await runCrashCycles({
  dir, cycles: kills, seed, compareEvery: 25,
  onCycle: (r) => {
    if (r.cycle % 25 === 0 || r.problems.length > 0) {
      console.log(`kill ${r.cycle}/${kills}: ${r.totalAcked} sales acknowledged so far, log head ${r.headSeq}${r.problems.length ? `, PROBLEMS: ${r.problems.join('; ')}` : ''}`);
    }
  },
});
console.log(`soak done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${result.kills} kills, ${result.acked} acknowledged sales, ${result.problems.length} problems`);
if (values.dir === undefined && result.problems.length === 0) rmSync(dir, { recursive: true, force: true });
if (result.problems.length > 0) {
  for (const p of result.problems) console.log(`  ${p}`);
  process.exit(1);
}
