/**
 * The fault simulator's final check, on a quiesced world (every fault healed,
 * every queue drained): read every terminal and the cloud, through the agents'
 * API, the cloud's terminal API with each credential, and then the folders
 * themselves once the processes are stopped. Each finding names its invariant:
 *
 * I1 every acknowledged sale is in the cloud exactly once, with all its payments;
 * I2 no event id stored twice, and each stored event is byte for byte the terminal's;
 * I3 the cloud's events of a terminal are exactly its log (the acknowledged ones among them);
 * I4 no cursor passes the acknowledged prefix, none stops short of it once quiesced,
 *    and every terminal holds the whole feed;
 * I5 every balance and voucher = Σ its deltas; every overspending debit is in exactly one exception;
 * I6 a damage is reported (run.ts) and nothing corrupt is stored: each terminal's
 *    chain in the cloud verifies;
 * I7 sales taken with the clock hours off are stored exactly once like any other;
 * I8 a terminal's credential shows nothing of another store;
 * I9 every view equals a rebuild from the log, and every terminal's catalog and
 *    balances equal the cloud's.
 */
import { join } from 'node:path';
import { decodeTrusted, GENESIS_HASH } from '../../src/events/codec.ts';
import type { Change, TillEvent } from '../../src/events/event-types.ts';
import { TerminalViews, diffViews } from '../../src/projections/terminal-views.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import type { StoredEvent } from '../../src/server/storage.ts';
import { Terminal } from '../../src/terminal/terminal.ts';
import type { Plan } from './plan.ts';
import type { World } from './world.ts';

export type Acked =
  | { kind: 'sale'; terminal: string; store: string; sale: string; total: number; payments: number; shifted: boolean }
  | { kind: 'adjust'; terminal: string; store: string; customer: string; delta: number }
  | { kind: 'refund'; terminal: string; store: string; sale: string; amount: number }
  | { kind: 'void'; terminal: string; store: string; sale: string };

interface Decoded extends StoredEvent {
  event: TillEvent;
}

async function allCloudEvents(storage: LevelStorage, store: string, terminal: string): Promise<Decoded[]> {
  const out: Decoded[] = [];
  for (let from = 1; ;) {
    const rows = await storage.readEvents(store, terminal, from, 1000);
    for (const r of rows) out.push({ ...r, event: decodeTrusted<TillEvent>(r.bytes) });
    if (rows.length < 1000) return out;
    from = rows[rows.length - 1]!.seq + 1;
  }
}

async function allFeed(storage: LevelStorage, store: string): Promise<Change[]> {
  const out: Change[] = [];
  for (let since = 0; ;) {
    const page = await storage.readFeed(store, since, 1000);
    out.push(...page);
    if (page.length < 1000) return out;
    since = page[page.length - 1]!.cursor;
  }
}

export async function checkWorld(world: World, plan: Plan, acked: Acked[]): Promise<string[]> {
  const v: string[] = [];
  const statuses = new Map<string, { head: number; uploaded: number; base: number; feedCursor: number }>();

  // --- Through the running agents and the cloud's API.
  for (const t of world.terminals) {
    const s = await world.agent(t, 'GET', '/api/status');
    statuses.set(t.id, { head: s.body.log.head, uploaded: s.body.sync.uploaded, base: s.body.log.base, feedCursor: s.body.sync.feedCursor });
    const store = plan.stores.find((p) => p.id === t.store)!;
    for (const item of store.items) {
      const a = await world.agent(t, 'GET', `/api/items/${item.id}`);
      if (a.status !== 200 || a.body.item.price !== item.price) v.push(`I9 ${t.id}: item ${item.id} is ${a.status === 200 ? a.body.item.price : a.status}, the cloud's price is ${item.price}`);
    }
    for (const c of store.customers) {
      const mine = await world.agent(t, 'GET', `/api/customers/${c.id}`);
      const cloud = await world.admin('GET', `/v1/admin/stores/${t.store}/customers/${c.id}/balance`);
      if (mine.status !== 200 || cloud.status !== 200 || mine.body.balance !== cloud.body.balance) {
        v.push(`I9 ${t.id}: balance of ${c.id} is ${mine.status === 200 ? mine.body.balance : mine.status} here, ${cloud.status === 200 ? cloud.body.balance : cloud.status} in the cloud`);
      }
    }
    for (const other of plan.stores.filter((p) => p.id !== t.store)) {
      const c = await world.agent(t, 'GET', `/api/customers/${other.customers[0]!.id}`);
      if (c.status !== 404) v.push(`I8 ${t.id}: a customer of ${other.id} answers ${c.status}`);
    }
    // I8 with the terminal's credential at the cloud: its feed and its events are its store's only.
    const transport = new HttpTransport({ baseUrl: world.cloudUrl, token: t.token });
    const feed = await transport.feed(0, 1000);
    const foreign = JSON.stringify(feed.changes).match(new RegExp(`"(${plan.stores.filter((p) => p.id !== t.store).map((p) => `${p.id}-[a-z0-9]+`).join('|')})"`));
    if (foreign) v.push(`I8 ${t.id}: its feed holds ${foreign[1]} of another store`);
    const own = await transport.ownEvents(1, 1000);
    for (const bytes of own.events) {
      const e = decodeTrusted<TillEvent>(bytes);
      if (e.store !== t.store || e.terminal !== t.id) v.push(`I8 ${t.id}: GET /v1/events answered an event of ${e.store}/${e.terminal}`);
    }
    const admin = await fetch(`${world.cloudUrl}/v1/admin/stores`, { headers: { authorization: `Bearer ${t.token}` } });
    if (admin.status !== 401 && admin.status !== 403) v.push(`I8 ${t.id}: its credential opens the admin API (${admin.status})`);
  }

  // --- The folders and the cloud's database, with every process stopped.
  for (const t of world.terminals) await world.stopAgent(t);
  await world.stopCloud();
  const storage = await LevelStorage.open(world.cloudDir);
  try {
    const byStore = new Map<string, Decoded[]>();
    for (const t of world.terminals) {
      const cloud = await allCloudEvents(storage, t.store, t.id);
      byStore.set(t.store, [...(byStore.get(t.store) ?? []), ...cloud]);
      const hw = await storage.getHighWater(t.store, t.id);
      const st = statuses.get(t.id)!;
      if (hw.quarantined > 0) v.push(`I1 ${t.id}: ${hw.quarantined} events in quarantine`);
      // I4: the cursors at quiescence.
      if (st.uploaded > st.head) v.push(`I4 ${t.id}: upload cursor ${st.uploaded} past the head ${st.head}`);
      if (st.uploaded !== hw.seq || hw.seq !== st.head) v.push(`I4 ${t.id}: head ${st.head}, upload cursor ${st.uploaded}, cloud ${hw.seq}`);
      // I6: the chain as the cloud holds it.
      cloud.forEach((e, i) => {
        if (e.seq !== i + 1) v.push(`I3 ${t.id}: the cloud's seq ${e.seq} at position ${i + 1} (a gap)`);
        const prev = i === 0 ? GENESIS_HASH : cloud[i - 1]!.hash;
        if (e.event.prev !== prev) v.push(`I6 ${t.id}: the cloud's event ${e.seq} does not chain to ${i === 0 ? 'genesis' : `seq ${e.seq - 1}`}`);
      });
      // I2, I3, I9: the log against the cloud, and its views against a rebuild.
      const term = await Terminal.open(join(t.dir, 'db'), { store: t.store, terminal: t.id });
      try {
        if (term.log.health.state !== 'ok') v.push(`I6 ${t.id}: log health ${JSON.stringify(term.log.health)} at the end`);
        const report = await term.log.verify({ full: true });
        if (!report.ok) v.push(`I6 ${t.id}: the log does not verify: ${JSON.stringify(report.problem)}`);
        let n = 0;
        for await (const page of term.log.read(term.log.base.seq + 1)) {
          for (const e of page) {
            n++;
            const c = cloud[e.seq - 1];
            if (!c) v.push(`I3 ${t.id}: seq ${e.seq} is not in the cloud`);
            else if (c.hash !== e.hash) v.push(`I2 ${t.id}: seq ${e.seq} differs in the cloud (id ${e.event.id} / ${c.id})`);
          }
        }
        if (term.log.base.seq + n !== cloud.length) v.push(`I3 ${t.id}: the log holds ${term.log.base.seq}+${n} events, the cloud ${cloud.length}`);
        const scratch = new TerminalViews(term.log.db, term.terminal, 'sim-check');
        try {
          await scratch.rebuildFrom(term.log);
          const diff = await diffViews(term.views, scratch, 5);
          if (diff.length > 0) v.push(`I9 ${t.id}: views differ from a rebuild: ${JSON.stringify(diff)}`);
        } catch (err) {
          // A record that decodes but no longer makes sense (a damaged block LevelDB did not check) is a finding.
          v.push(`I6 ${t.id}: its views cannot be rebuilt from its folder (${String(err).slice(0, 200)})`);
        } finally {
          await scratch.clear();
        }
        // I4: the whole feed, none of it skipped.
        const feed = await allFeed(storage, t.store);
        const head = feed.length > 0 ? feed[feed.length - 1]!.cursor : 0;
        if (term.log.feedCursor !== head) v.push(`I4 ${t.id}: feed cursor ${term.log.feedCursor}, the cloud's feed ends at ${head}`);
        if (term.log.feedCursor !== st.feedCursor) v.push(`I4 ${t.id}: the running agent said feed cursor ${st.feedCursor}, its folder holds ${term.log.feedCursor}`);
        if (term.log.head.seq !== st.head) v.push(`I3 ${t.id}: the running agent said head ${st.head}, its folder holds ${term.log.head.seq}`);
      } finally {
        await term.close();
      }
    }

    for (const store of plan.stores) {
      const events = byStore.get(store.id) ?? [];
      // I2: ids.
      const ids = new Map<string, number>();
      for (const e of events) ids.set(e.id, (ids.get(e.id) ?? 0) + 1);
      for (const [id, n] of ids) if (n > 1) v.push(`I2 ${store.id}: event id ${id} stored ${n} times`);
      // I1, I7: every acknowledged sale once, with every payment.
      const payments = new Map<string, number[]>();
      for (const e of events) if (e.event.type === 'payment.taken') payments.set(e.event.body.sale, [...(payments.get(e.event.body.sale) ?? []), e.event.body.amount]);
      for (const a of acked) {
        if (a.store !== store.id || a.kind !== 'sale') continue;
        const inv = a.shifted ? 'I7' : 'I1';
        const found = events.filter((e) => e.id === a.sale && e.event.type === 'sale.completed');
        if (found.length !== 1) v.push(`${inv} sale ${a.sale} of ${a.terminal} is in the cloud ${found.length} times`);
        const paid = payments.get(a.sale) ?? [];
        if (paid.length !== a.payments || paid.reduce((x, y) => x + y, 0) !== a.total) v.push(`${inv} sale ${a.sale}: ${paid.length} of ${a.payments} payments, ${paid.reduce((x, y) => x + y, 0)} of ${a.total} cents`);
      }
      // Acknowledged adjustments: each one's delta is in the cloud (as a multiset per terminal and customer).
      const adjusts = new Map<string, number[]>();
      for (const e of events) if (e.event.type === 'balance.delta' && e.event.body.reason === 'adjustment') adjusts.set(`${e.terminal}/${e.event.body.customer}`, [...(adjusts.get(`${e.terminal}/${e.event.body.customer}`) ?? []), e.event.body.delta]);
      for (const a of acked) {
        if (a.store !== store.id || a.kind !== 'adjust') continue;
        const list = adjusts.get(`${a.terminal}/${a.customer}`) ?? [];
        const at = list.indexOf(a.delta);
        if (at < 0) v.push(`I1 adjustment ${a.delta} of ${a.customer} on ${a.terminal} is not in the cloud`);
        else list.splice(at, 1);
      }
      // Acknowledged refunds and voids: each one in the cloud, once (refunds as a multiset per sale).
      const refunds = new Map<string, number[]>();
      const voids = new Map<string, number>();
      for (const e of events) {
        if (e.event.type === 'sale.refunded') refunds.set(e.event.body.sale, [...(refunds.get(e.event.body.sale) ?? []), e.event.body.amount]);
        if (e.event.type === 'sale.voided') voids.set(e.event.body.sale, (voids.get(e.event.body.sale) ?? 0) + 1);
      }
      for (const a of acked) {
        if (a.store !== store.id) continue;
        if (a.kind === 'void' && voids.get(a.sale) !== 1) v.push(`I1 void of ${a.sale} on ${a.terminal} is in the cloud ${voids.get(a.sale) ?? 0} times`);
        if (a.kind === 'refund') {
          const list = refunds.get(a.sale) ?? [];
          const at = list.indexOf(a.amount);
          if (at < 0) v.push(`I1 refund of ${a.amount} on ${a.sale} (${a.terminal}) is not in the cloud`);
          else list.splice(at, 1);
        }
      }
      // I5: balances and vouchers are sums of deltas; overspends are exceptions, each debit in one.
      const views = await storage.getBalances(store.id, store.customers.map((c) => c.id));
      store.customers.forEach((c, i) => {
        const sum = c.openingBalance + events.reduce((s, e) => s + (e.event.type === 'balance.delta' && e.event.body.customer === c.id ? e.event.body.delta : 0), 0);
        const view = views[i];
        if ((view?.balance ?? 0) !== sum) v.push(`I5 ${store.id}: balance of ${c.id} is ${view?.balance}, its deltas sum to ${sum}`);
        if (view && view.balance < 0 && !view.incident) v.push(`I5 ${store.id}: ${c.id} is at ${view.balance} with no exception open`);
      });
      const vouchers = await storage.getVouchers(store.id, store.vouchers.map((x) => x.code));
      store.vouchers.forEach((x, i) => {
        const sum = x.amount + events.reduce((s, e) => s + (e.event.type === 'voucher.issued' && e.event.body.voucher === x.code ? e.event.body.amount : e.event.type === 'voucher.redeemed' && e.event.body.voucher === x.code ? -e.event.body.amount : 0), 0);
        if ((vouchers[i]?.balance ?? 0) !== sum) v.push(`I5 ${store.id}: voucher ${x.code} is ${vouchers[i]?.balance}, its deltas sum to ${sum}`);
        if (vouchers[i] && vouchers[i]!.balance < 0 && !vouchers[i]!.incident) v.push(`I5 ${store.id}: voucher ${x.code} is at ${vouchers[i]!.balance} with no exception open`);
      });
      const inExceptions = new Map<string, number>();
      const stored = new Map(events.map((e) => [`${e.terminal}/${e.seq}`, e]));
      for (const ex of await storage.listExceptions(store.id, 'all')) {
        for (const d of ex.events) {
          const key = `${d.terminal}/${d.seq}`;
          inExceptions.set(key, (inExceptions.get(key) ?? 0) + 1);
          if (stored.get(key)?.id !== d.id) v.push(`I5 ${store.id}: exception ${ex.id} names ${key} (${d.id}), which the cloud does not hold`);
        }
      }
      for (const [key, n] of inExceptions) if (n > 1) v.push(`I5 ${store.id}: debit ${key} is in ${n} exceptions`);
    }
  } finally {
    await storage.close();
  }
  return v;
}
