/**
 * A schedule of the fault simulator as a pure function of its seed: the
 * stores, their catalogs, and the steps (sales, back-office changes,
 * maintenance, faults). Nothing here depends on how a run went, so
 * `npm run sim -- --seed N` replays the same steps and faults.
 */
import { createRng, type Rng } from '../../src/fixtures/prng.ts';
import { LINK_FAULTS, type LinkFault } from './link-proxy.ts';

export interface PlanItem { id: string; sku: string; name: string; barcodes: string[]; price: number; taxRate: number }
export interface PlanStore {
  id: string;
  offline: 'allow' | 'cap' | 'forbid';
  terminals: string[];
  items: PlanItem[];
  customers: Array<{ id: string; name: string; openingBalance: number }>;
  vouchers: Array<{ code: string; amount: number }>;
}

export type Payment =
  | { tender: 'cash'; tendered: number }
  | { tender: 'card'; amount: number; card: { token: string; brand: 'visa'; last4: string; authCode: string } }
  | { tender: 'account'; amount: number; customer: string }
  | { tender: 'voucher'; amount: number; voucher: string };
export interface SaleSpec { lines: Array<{ item: string; qty: number }>; customer?: string; payments: Payment[] }

export type Step =
  | { op: 'sell'; terminal: number; sales: SaleSpec[]; concurrency: number }
  | { op: 'kill-terminal'; terminal: number; sales: SaleSpec[]; afterMs: number }
  | { op: 'adjust'; terminal: number; customer: string; delta: number }
  /** Refunds part of, or voids, the terminal's latest acknowledged sale (if it has one). */
  | { op: 'refund'; terminal: number; amount: number; tender: 'cash' | 'account' | 'voucher'; customer: string; voucher: string }
  | { op: 'void'; terminal: number }
  | { op: 'price'; store: number; item: string; price: number }
  | { op: 'new-customer'; store: number; id: string; openingBalance: number }
  | { op: 'offline-policy'; store: number; offline: 'allow' | 'cap' | 'forbid' }
  | { op: 'local-mode'; terminal: number; on: boolean }
  | { op: 'link-flaky'; terminal: number; rate: number; kinds: LinkFault[] }
  | { op: 'link-down'; terminal: number }
  | { op: 'link-heal'; terminal: number }
  | { op: 'cloud-kill' }
  | { op: 'cloud-start' }
  | { op: 'clock'; terminal: number; offsetMs: number }
  | { op: 'maintenance'; terminal: number; what: 'force-resync' | 'full-resync' | 'cleanup' }
  | { op: 'corrupt'; terminal: number; where: 'wal' | 'table'; at: number }
  | { op: 'backup'; terminal: number }
  | { op: 'restore'; terminal: number }
  | { op: 'disk-full'; terminal: number; sales: SaleSpec[] }
  | { op: 'settle' };

export interface Plan {
  seed: number;
  stores: PlanStore[];
  /** Terminal index → [store index, terminal id]. */
  terminals: Array<{ store: number; id: string }>;
  /** The terminal whose folder is on a small disk that disk-full faults fill. */
  smallDisk: number;
  steps: Step[];
}

const HOUR = 3_600_000;

function makeStore(rng: Rng, id: string, terminals: number, offline: PlanStore['offline']): PlanStore {
  return {
    id,
    offline,
    terminals: Array.from({ length: terminals }, (_, i) => `${id}-t${i + 1}`),
    // Every price is at least 5.00, so a 0.50–4.00 card, account or voucher part never exceeds what is due.
    items: Array.from({ length: 4 }, (_, i) => ({ id: `${id}-i${i + 1}`, sku: `${id.toUpperCase()}-${i + 1}`, name: `Item ${i + 1} of ${id}`, barcodes: [], price: rng.int(500, 1_500), taxRate: rng.pick([0, 500, 1_000]) })),
    // Small balances: two offline terminals spending one account overspend it.
    customers: Array.from({ length: 3 }, (_, i) => ({ id: `${id}-c${i + 1}`, name: `Customer ${i + 1} of ${id}`, openingBalance: rng.int(300, 3_000) })),
    vouchers: [{ code: `GV-${id.toUpperCase()}-0001`, amount: rng.int(500, 3_000) }],
  };
}

function saleSpec(rng: Rng, store: PlanStore): SaleSpec {
  const lines = Array.from({ length: rng.int(1, 3) }, () => ({ item: rng.pick(store.items).id, qty: rng.int(1, 3) }));
  const part = rng.int(50, 400);
  const cash: Payment = { tender: 'cash', tendered: 100_000 };
  const kind = rng.weighted([['cash', 3], ['card', 3], ['account', 3], ['voucher', 2]] as const);
  if (kind === 'cash') return { lines, payments: [cash] };
  if (kind === 'card') {
    const last4 = String(rng.int(0, 9_999)).padStart(4, '0');
    return { lines, payments: [{ tender: 'card', amount: part, card: { token: `tok_sim_${rng.int(1, 1e9)}`, brand: 'visa', last4, authCode: `A${rng.int(1000, 9999)}` } }, cash] };
  }
  if (kind === 'account') {
    const customer = rng.pick(store.customers).id;
    return { lines, customer, payments: [{ tender: 'account', amount: part, customer }, cash] };
  }
  return { lines, payments: [{ tender: 'voucher', amount: part, voucher: store.vouchers[0]!.code }, cash] };
}

/** Steps per schedule: the soak's, and the suite's shorter ones (`npm run sim -- --short`). */
export const STEPS = { full: [8, 14], short: [4, 7] } as const;

/** The schedule of `seed` (`short`: 4–7 steps instead of 8–14; the same stores). */
export function makePlan(seed: number, opts: { short?: boolean } = {}): Plan {
  const rng = createRng(seed);
  const stores = [makeStore(rng, 'sa', 2, 'allow'), makeStore(rng, 'sb', 1, rng.pick(['allow', 'cap', 'forbid'] as const))];
  const terminals = stores.flatMap((s, si) => s.terminals.map((id) => ({ store: si, id })));
  const steps: Step[] = [];
  const storeOf = (ti: number): PlanStore => stores[terminals[ti]!.store]!;
  const sales = (ti: number, n: number): SaleSpec[] => Array.from({ length: n }, () => saleSpec(rng, storeOf(ti)));
  const backedUp = new Set<number>();
  const smallDisk = rng.int(0, terminals.length - 1);
  let cloudDown = false;
  const [least, most] = opts.short ? STEPS.short : STEPS.full;
  const count = rng.int(least, most);
  for (let i = 0; i < count; i++) {
    const t = rng.int(0, terminals.length - 1);
    const op = rng.weighted([
      ['sell', 30], ['kill-terminal', 8], ['adjust', 4], ['refund', 3], ['void', 2], ['downstream', 6], ['local-mode', 4], ['link-flaky', 8], ['link-down', 4],
      ['cloud', 5], ['clock', 4], ['maintenance', 5], ['corrupt', 5], ['backup', 2], ['restore', 3], ['disk-full', 3], ['settle', 3],
    ] as const);
    switch (op) {
      case 'sell':
        steps.push({ op, terminal: t, sales: sales(t, rng.int(1, 6)), concurrency: rng.int(1, 3) });
        break;
      case 'kill-terminal':
        steps.push({ op, terminal: t, sales: sales(t, rng.int(3, 8)), afterMs: rng.int(0, 400) });
        break;
      case 'adjust': {
        const delta = rng.int(100, 1_500) * (rng.chance(0.5) ? -1 : 1);
        steps.push({ op, terminal: t, customer: rng.pick(storeOf(t).customers).id, delta });
        break;
      }
      case 'refund': {
        const st = storeOf(t);
        steps.push({ op, terminal: t, amount: rng.int(50, 400), tender: rng.pick(['cash', 'account', 'voucher'] as const), customer: rng.pick(st.customers).id, voucher: st.vouchers[0]!.code });
        break;
      }
      case 'void':
        steps.push({ op, terminal: t });
        break;
      case 'downstream': {
        const s = rng.int(0, stores.length - 1);
        const what = rng.weighted([['price', 3], ['new-customer', 1], ['offline-policy', s === 1 ? 1 : 0.0001]] as const);
        if (what === 'price') steps.push({ op: 'price', store: s, item: rng.pick(stores[s]!.items).id, price: rng.int(500, 1_500) });
        else if (what === 'new-customer') steps.push({ op: 'new-customer', store: s, id: `${stores[s]!.id}-n${i}`, openingBalance: rng.int(0, 2_000) });
        else steps.push({ op: 'offline-policy', store: s, offline: rng.pick(['allow', 'cap', 'forbid'] as const) });
        break;
      }
      case 'local-mode':
        steps.push({ op, terminal: t, on: rng.chance(0.7) });
        break;
      case 'link-flaky': {
        const kinds = LINK_FAULTS.filter(() => rng.chance(0.6));
        steps.push({ op, terminal: t, rate: rng.pick([0.1, 0.25, 0.5]), kinds: kinds.length > 0 ? kinds : [rng.pick(LINK_FAULTS)] });
        break;
      }
      case 'link-down':
        steps.push(rng.chance(0.7) ? { op: 'link-down', terminal: t } : { op: 'link-heal', terminal: t });
        break;
      case 'cloud':
        steps.push(cloudDown ? { op: 'cloud-start' } : { op: 'cloud-kill' });
        cloudDown = !cloudDown;
        break;
      case 'clock':
        steps.push({ op, terminal: t, offsetMs: rng.pick([-1, 1]) * rng.int(1, 48) * HOUR });
        break;
      case 'maintenance':
        steps.push({ op, terminal: t, what: rng.pick(['force-resync', 'full-resync', 'cleanup'] as const) });
        break;
      case 'corrupt':
        steps.push({ op, terminal: t, where: rng.pick(['wal', 'table'] as const), at: rng.next() });
        break;
      case 'backup':
        steps.push({ op, terminal: t });
        backedUp.add(t);
        break;
      case 'restore':
        if (backedUp.size > 0) steps.push({ op, terminal: backedUp.has(t) ? t : [...backedUp][0]! });
        else {
          steps.push({ op: 'backup', terminal: t });
          backedUp.add(t);
        }
        break;
      case 'disk-full':
        steps.push({ op, terminal: smallDisk, sales: sales(smallDisk, rng.int(1, 4)) });
        break;
      case 'settle':
        steps.push({ op });
        break;
    }
  }
  return { seed, stores, terminals, smallDisk, steps };
}

/** Counts of a plan's steps by kind (faults and actions), for reports. */
export function stepKinds(plan: Plan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of plan.steps) out[s.op] = (out[s.op] ?? 0) + 1;
  return out;
}
