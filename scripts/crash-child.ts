/**
 * Crash-test child: completes sales from many concurrent callers and prints one
 * line per ACKNOWLEDGED sale ("ack <saleId> <seq> <events>"), flushed before the
 * next sale starts. The parent SIGKILLs it at random moments.
 *
 * argv: <dataDir> <concurrency>
 */
import { openSmallStore } from '../test/helpers/small-store.ts';

const [dir, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 16);
const term = await openSmallStore(dir!, { isOffline: () => false, settings: { offlineStoredValue: 'allow' } });
process.stdout.write(`ready ${term.log.head.seq}\n`);

const card = { token: 'tok_crash_0001', brand: 'visa' as const, last4: '1111', authCode: 'OK' };
let n = 0;
async function caller(): Promise<void> {
  for (;;) {
    const i = n++;
    const r = await term.completeSale({
      customer: i % 2 === 0 ? 'cus-ana' : undefined,
      lines: [{ item: 'itm-cola', qty: 1 + (i % 3) }, { item: 'itm-cafe', qty: 1 }],
      payments: i % 3 === 0
        ? [{ tender: 'card', amount: 100, card }, { tender: 'cash', tendered: 2_000 }]
        : i % 3 === 1 ? [{ tender: 'cash', tendered: 2_000 }]
        : [{ tender: 'card', amount: 1, card }, { tender: 'cash', tendered: 2_000 }],
    } as never);
    process.stdout.write(`ack ${r.sale} ${r.seq} ${r.events}\n`);
  }
}
await Promise.all(Array.from({ length: concurrency }, caller));
