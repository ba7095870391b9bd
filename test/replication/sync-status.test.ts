// StatusStore (src/replication/sync-status.ts): value-compared updates, pending
// derived from head and uploaded, and snapshots that are frozen and never
// change after they were handed out.
import t from 'tap';
import { StatusStore, type StatusFields, type SyncStatus } from '../../src/replication/sync-status.ts';

function initial(): StatusFields {
  return {
    connection: { state: 'offline', since: 0, error: null, retryAt: null },
    localMode: { on: false, until: null },
    uploaded: 0, head: 10, pending: 10, quarantined: 0, conflicts: 0, recentConflicts: [],
    lastUp: null, lastDown: null, lastUpError: null, lastDownError: null,
    feedCursor: 0, feedHead: null, activity: null,
    oldestUnsyncedPayment: { seq: 3, time: 1_000 }, openExceptions: null, logBytes: null, streamConnected: false,
    restarts: 0, watchdogRestarts: 0,
  };
}

t.test('listeners hear each real change once, with pending derived and the payment age at snapshot time', async (t) => {
  let now = 5_000;
  const store = new StatusStore({ now: () => now }, initial());
  const heard: SyncStatus[] = [];
  store.subscribe((s) => heard.push(s));
  store.update({ uploaded: 4 });
  store.update({ uploaded: 4 }); // same value: no call
  store.update({ activity: { op: 'upload', done: 4, total: 10 } });
  store.update({ activity: { op: 'upload', done: 4, total: 10 } }); // equal by value: no call
  now = 9_000;
  store.update({ head: 12, recentConflicts: [{ id: 'x', seq: 2, code: 'EVENT_CONFLICT' }] });
  t.equal(heard.length, 3);
  t.same(heard.map((s) => s.pending), [6, 6, 8]);
  t.same(heard.map((s) => s.oldestUnsyncedPaymentAgeMs), [4_000, 4_000, 8_000]);
});

t.test('snapshots are frozen and keep their values after later updates', async (t) => {
  const store = new StatusStore({ now: () => 0 }, initial());
  const before = store.snapshot();
  const patch = { recentConflicts: [{ id: 'a', seq: 1, code: 'EVENT_CONFLICT' }] };
  store.update(patch);
  store.update({ connection: { state: 'online', since: 1 }, uploaded: 7 });
  const after = store.snapshot();
  t.same(before.recentConflicts, [], 'an earlier snapshot is unchanged');
  t.equal(before.connection.state, 'offline');
  t.equal(after.connection.state, 'online');
  t.equal(after.pending, 3);
  t.ok(Object.isFrozen(after) && Object.isFrozen(after.connection) && Object.isFrozen(after.recentConflicts), 'deeply frozen');
  t.throws(() => {
    (after as { uploaded: number }).uploaded = 99;
  }, TypeError, 'a listener cannot change what others see');
  t.equal(store.snapshot().uploaded, 7);
  t.equal(after.localMode, before.localMode, 'unchanged parts are shared, not copied');
});
