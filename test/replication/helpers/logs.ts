// Real terminal logs in temp folders, filled with real sale groups.
import type { Test } from 'tap';
import { monotonicFactory } from 'ulid';
import { EventLog, type Clock } from '../../../src/events/event-log.ts';
import type { EventDraft } from '../../../src/events/event-types.ts';
import { freshDir } from './dirs.ts';
import { saleToDrafts, type PaymentInput } from '../../../src/fixtures/sales.ts';

const ulid = monotonicFactory();

export async function openLog(t: Test, opts: { store?: string; terminal?: string; dir?: string; clock?: Clock } = {}): Promise<EventLog> {
  const log = await EventLog.open(opts.dir ?? freshDir(t, 'log'), {
    store: opts.store ?? 's1',
    terminal: opts.terminal ?? 't1',
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  t.teardown(async () => {
    if (!log.isClosed) await log.close();
  });
  return log;
}

/** One sale of `amount` cents paid with `payment` (default cash): sale.completed + payment.taken (+ stored-value event). */
export function saleGroup(amount: number, payment?: PaymentInput, opts: { customer?: string; currency?: string } = {}): EventDraft[] {
  const p: PaymentInput = payment ?? { tender: 'cash', amount, tendered: amount, change: 0 };
  return saleToDrafts(
    {
      lines: [{ item: 'i1', name: 'Tea', qty: 1, unitPrice: amount, discount: 0, tax: 0 }],
      ...(opts.customer ? { customer: opts.customer } : {}),
      payments: [p],
    },
    ulid(),
    { currency: opts.currency ?? 'EUR' },
  );
}

/** Appends `count` cash sales (2 events each). */
export async function appendSales(log: EventLog, count: number, amount = 500): Promise<void> {
  for (let i = 0; i < count; i++) await log.append(saleGroup(amount));
}
