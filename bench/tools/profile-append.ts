/**
 * Drives only `EventLog.append` (sale groups, N concurrent callers) for CPU
 * profiling, without the raw baselines in the profile:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/tools/profile-append.ts [sales] [callers]
 *   npx tsx bench/tools/cpuprofile-summary.ts /tmp/prof/<file>.cpuprofile
 */
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { EventLog } from '../../src/events/event-log.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';
import { perSecond, runConcurrent, withTempDir } from '../lib.ts';

const sales = Number(process.argv[2] ?? 30_000);
const callers = Number(process.argv[3] ?? 64);
const catalog = generateCatalog({ seed: 1, items: 20_000 });
const customers = generateCustomers({ seed: 2, count: 2000 });
const vouchers = generateVouchers({ seed: 3, count: 500 });
const ulid = monotonicFactory();
const groups = [...generateSales({ seed: 4, catalog, customers, vouchers, count: sales })].map((s) => saleToDrafts(s, ulid()));
const events = groups.reduce((n, g) => n + g.length, 0);

await withTempDir('profile', async (dir) => {
  const log = await EventLog.open(join(dir, 'log'), { store: 'bench-store', terminal: 'bench-t1' });
  const t0 = performance.now();
  await runConcurrent(groups.length, callers, (i) => log.append(groups[i]!));
  const ms = performance.now() - t0;
  console.log(`${sales} sales / ${events} events, ${callers} callers: ${Math.round(perSecond(events, ms))} ev/s, ${Math.round(perSecond(sales, ms))} sales/s`);
  await log.close();
});
