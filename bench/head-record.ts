/**
 * The cost of the head record (issue 15, 1.1): durable sale appends through
 * `EventLog.append` with the head record (one extra 256-byte pwrite +
 * fdatasync per batch that moves the head) and without it, alternating in one
 * run on the same sale groups, at 1, 16 and 64 concurrent callers.
 *   npx tsx bench/head-record.ts [--runs 3]
 */
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { EventLog } from '../src/events/event-log.ts';
import { generateCatalog } from '../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../src/fixtures/sales.ts';
import { median, perSecond, runConcurrent, withTempDir } from './lib.ts';

const CASES: ReadonlyArray<readonly [number, number]> = [[1, 500], [16, 3000], [64, 8000]];
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

const catalog = generateCatalog({ seed: 1, items: 2000 });
const customers = generateCustomers({ seed: 2, count: 500 });
const vouchers = generateVouchers({ seed: 3, count: 100 });
const sales = [...generateSales({ seed: 4, catalog, customers, vouchers, count: 8000 })];
const ulid = monotonicFactory();

const samples = new Map<string, number[]>();
for (let r = 1; r <= RUNS; r++) {
  for (const [concurrency, n] of CASES) {
    for (const headRecord of r % 2 === 1 ? [true, false] : [false, true]) {
      const groups = sales.slice(0, n).map((s) => saleToDrafts(s, ulid()));
      await withTempDir('head-record', async (dir) => {
        const log = await EventLog.open(join(dir, 'log'), { store: 'bench-store', terminal: 'bench-t1', headRecord });
        const t0 = performance.now();
        await runConcurrent(groups.length, concurrency, (i) => log.append(groups[i]!));
        const ms = performance.now() - t0;
        await log.close();
        const key = `${concurrency} caller(s), head record ${headRecord ? 'on ' : 'off'}`;
        samples.set(key, [...(samples.get(key) ?? []), perSecond(n, ms)]);
        console.log(`run ${r}/${RUNS} ${key}: ${Math.round(perSecond(n, ms))} sales/s`);
      });
    }
  }
}
console.log('\nmedians (sales/s):');
for (const [concurrency] of CASES) {
  const on = median(samples.get(`${concurrency} caller(s), head record on `)!);
  const off = median(samples.get(`${concurrency} caller(s), head record off`)!);
  console.log(`${concurrency} caller(s): on ${Math.round(on)}, off ${Math.round(off)}, on/off ${(on / off).toFixed(2)}`);
}
