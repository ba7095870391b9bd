// An audit while the till keeps selling (found by the fuzzer): verify({ full: true })
// ran outside the writer, and an append committed meanwhile made it compare the
// verified chain with the new head — a false "head hash does not match", the log
// marked corrupted, and every later sale refused with LOG_CORRUPTED.
import t from 'tap';
import { EventLog } from '../../src/events/event-log.ts';
import type { EventDraft } from '../../src/events/event-types.ts';

const sale = (n: number): EventDraft => ({
  type: 'sale.completed',
  body: { currency: 'EUR', lines: [{ item: 'i1', name: 'Tea', qty: 1, unitPrice: n, discount: 0, tax: 0 }], subtotal: n, discount: 0, tax: 0, total: n },
});

t.test('verify while appends commit: ok, the log stays healthy, sales go on', async (t) => {
  const log = await EventLog.open(t.testdir(), { store: 's1', terminal: 't1' });
  t.teardown(() => log.close());
  for (let i = 0; i < 20; i++) await log.append(Array.from({ length: 250 }, (_, j) => sale(100 + j)));
  for (let round = 0; round < 5; round++) {
    let done = false;
    const verifying = log.verify({ full: true }).finally(() => { done = true; });
    let appended = 0;
    while (!done && appended < 200) {
      await log.append([sale(1)]);
      appended++;
    }
    const report = await verifying;
    t.ok(appended > 0, `round ${round}: ${appended} sales committed while verifying`);
    t.equal(report.ok, true, `round ${round}: verify ok (${JSON.stringify(report.problem)})`);
    t.equal(log.health.state, 'ok', 'the log stays healthy');
  }
  t.equal((await log.append([sale(2)])).length, 1, 'a sale after the audits is taken');
});
