/**
 * Inputs for the tests that hold a fast path to its slow one: fixture drafts
 * of every upstream event type, and seeded random mutations of decoded values.
 */
import { monotonicFactory } from 'ulid';
import type { EventDraft } from '../../src/events/event-types.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import type { Rng } from '../../src/fixtures/prng.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';

/** Drafts of every upstream type: fixture sales (all tenders) plus the rest by hand. */
export function sampleDrafts(seed: number): EventDraft[] {
  const catalog = generateCatalog({ seed, items: 300 });
  const customers = generateCustomers({ seed: seed + 1, count: 50 });
  const vouchers = generateVouchers({ seed: seed + 2, count: 20 });
  const ulid = monotonicFactory();
  const drafts = [...generateSales({ seed: seed + 3, catalog, customers, vouchers, count: 60 })].flatMap((s) => saleToDrafts(s, ulid()));
  const sale = drafts[0]!.id ?? ulid();
  drafts.push(
    { type: 'sale.refunded', body: { sale, amount: 500, tender: 'account', customer: 'c-1', reason: 'damaged' } },
    { type: 'sale.refunded', body: { sale, amount: 500, tender: 'voucher', voucher: 'V-1234', reason: 'returned' } },
    { type: 'sale.voided', body: { sale, reason: 'mistake' } },
    { type: 'balance.delta', body: { customer: 'c-1', delta: -250, reason: 'adjustment', note: 'goodwill' } },
    { type: 'voucher.issued', body: { voucher: 'V-9999', amount: 1000, reason: 'refund', sale } },
    { type: 'voucher.redeemed', body: { voucher: 'V-9999', amount: 400 } },
    { type: 'sale.completed', body: { currency: 'USD', lines: [{ item: 'i1', name: 'Tea', qty: 1, unitPrice: 100, discount: 0, tax: 0 }], subtotal: 100, discount: 0, tax: 0, total: 100 }, id: ulid(), time: 1_700_000_000_000 },
  );
  return drafts;
}

export const REPLACEMENTS: ReadonlyArray<(rng: Rng) => unknown> = [
  () => -1, () => 0, () => 1.5, () => 2 ** 53, () => Number.NaN, () => '12', () => '', () => null, () => true,
  () => ({}), () => [], () => '4111111111111111', () => '4111 1111 1111 1111', () => '123', () => 'x'.repeat(300),
  () => '01HZX3K8Q9V7D2M4N6P8R0S2T4', () => 'cash', () => 'visa', () => 'refund', () => 'USD',
  (rng) => rng.int(-1000, 100_000), () => ({ a: { b: { c: { d: { e: { f: { g: { h: { i: { j: { k: { l: 1 } } } } } } } } } } } }),
];

/** Every [parent, key] inside `value` (objects and arrays), the root's own keys included. */
function slots(value: unknown, out: Array<[Record<string, unknown>, string]> = []): Array<[Record<string, unknown>, string]> {
  if (value === null || typeof value !== 'object') return out;
  for (const k of Object.keys(value)) {
    out.push([value as Record<string, unknown>, k]);
    slots((value as Record<string, unknown>)[k], out);
  }
  return out;
}

export function mutate(value: Record<string, unknown>, rng: Rng): void {
  const all = slots(value);
  const [parent, key] = all.length > 0 ? rng.pick(all) : [value, 'type'];
  const op = rng.int(0, 5);
  if (op === 0) delete parent[key];
  else if (op === 1) {
    // An own key, as JSON.parse makes one: `parent.__proto__ = x` would instead swap parent's prototype
    // (an array that is no longer iterable, which no wire format can carry).
    const k = rng.pick(['extra', '__proto__', 'constructor', 'note', 'customer', 'voucher', 'sale', 'id', 'time']);
    Object.defineProperty(parent, k, { value: rng.pick(REPLACEMENTS)(rng), enumerable: true, writable: true, configurable: true });
  }
  else parent[key] = rng.pick(REPLACEMENTS)(rng);
}
