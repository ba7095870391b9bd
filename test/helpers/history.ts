/**
 * Builds a long history fast for maintenance tests: sales (sale.completed +
 * cash payment) and account deltas appended in large groups through the real
 * EventLog, with a clock set in the past so retention rules apply.
 */
import { monotonicFactory } from 'ulid';
import type { EventDraft } from '../../src/events/event-types.ts';
import type { Terminal } from '../../src/terminal/terminal.ts';

export async function appendHistory(term: Terminal, events: number, opts: { time: number; group?: number }): Promise<void> {
  const ulid = monotonicFactory();
  const group = opts.group ?? 600;
  let made = 0;
  while (made < events) {
    const drafts: EventDraft[] = [];
    while (drafts.length < group && made + drafts.length < events) {
      const left = events - made - drafts.length;
      if (left >= 2 && drafts.length + 2 <= group) {
        const id = ulid(opts.time);
        const qty = 1 + (made % 3);
        drafts.push({ type: 'sale.completed', id, time: opts.time, body: { currency: 'USD', lines: [{ item: 'itm-cola', name: 'Cola can 330ml', qty, unitPrice: 150, discount: 0, tax: 0 }], subtotal: 150 * qty, discount: 0, tax: 0, total: 150 * qty } });
        drafts.push({ type: 'payment.taken', time: opts.time, body: { sale: id, tender: 'cash', amount: 150 * qty, tendered: 1_000, change: 1_000 - 150 * qty } });
      } else {
        drafts.push({ type: 'balance.delta', time: opts.time, body: { customer: 'cus-ana', delta: 1, reason: 'adjustment' } });
      }
    }
    await term.log.append(drafts);
    made += drafts.length;
  }
}
