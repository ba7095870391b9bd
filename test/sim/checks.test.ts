/**
 * The fault simulator's checks see what is wrong (a simulator whose checks
 * could not fail would prove nothing): a short schedule on real processes,
 * then, on the quiesced world, a fault the product did not heal, and the
 * violation the checks must name.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildForSim } from '../../scripts/sim/simulate.ts';
import { makePlan, type Plan } from '../../scripts/sim/plan.ts';
import { runSchedule, type RunOptions } from '../../scripts/sim/run.ts';

const build = buildForSim();
t.teardown(build.remove);
const CASH = { lines: [{ item: 'sa-i1', qty: 1 }], payments: [{ tender: 'cash' as const, tendered: 100_000 }] };

/** Seed 7's stores, with two plain sales on each store A terminal as its only steps. */
function shortPlan(): Plan {
  const plan = makePlan(7);
  plan.steps = [{ op: 'sell', terminal: 0, sales: [CASH, CASH], concurrency: 1 }, { op: 'sell', terminal: 1, sales: [CASH, CASH], concurrency: 2 }];
  return plan;
}

async function run(beforeCheck: RunOptions['beforeCheck'], afterSteps?: RunOptions['afterSteps']): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'tillsync-sim-check-'));
  try {
    return (await runSchedule(shortPlan(), { dist: build.dist, root, ...(beforeCheck ? { beforeCheck } : {}), ...(afterSteps ? { afterSteps } : {}) })).violations;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

t.test('a healthy short schedule holds', async (t) => {
  t.same(await run(undefined), []);
});

t.test('an acknowledged sale the cloud never got is I1 (I7 when the clock was off)', async (t) => {
  const v = await run(async (_world, _plan, acked) => {
    acked.push({ kind: 'sale', terminal: 'sa-t1', store: 'sa', sale: '01ARZ3NDEKTSV4RRFFQ69G5FAV', total: 350, payments: 1, shifted: false });
    acked.push({ kind: 'sale', terminal: 'sa-t2', store: 'sa', sale: '01ARZ3NDEKTSV4RRFFQ69G5FAW', total: 350, payments: 1, shifted: true });
  });
  t.ok(v.some((x) => x.startsWith('I1 sale 01ARZ3NDEKTSV4RRFFQ69G5FAV')), 'I1 names the sale');
  t.ok(v.some((x) => x.startsWith('I7 sale 01ARZ3NDEKTSV4RRFFQ69G5FAW')), 'I7 names the sale taken with the clock off');
});

t.test('a sale stuck on a terminal whose link is down is I3 and I4', async (t) => {
  const v = await run(async (world) => {
    const till = world.terminals[0]!;
    till.proxy.setDown(true);
    const a = await world.agent(till, 'POST', '/api/sales', CASH);
    t.equal(a.status, 201, 'the till sells offline');
    till.proxy.heal(); // too late: the checks start now, before the worker's next pass reaches the cloud
    till.proxy.setDown(true);
  });
  t.ok(v.some((x) => x.startsWith('I4 sa-t1: head')), 'the upload cursor short of the head is I4');
  t.ok(v.some((x) => /^I3 sa-t1: seq \d+ is not in the cloud/.test(x)), 'the event the cloud lacks is I3');
});

t.test('a change the terminal never downloaded is I9 and I4', async (t) => {
  const v = await run(async (world, plan) => {
    world.terminals[1]!.proxy.setDown(true);
    const item = { ...plan.stores[0]!.items[0]!, price: plan.stores[0]!.items[0]!.price + 1 };
    await world.mustAdmin('POST', '/v1/admin/stores/sa/items', [item]);
    plan.stores[0]!.items[0]!.price = item.price;
    // The other terminal, online, gets it (bounded): the checks must then find it fine.
    const end = Date.now() + 60_000;
    while ((await world.agent(world.terminals[0]!, 'GET', '/api/items/sa-i1')).body?.item?.price !== item.price && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  });
  t.ok(v.some((x) => x.startsWith('I9 sa-t2: item sa-i1')), 'the stale price is I9');
  t.ok(v.some((x) => x.startsWith('I4 sa-t2: feed cursor')), 'the feed cursor short of the head is I4');
  t.notOk(v.some((x) => x.startsWith('I9 sa-t1')), 'the terminal that downloaded it is fine');
});

t.test('an agent that ends by itself is named, even when everything else heals', async (t) => {
  const v = await run(undefined, async (world) => {
    const till = world.terminals[1]!;
    const child = till.child!;
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(child.pid!, 'SIGKILL'); // our own child, by its pid, behind the harness's back: a till that died
    await gone;
  });
  t.ok(v.some((x) => x.startsWith('sa-t2: the agent process ended by itself')), 'named');
  t.equal(v.length, 1, 'and nothing else: it was restarted and lost nothing');
});
