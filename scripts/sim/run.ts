/**
 * Runs one schedule of the fault simulator (plan.ts) on a fresh World, heals
 * every fault, quiesces (stop selling, let the queues drain), then reads
 * every terminal and the cloud and checks the invariants (invariants.ts).
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS } from '../../src/errors.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import { createRng } from '../../src/fixtures/prng.ts';
import { checkWorld, type Acked } from './invariants.ts';
import type { Plan, SaleSpec, Step } from './plan.ts';
import { World, type Answer, type SimTerminal } from './world.ts';

export interface ScheduleReport {
  seed: number;
  steps: number;
  faults: Record<string, number>;
  acknowledged: number;
  unknown: number;
  refused: Record<string, number>;
  violations: string[];
  ms: number;
}

const QUIESCE_MS = 90_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An answer's error code, if it is a documented one; 'UNDOCUMENTED <status>' otherwise. */
function codeOf(a: Answer): string {
  const code = (a.body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' && code in ERRORS ? code : `UNDOCUMENTED ${a.status}`;
}

export interface RunOptions {
  dist: string;
  root: string;
  log?: (line: string) => void;
  /**
   * Called on the quiesced world just before the checks: the simulator's own
   * test damages the world here to prove the checks see it.
   */
  beforeCheck?: (world: World, plan: Plan, acked: Acked[]) => Promise<void>;
  /** Called after the steps, before anything is healed (the same test ends an agent behind the harness's back here). */
  afterSteps?: (world: World) => Promise<void>;
}

export async function runSchedule(plan: Plan, opts: RunOptions): Promise<ScheduleReport> {
  const started = Date.now();
  const say = opts.log;
  const log = (line: string): void => say?.(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s ${line}`);
  const world = new World(opts.dist, opts.root);
  const rng = createRng(plan.seed ^ 0x5eed);
  const acked: Acked[] = [];
  const faults: Record<string, number> = {};
  const refused: Record<string, number> = {};
  const violations: string[] = [];
  const backups = new Map<number, { dir: string; ackedAt: number }>();
  const voided = new Set<string>();
  let unknown = 0;
  const fault = (k: string): void => {
    faults[k] = (faults[k] ?? 0) + 1;
  };
  const refusedWith = (code: string, what: string): void => {
    refused[code] = (refused[code] ?? 0) + 1;
    if (code.startsWith('UNDOCUMENTED')) violations.push(`${what}: answered ${code}`);
  };
  const term = (i: number): SimTerminal => world.terminals[i]!;
  const ackedOn = (t: SimTerminal): number => acked.filter((a) => a.terminal === t.id).length;

  async function sell(t: SimTerminal, specs: SaleSpec[], concurrency: number): Promise<void> {
    let next = 0;
    const one = async (): Promise<void> => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        const shifted = t.clock !== 0;
        const a = await world.agent(t, 'POST', '/api/sales', spec);
        if (a.status === 201) acked.push({ kind: 'sale', terminal: t.id, store: t.store, sale: a.body.sale, total: a.body.total, payments: spec.payments.length, shifted });
        else if (a.status === 0) unknown++;
        else refusedWith(codeOf(a), `sale on ${t.id}`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, one));
  }

  /** Waits (bounded) until `t` holds nothing unsynced; false if it could not (or cannot: in local mode). */
  async function synced(t: SimTerminal, ms = 30_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const s = await world.agent(t, 'GET', '/api/status');
      if (s.status === 200 && s.body.sync.connection.state === 'local') return false;
      if (s.status === 200 && s.body.sync.pending === 0 && s.body.sync.connection.state === 'online') return true;
      await sleep(100);
    }
    return false;
  }

  /** Is a damaged or stale log reported? Answers what the agent says about it, or null. */
  async function reported(t: SimTerminal, waitMs: number): Promise<string | null> {
    const end = Date.now() + waitMs;
    for (;;) {
      const r = await world.agent(t, 'GET', '/api/recovery');
      if (r.status === 200 && (r.body.health?.state !== 'ok' || r.body.refused || r.body.droppedOnOpen?.length > 0)) return String(JSON.stringify(r.body)).slice(0, 300);
      if (Date.now() >= end) return null;
      await sleep(200);
    }
  }

  /** POST /api/recover; if the log cannot be repaired in place, a new folder with the same enrollment is recovered from the cloud. */
  async function recover(t: SimTerminal, why: string): Promise<void> {
    const r = await world.agent(t, 'POST', '/api/recover', { fromCloud: true });
    if (r.status === 200) return;
    log(`  ${t.id}: recover in place refused (${r.status === 0 ? 'no answer' : codeOf(r)}); new folder recovered from the cloud`);
    if (r.status !== 0) refusedWith(codeOf(r), `recover on ${t.id}`);
    await replaceAndRecover(t, why);
  }

  /** A new folder with the same enrollment, recovered from the cloud (what a technician does with a damaged disk). */
  async function replaceAndRecover(t: SimTerminal, why: string): Promise<void> {
    fault('folder-replaced');
    await world.killAgent(t);
    await world.replaceFolder(t);
    await startOrReport(t, `${why}, new folder`);
    // A new folder is below the cloud's head only if the cloud holds any of its events.
    const held = world.cloud ? (await new HttpTransport({ baseUrl: world.cloudUrl, token: t.token }).syncState().catch(() => ({ ackSeq: 0 }))).ackSeq : 0;
    if (held === 0) return;
    if ((await reported(t, 20_000)) === null) violations.push(`I6 ${t.id}: a new folder below the cloud's head ${held} (${why}) was not detected`);
    const again = await world.agent(t, 'POST', '/api/recover', { fromCloud: true });
    if (again.status !== 200) violations.push(`I6 ${t.id}: recovery of a new folder failed (${why}): ${again.status} ${String(JSON.stringify(again.body)).slice(0, 200)}`);
  }

  async function startOrReport(t: SimTerminal, why: string): Promise<string | null> {
    const code = await world.startAgent(t);
    if (code !== null) log(`  ${t.id}: refused to start (${why}): ${code}`);
    return code;
  }

  async function step(s: Step): Promise<void> {
    switch (s.op) {
      case 'sell':
        return sell(term(s.terminal), s.sales, s.concurrency);
      case 'kill-terminal': {
        const t = term(s.terminal);
        if (!t.child) return;
        fault('kill-terminal');
        const burst = sell(t, s.sales, 3);
        await sleep(s.afterMs);
        await world.killAgent(t);
        await burst;
        await startOrReport(t, 'after a kill');
        if (!t.child) violations.push(`${t.id}: did not start after a SIGKILL: ${t.stderr.slice(-300)}`);
        return;
      }
      case 'adjust': {
        const t = term(s.terminal);
        const a = await world.agent(t, 'POST', `/api/customers/${s.customer}/adjust`, { delta: s.delta, note: 'sim' });
        if (a.status === 201) acked.push({ kind: 'adjust', terminal: t.id, store: t.store, customer: s.customer, delta: s.delta });
        else if (a.status === 0) unknown++;
        else refusedWith(codeOf(a), `adjust on ${t.id}`);
        return;
      }
      case 'refund':
      case 'void': {
        const t = term(s.terminal);
        const sale = [...acked].reverse().find((a): a is Extract<Acked, { kind: 'sale' }> => a.kind === 'sale' && a.terminal === t.id && !voided.has(a.sale));
        if (!sale) return;
        const body = s.op === 'void'
          ? { reason: 'sim void' }
          : { amount: Math.min(s.amount, sale.total), tender: s.tender, reason: 'sim refund', ...(s.tender === 'account' ? { customer: s.customer } : s.tender === 'voucher' ? { voucher: s.voucher } : {}) };
        const a = await world.agent(t, 'POST', `/api/sales/${sale.sale}/${s.op}`, body);
        if (a.status === 201) {
          if (s.op === 'void') voided.add(sale.sale);
          acked.push(s.op === 'void' ? { kind: 'void', terminal: t.id, store: t.store, sale: sale.sale } : { kind: 'refund', terminal: t.id, store: t.store, sale: sale.sale, amount: (body as { amount: number }).amount });
        } else if (a.status === 0) unknown++;
        else refusedWith(codeOf(a), `${s.op} on ${t.id}`);
        return;
      }
      case 'price': {
        const store = plan.stores[s.store]!;
        const item = store.items.find((i) => i.id === s.item)!;
        item.price = s.price;
        if (world.cloud) await world.mustAdmin('POST', `/v1/admin/stores/${store.id}/items`, [item]);
        else pendingAdmin.push(() => world.mustAdmin('POST', `/v1/admin/stores/${store.id}/items`, [item]));
        return;
      }
      case 'new-customer': {
        const store = plan.stores[s.store]!;
        const c = { id: s.id, name: `New customer ${s.id}`, openingBalance: s.openingBalance };
        store.customers.push(c);
        const send = (): Promise<unknown> => world.mustAdmin('POST', `/v1/admin/stores/${store.id}/customers`, [c]);
        if (world.cloud) await send();
        else pendingAdmin.push(send);
        return;
      }
      case 'offline-policy': {
        const store = plan.stores[s.store]!;
        const send = (): Promise<unknown> => world.mustAdmin('PATCH', `/v1/admin/stores/${store.id}/settings`, { offlineStoredValue: s.offline, ...(s.offline === 'cap' ? { offlineCap: 1_000 } : {}) });
        if (world.cloud) await send();
        else pendingAdmin.push(send);
        return;
      }
      case 'local-mode': {
        const t = term(s.terminal);
        const a = await world.agent(t, 'POST', '/api/local-mode', { on: s.on });
        if (a.status === 200) {
          if (s.on) fault('local-mode');
        } else if (a.status !== 0) refusedWith(codeOf(a), `local mode on ${t.id}`);
        return;
      }
      case 'link-flaky':
        fault('link-flaky');
        term(s.terminal).proxy.flaky(s.rate, s.kinds);
        return;
      case 'link-down':
        fault('link-down');
        term(s.terminal).proxy.setDown(true);
        return;
      case 'link-heal':
        term(s.terminal).proxy.heal();
        return;
      case 'cloud-kill':
        if (!world.cloud) return;
        fault('cloud-kill');
        await world.killCloud();
        return;
      case 'cloud-start':
        if (world.cloud) return;
        await world.startCloud();
        await drainAdmin();
        return;
      case 'clock':
        fault('clock-jump');
        world.setClock(term(s.terminal), s.offsetMs);
        return;
      case 'maintenance': {
        const t = term(s.terminal);
        const [path, body] = s.what === 'force-resync' ? ['/api/resync/force', { dryRun: false }] : s.what === 'full-resync' ? ['/api/resync/full', {}] : ['/api/cleanup', { olderThanDays: 0 }];
        const a = await world.agent(t, 'POST', path, body);
        if (a.status >= 300) refusedWith(codeOf(a), `${s.what} on ${t.id}`);
        return;
      }
      case 'corrupt':
        return corrupt(term(s.terminal), s.where, s.at);
      case 'backup': {
        const t = term(s.terminal);
        if (!t.child) return;
        fault('backup');
        await world.killAgent(t);
        const dir = join(opts.root, `backup-${t.id}`);
        world.backup(t, dir);
        backups.set(s.terminal, { dir, ackedAt: ackedOn(t) });
        await startOrReport(t, 'after a backup');
        return;
      }
      case 'restore':
        return restore(s.terminal);
      case 'disk-full': {
        const t = term(s.terminal);
        const filler = world.fillSmallDisk();
        if (!filler) {
          fault('disk-full-skipped');
          return;
        }
        fault('disk-full');
        await sell(t, s.sales, 1);
        rmSync(filler, { force: true });
        return;
      }
      case 'settle':
        await Promise.all(world.terminals.map((t) => synced(t, 5_000)));
        return;
    }
  }

  /** Changes made while the cloud was down reach it once it is back (the back office retries). */
  const pendingAdmin: Array<() => Promise<unknown>> = [];
  async function drainAdmin(): Promise<void> {
    while (pendingAdmin.length > 0) await pendingAdmin.shift()!();
  }

  async function corrupt(t: SimTerminal, where: 'wal' | 'table', at: number): Promise<void> {
    if (!t.child || !world.cloud) return;
    t.proxy.heal();
    if (!(await synced(t))) return; // the fault needs the cloud to hold everything; a busy link skips it
    await world.killAgent(t);
    const files = world.dbFiles(t, where === 'wal' ? '.log' : '.ldb').filter((f) => statSync(f).size > 0);
    if (files.length === 0) {
      await startOrReport(t, 'nothing to damage');
      return;
    }
    const file = where === 'wal' ? files[files.length - 1]! : files[Math.floor(at * files.length)]!;
    const bytes = readFileSync(file);
    const pos = Math.floor(at * bytes.length);
    bytes[pos]! ^= 0x40;
    writeFileSync(file, bytes);
    fault(`corrupt-${where}`);
    const refusedStart = await startOrReport(t, `a flipped byte in ${where}`);
    const said = refusedStart ?? (await reported(t, 500)) ?? (await auditFindings(t));
    log(`  ${t.id}: byte ${pos} of ${file.split('/').pop()} flipped: ${said ?? 'nothing reported'}`);
    if (said !== null) {
      await recover(t, `corrupt ${where}`);
      // Recovery in place repairs the log; damage elsewhere (a change, a view) is still an audit finding:
      // then the documented remedy is a new folder recovered from the cloud.
      if ((await auditFindings(t)) !== null) await replaceAndRecover(t, `corrupt ${where}, still found by the audit`);
    }
    // Not reported: only fine if nothing was damaged; the final checks (I3, I9) read every record.
  }

  async function auditFindings(t: SimTerminal): Promise<string | null> {
    const a = await world.agent(t, 'POST', '/api/audit', {});
    if (a.status === 200 && Array.isArray(a.body.findings) && a.body.findings.length > 0) return `audit: ${a.body.findings.map((f: { code: string }) => f.code).join(',')}`;
    if (a.status >= 500) violations.push(`I6 ${t.id}: the audit answered ${a.status} ${codeOf(a)} instead of findings`);
    if (a.status >= 300) return `audit refused: ${codeOf(a)}`;
    return null;
  }

  async function restore(i: number): Promise<void> {
    const t = term(i);
    const b = backups.get(i);
    if (!b || !t.child || !world.cloud) return;
    t.proxy.heal();
    if (!(await synced(t))) return;
    await world.killAgent(t);
    world.restore(t, b.dir);
    fault('restore-backup');
    const newer = ackedOn(t) - b.ackedAt;
    await startOrReport(t, 'a restored backup');
    const said = await reported(t, newer > 0 ? 20_000 : 2_000);
    log(`  ${t.id}: backup restored (${newer} acknowledged since): ${said ?? 'nothing reported'}`);
    if (said === null && newer > 0) violations.push(`I6 ${t.id}: a restored backup ${newer} acknowledgements behind the cloud was not detected`);
    if (said !== null) await recover(t, 'restored backup');
  }

  try {
    await world.startCloud();
    const smallDisk = world.mountSmallDisk();
    if (!smallDisk) log('no tmpfs can be mounted here: disk-full faults are skipped');
    for (const s of plan.stores) {
      await world.mustAdmin('POST', '/v1/admin/stores', { id: s.id, name: `Store ${s.id}`, currency: 'EUR' });
      await world.mustAdmin('PATCH', `/v1/admin/stores/${s.id}/settings`, { offlineStoredValue: s.offline, ...(s.offline === 'cap' ? { offlineCap: 1_000 } : {}) });
      await world.mustAdmin('POST', `/v1/admin/stores/${s.id}/items`, s.items);
      await world.mustAdmin('POST', `/v1/admin/stores/${s.id}/customers`, s.customers);
      for (const v of s.vouchers) await world.mustAdmin('POST', `/v1/admin/stores/${s.id}/vouchers`, v);
    }
    for (const [i, t] of plan.terminals.entries()) await world.addTerminal(plan.stores[t.store]!.id, t.id, rng.fork(), i === plan.smallDisk);
    await Promise.all(world.terminals.map(async (t) => {
      if ((await world.startAgent(t)) !== null) throw new Error(`${t.id} did not start: ${t.stderr}`);
    }));
    // The catalog first: a sale of an item the terminal has not heard of yet is refused, which is not what is tested.
    await Promise.all(world.terminals.map((t) => synced(t)));
    log('world up');

    for (const [n, s] of plan.steps.entries()) {
      log(` step ${n + 1}/${plan.steps.length}: ${s.op}${'terminal' in s ? ` ${term(s.terminal).id}` : ''}`);
      await step(s);
    }
    await opts.afterSteps?.(world);

    // Heal: the network, the cloud, the clocks, local mode; every terminal running.
    if (!world.cloud) await world.startCloud();
    await drainAdmin();
    for (const t of world.terminals) {
      // A till that ended by itself is a failure whatever happened to it: it must refuse, not die.
      for (const d of t.diedOnItsOwn) violations.push(`${t.id}: the agent process ended by itself: ${d}`);
      t.proxy.heal();
      world.setClock(t, 0);
      if (!t.child && (await startOrReport(t, 'at the end')) !== null) await recover(t, 'would not start');
      if (!t.child) {
        violations.push(`${t.id}: does not start, even on a new folder recovered from the cloud: ${t.stderr.slice(-400)}`);
        continue;
      }
      const lm = await world.agent(t, 'POST', '/api/local-mode', { on: false });
      if (lm.status !== 200) violations.push(`${t.id}: local mode could not be turned off: ${lm.status} ${String(JSON.stringify(lm.body)).slice(0, 200)}`);
      if ((await reported(t, 0)) !== null) await recover(t, 'found at the end');
    }
    // Quiesce: no more sales. First every upload queue drains; then each terminal downloads
    // the store's feed up to the cloud's head as the cloud says it (not as the terminal last
    // heard: the last uploads publish balance changes after a terminal may have looked).
    const end = Date.now() + QUIESCE_MS;
    const stuck = new Map<string, unknown>();
    const state = async (t: SimTerminal): Promise<unknown> => {
      const s = await world.agent(t, 'GET', '/api/status');
      if (s.status !== 200) return s.status;
      const sync = s.body.sync;
      return { sync: { pending: sync.pending, uploaded: sync.uploaded, head: sync.head, feedCursor: sync.feedCursor, feedHead: sync.feedHead, connection: sync.connection, lastUpError: sync.lastUpError, lastDownError: sync.lastDownError }, log: s.body.log, operation: s.body.operation };
    };
    const waitUntil = async (t: SimTerminal, ok: (body: any) => boolean): Promise<boolean> => {
      for (;;) {
        const s = await world.agent(t, 'GET', '/api/status');
        if (s.status === 200 && ok(s.body)) return true;
        if (Date.now() > end) {
          stuck.set(t.id, await state(t));
          return false;
        }
        await sleep(100);
      }
    };
    const calm = (b: any): boolean => b.sync.pending === 0 && b.operation === null && b.log.health === 'ok' && b.sync.connection.state === 'online';
    for (const t of world.terminals) await waitUntil(t, calm);
    if (stuck.size === 0) {
      for (const t of world.terminals) {
        const head = (await new HttpTransport({ baseUrl: world.cloudUrl, token: t.token }).feed(0, 1)).head;
        await waitUntil(t, (b) => calm(b) && b.sync.feedCursor >= head);
      }
    }
    for (const [id, state] of stuck) violations.push(`I4 ${id}: did not quiesce within ${QUIESCE_MS} ms after every fault healed: ${JSON.stringify(state)}`);
    log('quiesced');
    if (stuck.size === 0) {
      await opts.beforeCheck?.(world, plan, acked);
      violations.push(...(await checkWorld(world, plan, acked)));
    }
    log('checked');
  } catch (err) {
    violations.push(`harness: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await world.close(violations.length > 0);
  }
  for (const t of world.terminals) for (const [k, v] of Object.entries(t.proxy.injected)) if (v > 0) faults[`link-${k}`] = (faults[`link-${k}`] ?? 0) + v;
  return { seed: plan.seed, steps: plan.steps.length, faults, acknowledged: acked.length, unknown, refused, violations, ms: Date.now() - started };
}
