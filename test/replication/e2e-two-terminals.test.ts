// End to end on loopback: one real cloud, two real terminals of one store, both
// offline (their proxy refuses connections) while selling, then reconnected.
import t from 'tap';
import type { EventLog } from '../../src/events/event-log.ts';
import type { Change } from '../../src/events/event-types.ts';
import type { CloudError } from '../../src/replication/cloud-error.ts';
import { admin, cloudEvents, localEvents, setupStore, startCloud, startTerminal, STORE, until, type RealTerminal } from './helpers/cloud.ts';
import { saleGroup } from './helpers/logs.ts';

async function sell(term: RealTerminal, what: { cash: number; account: number; voucher: number }): Promise<void> {
  for (let i = 0; i < what.cash; i++) await term.log.append(saleGroup(700 + i));
  for (let i = 0; i < what.account; i++) {
    await term.log.append(saleGroup(3_000, { tender: 'account', amount: 3_000, customer: 'c1' }, { customer: 'c1' }));
  }
  for (let i = 0; i < what.voucher; i++) await term.log.append(saleGroup(3_000, { tender: 'voucher', amount: 3_000, voucher: 'GIFT-1' }));
  term.worker.notifyAppended();
}

async function lastState(log: EventLog, type: 'balance.state' | 'voucher.state', key: string): Promise<Change | undefined> {
  let last: Change | undefined;
  for await (const page of log.readChanges()) {
    for (const c of page) {
      if (c.type === 'balance.state' && type === 'balance.state' && c.body.customer === key) last = c;
      if (c.type === 'voucher.state' && type === 'voucher.state' && c.body.voucher === key) last = c;
    }
  }
  return last;
}

async function sumDeltas(logs: EventLog[], customer: string): Promise<number> {
  let sum = 0;
  for (const log of logs) {
    for await (const page of log.read(1)) {
      for (const e of page) if (e.event.type === 'balance.delta' && e.event.body.customer === customer) sum += e.event.body.delta;
    }
  }
  return sum;
}

t.test('two terminals offline, then reconnected: the union, once; same balances; one exception each', async (t) => {
  const cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1', 't2']);
  const a = await startTerminal(t, cloud, 't1', tokens.t1!);
  const b = await startTerminal(t, cloud, 't2', tokens.t2!);
  a.proxy.setDown(true);
  b.proxy.setDown(true);
  await a.worker.start();
  await b.worker.start();

  // Offline: customer c1 has 10000 and GIFT-1 5000; each terminal spends 6000 and 3000.
  await sell(a, { cash: 5, account: 2, voucher: 1 });
  await sell(b, { cash: 4, account: 2, voucher: 1 });
  await until(
    () => [a, b].every((x) => x.worker.status().lastUpError !== null && x.worker.status().oldestUnsyncedPayment !== null),
    'both failed to reach the cloud',
  );
  for (const term of [a, b]) {
    const s = term.worker.status();
    t.match(s.connection, { state: 'offline', error: 'CLOUD_UNREACHABLE' }, `${term.id} offline`);
    t.equal(s.pending, term.log.head.seq, `${term.id}: everything pending`);
    t.ok(s.oldestUnsyncedPayment !== null, `${term.id}: oldest unsynced payment shown`);
  }
  t.equal((await cloudEvents(cloud, 't1')).length, 0, 'nothing reached the cloud');

  // Reconnect.
  a.proxy.setDown(false);
  b.proxy.setDown(false);
  const feedHead = async (): Promise<number> => (await cloud.storage.getCounters(STORE)).feedHead;
  await until(async () => {
    const h = await feedHead();
    return [a, b].every((x) => x.worker.status().pending === 0 && x.log.feedCursor === h && x.worker.status().openExceptions === 2);
  }, 'both terminals synced up and down', undefined, async () => ({
    feedHead: await feedHead(),
    terminals: [a, b].map((x) => {
      const s = x.worker.status();
      return { id: x.id, pending: s.pending, feedCursor: x.log.feedCursor, openExceptions: s.openExceptions, connection: s.connection.state, stream: s.streamConnected, lastDown: s.lastDown, lastDownError: s.lastDownError };
    }),
  }));

  // The cloud holds exactly the union, byte for byte, once.
  const ids = new Set<string>();
  let total = 0;
  for (const term of [a, b]) {
    const local = await localEvents(term.log);
    const stored = await cloudEvents(cloud, term.id);
    t.same(stored.map((e) => [e.seq, e.hash]), local.map((e) => [e.seq, e.hash]), `${term.id}: cloud holds its log exactly`);
    for (const e of stored) ids.add(e.id);
    total += stored.length;
    const s = term.worker.status();
    t.equal(s.uploaded, term.log.head.seq);
    t.equal(s.connection.state, 'online');
    t.equal(s.oldestUnsyncedPayment, null);
  }
  t.equal(ids.size, total, 'no event id stored twice');
  t.equal(total, a.log.head.seq + b.log.head.seq);

  // Balances: the sum of deltas, nothing overwritten; both terminals hold the same state.
  const [c1] = await cloud.storage.getBalances(STORE, ['c1']);
  t.equal(c1!.balance, 10_000 + (await sumDeltas([a.log, b.log], 'c1')));
  t.equal(c1!.balance, -2_000);
  const sa = await lastState(a.log, 'balance.state', 'c1');
  const sb = await lastState(b.log, 'balance.state', 'c1');
  t.equal(sa?.cursor, sb?.cursor, 'both terminals received the same last balance.state');
  t.match(sa, { type: 'balance.state', body: { customer: 'c1', balance: -2_000 } });
  t.match(sb, { type: 'balance.state', body: { customer: 'c1', balance: -2_000 } });
  const includesOf = (c: typeof sa): unknown => (c?.body && 'includes' in c.body ? c.body.includes : undefined);
  t.same(includesOf(sa), { t1: c1!.includes.t1 }, 'each terminal gets only its own includes entry');
  t.same(includesOf(sb), { t2: c1!.includes.t2 });
  const va = await lastState(a.log, 'voucher.state', 'GIFT-1');
  t.equal(va?.cursor, (await lastState(b.log, 'voucher.state', 'GIFT-1'))?.cursor);
  t.match(va, { body: { voucher: 'GIFT-1', balance: -1_000 } });

  // Exactly one exception for the customer and one for the voucher.
  const ex = await admin(cloud, 'GET', `/v1/admin/stores/${STORE}/exceptions`);
  t.equal(ex.status, 200);
  const list = ex.body.exceptions as Array<{ subject: { kind: string }; shortfall: number; terminals: string[] }>;
  t.equal(list.length, 2, 'two open exceptions');
  const bal = list.filter((e) => e.subject.kind === 'balance');
  const vou = list.filter((e) => e.subject.kind === 'voucher');
  t.equal(bal.length, 1);
  t.equal(vou.length, 1);
  t.match(bal[0], { subject: { customer: 'c1' }, shortfall: 2_000 });
  t.match(vou[0], { subject: { voucher: 'GIFT-1' }, shortfall: 1_000 });
  t.ok(bal[0]!.terminals.length >= 1);
});

t.test('revoked credential: 401, revoked state, selling goes on, uploads after setCredential', async (t) => {
  const cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1']);
  const a = await startTerminal(t, cloud, 't1', tokens.t1!);
  await a.worker.start();
  await sell(a, { cash: 3, account: 0, voucher: 0 });
  await until(() => a.worker.status().pending === 0 && a.worker.status().uploaded === 6, 'first sync');

  const rv = await admin(cloud, 'POST', `/v1/admin/stores/${STORE}/terminals/t1/revoke`);
  t.equal(rv.status, 200);
  await sell(a, { cash: 2, account: 0, voucher: 0 });
  await until(() => a.worker.status().connection.state === 'revoked', 'revoked');
  t.match(a.worker.status().connection, { state: 'revoked', error: 'CREDENTIAL_REVOKED' });
  // Whichever direction met the 401 first (upload, or the stream the cloud closes with 4401).
  const s = a.worker.status();
  t.ok([s.lastUpError?.code, s.lastDownError?.code].includes('CREDENTIAL_REVOKED'), 'the refusal is shown with its code');
  await sell(a, { cash: 2, account: 0, voucher: 0 }); // still selling
  t.equal(a.log.head.seq, 14);
  const err = await a.worker.syncUp().then(() => undefined, (e: unknown) => e as CloudError);
  t.equal(err?.code, 'CREDENTIAL_REVOKED');
  t.equal((await cloudEvents(cloud, 't1')).length, 6, 'nothing uploaded while revoked');

  const re = await admin(cloud, 'POST', `/v1/admin/stores/${STORE}/terminals/t1/token`);
  t.equal(re.status, 201);
  a.worker.setCredential(re.body.token);
  await until(() => a.worker.status().pending === 0 && a.worker.status().connection.state === 'online', 'uploaded with the new token');
  const stored = await cloudEvents(cloud, 't1');
  t.same(stored.map((e) => e.hash), (await localEvents(a.log)).map((e) => e.hash));
});
