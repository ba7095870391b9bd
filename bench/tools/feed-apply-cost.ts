/**
 * Terminal-side cost of applying downloaded feed changes (what the download
 * loop does per page): parseChange per change, then `log.applyChanges(page)`
 * (views + cursor in one synced write), on a real Terminal folder.
 *
 *   npx tsx bench/tools/feed-apply-cost.ts [pages=50] [pageSize=200] [customers=2000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChange } from '../../src/events/validate.ts';
import { Terminal } from '../../src/terminal/terminal.ts';

const pages = Number(process.argv[2] ?? 50);
const pageSize = Number(process.argv[3] ?? 200);
const customers = Number(process.argv[4] ?? 2000);
const dir = await mkdtemp(join(tmpdir(), 'feed-apply-'));
try {
  const term = await Terminal.open(dir, { store: 's1', terminal: 't-00' });
  const includes: Record<string, number> = { 't-00': 5 };
  let cursor = 0;
  const raw = (): unknown[] =>
    Array.from({ length: pageSize }, () => {
      cursor++;
      return { cursor, type: 'balance.state', body: { customer: `c-${String(cursor % customers).padStart(5, '0')}`, balance: 1000 + cursor, includes } };
    });
  let parseMs = 0;
  let applyMs = 0;
  for (let p = 0; p < pages; p++) {
    const page = raw();
    const t0 = performance.now();
    const changes = page.map((c) => parseChange(c));
    const t1 = performance.now();
    await term.log.applyChanges(changes, cursor);
    const t2 = performance.now();
    if (p >= 5) {
      parseMs += t1 - t0;
      applyMs += t2 - t1;
    }
  }
  const n = (pages - 5) * pageSize;
  console.log(`${n} changes in pages of ${pageSize}: parseChange ${((parseMs * 1000) / n).toFixed(2)} µs/change, applyChanges ${((applyMs * 1000) / n).toFixed(2)} µs/change (${(applyMs / (pages - 5)).toFixed(2)} ms/page)`);
  await term.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
