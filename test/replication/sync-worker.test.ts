import t from 'tap';
import { Backoff, seededRandom } from '../../src/replication/backoff.ts';
import type { CloudError } from '../../src/replication/cloud-error.ts';
import type { SyncStatus } from '../../src/replication/sync-status.ts';
import { forbidden, offline } from './helpers/fake-cloud.ts';
import { settle, until } from './helpers/fake-time.ts';
import { appendSales } from './helpers/logs.ts';
import { BACKOFF, rig, SEED } from './helpers/worker.ts';
import { RECONNECT_STUCK_MS } from '../../src/replication/sync-worker.ts';

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(() => undefined, (e: unknown) => (e as CloudError).code);

t.test('retryable failures back off exponentially with seeded jitter, then sync', async (t) => {
  t.comment(`seed ${SEED}`);
  const { log, cloud, time, worker } = await rig(t, { stream: false });
  await appendSales(log, 6);
  cloud.failNext('syncState', offline, offline, offline);
  const expected = new Backoff(BACKOFF, seededRandom(SEED));
  await worker.start();
  for (let i = 1; i <= 3; i++) {
    await until(() => cloud.count('syncState') === i && worker.status().lastUpError !== null, `failure ${i}`);
    await settle();
    const s = worker.status();
    const delay = expected.next();
    t.equal(time.pending().filter((p) => p.delay === delay).length, 1, `retry ${i} scheduled after ${delay} ms`);
    t.equal(s.lastUpError?.code, 'CLOUD_UNREACHABLE');
    t.equal(s.lastUp, null, 'no successful sync up yet');
    await time.advance(delay - 1);
    t.equal(cloud.count('syncState'), i, 'not before the backoff delay');
    await time.advance(1);
  }
  await until(() => worker.status().uploaded === 12, 'uploaded');
  const s = worker.status();
  t.equal(s.connection.state, 'online');
  t.equal(s.pending, 0);
  t.equal(s.lastUpError, null);
  t.match(s.lastUp, { uploaded: 12, duplicates: 0 });
  t.equal(cloud.stored.size, 12);
});

t.test('cloud down: offline with the error and the next retry time; selling goes on', async (t) => {
  const { log, cloud, time, worker } = await rig(t);
  await appendSales(log, 2);
  const down = Array.from({ length: 50 }, () => offline);
  cloud.failNext('syncState', ...down);
  cloud.failNext('feed', ...down);
  // A cloud that is down refuses the live stream too (an open stream means it is reachable).
  cloud.failNext('subscribe', ...down);
  await worker.start();
  await until(() => worker.status().lastUpError !== null && worker.status().lastDownError !== null, 'both failed');
  t.match(worker.status().connection, { state: 'offline', error: 'CLOUD_UNREACHABLE' });
  const c = worker.status().connection;
  t.ok(c.state === 'offline' && c.retryAt !== null && c.retryAt > time.now(), 'next retry time shown');
  await time.advance(5 * 60_000);
  t.ok(cloud.count('syncState') > 3, 'kept retrying');
  t.ok(cloud.count('syncState') < 20, 'with growing delays');
  await appendSales(log, 1);
  t.equal(log.head.seq, 6, 'the terminal keeps appending');
  t.equal(worker.status().connection.state, 'offline');
});

t.test('a refusal stops retrying and shows stuck; restart() tries again', async (t) => {
  const { log, cloud, time, worker } = await rig(t, { stream: false });
  await appendSales(log, 2);
  cloud.failNext('syncState', forbidden);
  await worker.start();
  await until(() => worker.status().connection.state === 'stuck', 'stuck');
  t.match(worker.status().connection, { state: 'stuck', error: 'FORBIDDEN' });
  const calls = cloud.count('syncState') + cloud.count('upload');
  await appendSales(log, 1);
  worker.notifyAppended();
  await time.advance(10 * 60_000);
  t.equal(cloud.count('syncState') + cloud.count('upload'), calls, 'no retry of a refusal');
  await worker.restart();
  await until(() => worker.status().uploaded === 6, 'uploaded after restart');
  t.equal(worker.status().connection.state, 'online');
  t.equal(worker.status().restarts, 1);
});

t.test('revoked credential: shows revoked, makes no calls, keeps selling; resumes after setCredential', async (t) => {
  const { log, cloud, time, worker } = await rig(t);
  await appendSales(log, 2);
  await worker.start();
  await until(() => worker.status().uploaded === 4, 'first sync');
  cloud.validTokens.delete('tok-1');
  await appendSales(log, 3);
  worker.notifyAppended();
  await until(() => worker.status().connection.state === 'revoked', 'revoked');
  t.match(worker.status().connection, { state: 'revoked', error: 'CREDENTIAL_REVOKED' });
  const calls = cloud.calls.length;
  await appendSales(log, 2); // the terminal keeps selling
  worker.notifyAppended();
  await time.advance(30 * 60_000);
  t.equal(cloud.calls.length, calls, 'no network call while revoked');
  t.equal(await codeOf(worker.syncUp()), 'CREDENTIAL_REVOKED');
  t.equal(cloud.calls.length, calls, 'not even for a manual sync');
  t.equal(worker.status().pending, 10);
  cloud.validTokens.add('tok-2');
  worker.setCredential('tok-2');
  await until(() => worker.status().uploaded === 14, 'uploaded with the new token');
  t.equal(worker.status().connection.state, 'online');
  t.equal(cloud.stored.size, 14);
});

t.test('local mode: no network call at all, survives restart, expiry syncs at once', async (t) => {
  const r = await rig(t);
  const { log, cloud, time } = r;
  await appendSales(log, 3);
  const until2h = time.now() + 2 * 3_600_000;
  await r.worker.setLocalMode({ on: true, until: until2h });
  await r.worker.start();
  t.match(r.worker.status().connection, { state: 'local', until: until2h });
  await time.advance(30 * 60_000);
  await appendSales(log, 2);
  r.worker.notifyAppended();
  t.equal(await codeOf(r.worker.syncUp()), 'LOCAL_MODE');
  t.equal(await codeOf(r.worker.syncDown()), 'LOCAL_MODE');
  await time.advance(30 * 60_000);
  t.same(cloud.calls, [], 'the transport received zero calls');

  // Restart the terminal: local mode is still on.
  await r.worker.stop();
  const w2 = r.newWorker();
  await w2.start();
  t.match(w2.status().connection, { state: 'local', until: until2h });
  t.match(w2.status().localMode, { on: true, until: until2h });
  await time.advance(60 * 60_000 - 1);
  t.same(cloud.calls, [], 'still zero calls after the restart');

  // Expiry: sync at once, without any further time passing.
  await time.advance(1);
  await until(() => w2.status().uploaded === 10 && w2.status().connection.state === 'online', 'synced at expiry');
  t.equal(cloud.stored.size, 10);
  t.ok(cloud.count('syncState') >= 1 && cloud.count('upload') >= 1);
  t.equal(w2.status().connection.state, 'online');
  t.match(w2.status().localMode, { on: false });
});

t.test('turning local mode on aborts what is in flight; off syncs at once', async (t) => {
  const { log, cloud, worker } = await rig(t, { stream: false });
  await appendSales(log, 5);
  cloud.hang = true;
  await worker.start();
  await until(() => cloud.count('upload') >= 1, 'upload in flight');
  await worker.setLocalMode({ on: true });
  const calls = cloud.calls.length;
  cloud.hang = false;
  await settle(20);
  t.equal(cloud.calls.length, calls, 'nothing new while local');
  t.equal(worker.status().connection.state, 'local');
  await worker.setLocalMode({ on: false });
  await until(() => worker.status().uploaded === 10, 'synced when turned off');
  t.equal(cloud.stored.size, 10);
});

t.test('the watchdog restarts a stalled upload', async (t) => {
  const { log, cloud, time, worker } = await rig(t, { stream: false, stallMs: 30_000 });
  await appendSales(log, 10);
  cloud.hang = true;
  await worker.start();
  await until(() => cloud.count('upload') === 2, 'window in flight'); // window of 2 batches
  cloud.hang = false;
  await time.advance(29_999);
  t.equal(worker.status().watchdogRestarts, 0);
  await time.advance(1);
  await until(() => worker.status().uploaded === 20, 'uploaded after the watchdog restart');
  t.equal(cloud.stored.size, 20);
  t.equal(worker.status().watchdogRestarts, 1);
  t.equal(worker.status().uploaded, 20);
});

t.test('restart() aborts in-flight requests and restarts cleanly; a waiting syncUp gets the new pass', async (t) => {
  const { log, cloud, worker } = await rig(t, { stream: false, stallMs: false });
  await appendSales(log, 10);
  cloud.hang = true;
  await worker.start();
  await until(() => cloud.count('upload') === 2, 'in flight');
  const up = worker.syncUp();
  cloud.hang = false;
  await worker.restart();
  const r = await up;
  t.equal(r.ackSeq, 20);
  t.equal(cloud.stored.size, 20);
  t.equal(worker.status().restarts, 1);
  t.equal(worker.status().connection.state, 'online');
});

t.test('download: pages with their cursor, pushed notifications, bad pages refused whole', async (t) => {
  const { log, cloud, worker } = await rig(t, { download: { pageSize: 10 } });
  const item = (n: number) => ({
    cursor: n, type: 'item.upserted' as const,
    body: { id: `i${n}`, sku: `S${n}`, name: `Item ${n}`, barcodes: [], price: 100 * n, taxRate: 0 },
  });
  cloud.feedChanges = Array.from({ length: 25 }, (_, i) => item(i + 1));
  cloud.openExceptions = 2;
  await worker.start();
  await until(() => log.feedCursor === 25, 'caught up');
  const sinces = cloud.calls.flatMap((c) => (c.op === 'feed' ? [c.since] : []));
  t.same(sinces.slice(0, 3), [0, 10, 20], 'paged by cursor');
  t.equal(worker.status().openExceptions, 2);

  cloud.feedChanges.push(item(26), item(27));
  cloud.push({ type: 'feed', head: 27 });
  await until(() => log.feedCursor === 27, 'pulled on notification');
  t.same(await worker.syncDown(), { changes: 0, cursor: 27, head: 27 });

  cloud.push({ type: 'exceptions', open: 3 });
  t.equal(worker.status().openExceptions, 3);

  // A page with one invalid change is not applied at all.
  cloud.feedChanges.push(item(28), { cursor: 29, type: 'item.upserted', body: { id: 'x' } } as never);
  t.equal(await codeOf(worker.syncDown()), 'CLOUD_BAD_RESPONSE');
  t.equal(log.feedCursor, 27);
  let stored = 0;
  for await (const page of log.readChanges()) stored += page.length;
  t.equal(stored, 27, 'change 28 was not applied either');
  t.equal(worker.status().lastDownError?.code, 'CLOUD_BAD_RESPONSE');
});

t.test('status: pending, oldest unsynced payment, log size; emitted on change only', async (t) => {
  const { log, time, worker } = await rig(t, { stream: false });
  await worker.setLocalMode({ on: true });
  await worker.start();
  const t0 = time.now();
  await appendSales(log, 1);
  await time.advance(5 * 60_000);
  await appendSales(log, 1);
  worker.notifyAppended();
  await until(() => worker.status().oldestUnsyncedPayment !== null && worker.status().logBytes !== null, 'derived status');
  let s: SyncStatus = worker.status();
  t.equal(s.pending, 4);
  t.equal(s.oldestUnsyncedPayment?.time, t0);
  t.equal(s.oldestUnsyncedPaymentAgeMs, 5 * 60_000);
  t.ok((s.logBytes ?? 0) > 0, 'log size measured');

  const seen: SyncStatus[] = [];
  const off = worker.onStatus((x) => seen.push(x));
  await time.advance(60 * 60_000);
  t.equal(seen.length, 0, 'nothing changed, nothing emitted');

  await worker.setLocalMode({ on: false });
  await until(() => worker.status().pending === 0 && worker.status().oldestUnsyncedPayment === null, 'synced');
  s = worker.status();
  t.equal(s.uploaded, 4);
  t.match(s.lastUp, { at: time.now(), uploaded: 4 });
  t.ok(seen.some((x) => x.activity?.op === 'upload'), 'activity with progress was pushed');
  t.ok(seen.length > 0);
  off();
});

t.test('status: the log size is measured at most every 2 s, and once more when that time is up', async (t) => {
  // No periodic passes while fake time moves on: each pass may measure, and this counts measurements.
  const { log, cloud, time, worker } = await rig(t, { stream: false, uploadPollMs: 3_600_000, download: { intervalMs: 3_600_000 } });
  await worker.start();
  await until(() => worker.status().logBytes !== null && worker.logMeasures === 1, 'measured at start');
  for (let i = 1; i <= 5; i++) {
    await appendSales(log, 1);
    await worker.syncUp();
  }
  await settle();
  t.equal(cloud.stored.size, 10, 'five passes uploaded');
  t.equal(worker.logMeasures, 1, 'not measured again within 2 s');
  t.equal(time.pending().filter((p) => p.delay <= 2_000).length >= 1, true, 'a measurement is scheduled');
  await time.advance(2_000);
  await until(() => worker.logMeasures === 2, 'measured once the 2 s were up');
  await time.advance(10_000);
  await settle();
  t.equal(worker.logMeasures, 2, 'nothing changed since: no timer left measuring');
  await appendSales(log, 1);
  await worker.syncUp();
  await until(() => worker.logMeasures === 3, 'a pass after the interval measures at once');
});

t.test('a download begun while the cloud was away and hanging is restarted once the stream is back', async (t) => {
  const { cloud, time, worker } = await rig(t);
  cloud.feedChanges = [{ cursor: 1, type: 'item.removed', body: { id: 'i1' } }, { cursor: 2, type: 'item.removed', body: { id: 'i2' } }];
  const down = Array.from({ length: 50 }, () => offline);
  cloud.failNext('subscribe', ...down);
  cloud.failNext('syncState', ...down);
  cloud.hangFeeds = 1; // the first download request never answers (the watchdog would cut it only after 30 s)
  await worker.start();
  await until(() => cloud.count('feed') === 1, 'the first download request');
  cloud.clearFaults();
  // The stream reconnects at its next retry (at most its 5 s cap).
  for (let i = 0; i < 60 && !worker.status().streamConnected; i++) await time.advance(100);
  t.ok(worker.status().streamConnected, 'the stream is back');
  t.equal(worker.status().feedCursor, 0, 'the hung pass has not moved');
  await time.advance(RECONNECT_STUCK_MS);
  await until(() => worker.status().feedCursor === 2, 'the restarted download');
  t.equal(cloud.count('feed') >= 2, true, 'a fresh request replaced the hung one');
  t.equal(worker.status().watchdogRestarts, 0, 'restarted by the reconnect, not by the watchdog');
});
