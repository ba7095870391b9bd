// One contract suite for every CloudStorage backend (LevelDB, memory, PostgreSQL).
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { encodeCanonical, GENESIS_HASH, sha256Hex } from '../../src/events/codec.ts';
import { decodeIdEntry, encodeIdEntry, LevelStorage } from '../../src/server/level-storage.ts';
import { MemoryStorage } from '../../src/server/memory-storage.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';
import type { CloudStorage, StorageFaults, StoredEvent, WriteOp } from '../../src/server/storage.ts';
import { EMPTY_COUNTERS } from '../../src/server/storage.ts';
import { createTestDatabase } from '../helpers/pg.ts';

// This file's own PostgreSQL database (dropped at the end); each test gets a fresh schema in it.
const pgDb = await createTestDatabase(t);

type Factory = (t: Test, faults?: StorageFaults) => Promise<{ storage: CloudStorage; reopen?: () => Promise<CloudStorage> }>;

const backends: Record<string, Factory> = {
  level: async (tt, faults) => {
    const dir = tt.testdir();
    const storage = await LevelStorage.open(dir, faults ? { faults } : {});
    return {
      storage,
      reopen: async () => {
        await storage.close();
        return LevelStorage.open(dir);
      },
    };
  },
  memory: async (_tt, faults) => ({ storage: new MemoryStorage(faults ? { faults } : {}) }),
  postgres: async (_tt, faults) => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const storage = await PostgresStorage.open(pgDb.url, { schema, poolSize: 4, ...(faults ? { faults } : {}) });
    return {
      storage,
      reopen: async () => {
        await storage.close();
        return PostgresStorage.open(pgDb.url, { schema, poolSize: 4 });
      },
    };
  },
};

const ID = (n: number) => `01J0000000000000000000${String(n).padStart(4, '0')}`;

function event(store: string, terminal: string, seq: number, extra: Partial<StoredEvent> = {}): StoredEvent {
  const bytes = encodeCanonical({ id: ID(seq), store, terminal, seq });
  return { store, terminal, seq, id: ID(seq), hash: sha256Hex(bytes), bytes, indexById: true, ...extra };
}

const settings = { currency: 'EUR', offlineStoredValue: 'allow', offlineCap: 0 } as const;

for (const [name, factory] of Object.entries(backends)) {
  t.test(`${name} backend`, async (t) => {
    t.test('missing keys read as undefined or defaults', async (t) => {
      const { storage } = await factory(t);
      t.equal(await storage.getStore('s1'), undefined);
      t.same(await storage.getCounters('s1'), EMPTY_COUNTERS);
      t.same(await storage.getHighWater('s1', 't1'), { seq: 0, hash: GENESIS_HASH, quarantined: 0 });
      t.same(await storage.getEventRefs('s1', [ID(1)]), [undefined]);
      t.same(await storage.readEvents('s1', 't1', 1, 10), []);
      t.same(await storage.readFeed('s1', 0, 10), []);
      t.same(await storage.getBalances('s1', ['c1']), [undefined]);
      t.same(await storage.getVouchers('s1', ['v1']), [undefined]);
      t.same(await storage.getItems('s1', []), []);
      t.same(await storage.getCustomers('s1', ['c']), [undefined]);
      t.equal(await storage.getException('s1', 'exc-1'), undefined);
      t.equal(await storage.getException('s1', 'nonsense'), undefined);
      t.same(await storage.listExceptions('s1', 'all'), []);
      t.same(await storage.listQuarantine('s1', 10), []);
      t.equal(await storage.getCredential('ab'), undefined);
      await storage.close();
    });

    t.test('commit writes every kind and reads it back in order', async (t) => {
      const { storage, reopen } = await factory(t);
      const ops: WriteOp[] = [
        { kind: 'store', store: { id: 's1', name: 'One', settings, createdAt: 1 } },
        { kind: 'store', store: { id: 's0', name: 'Zero', settings, createdAt: 1 } },
        { kind: 'counters', store: 's1', counters: { feedHead: 2, openExceptions: 1, lastException: 1, quarantined: 1 } },
        { kind: 'terminal', terminal: { store: 's1', id: 't1', name: 'T1', createdAt: 1, tokenHash: 'h1', revoked: false } },
        { kind: 'terminal', terminal: { store: 's10', id: 't1', name: 'other store', createdAt: 1, tokenHash: 'h2', revoked: false } },
        { kind: 'credential', credential: { tokenHash: 'h1', store: 's1', terminal: 't1', revoked: false } },
        { kind: 'highWater', store: 's1', terminal: 't1', highWater: { seq: 12, hash: 'x'.repeat(64), quarantined: 1 } },
        { kind: 'feed', store: 's1', change: { cursor: 2, type: 'item.removed', body: { id: 'i2' } } },
        { kind: 'feed', store: 's1', change: { cursor: 1, type: 'item.removed', body: { id: 'i1' } } },
        { kind: 'feed', store: 's10', change: { cursor: 1, type: 'item.removed', body: { id: 'other' } } },
        { kind: 'balance', store: 's1', customer: 'c1', view: { balance: -5, includes: { t1: 3 }, recentDebits: [], incident: 'exc-1' } },
        { kind: 'voucher', store: 's1', voucher: 'V-0001', view: { balance: 500, includes: {}, recentDebits: [] } },
        { kind: 'item', store: 's1', item: { id: 'i1', sku: 'S1', name: 'Tea', barcodes: ['4006381333931'], price: 250, taxRate: 700 } },
        { kind: 'customer', store: 's1', customer: { id: 'c1', name: 'Ann' } },
        {
          kind: 'exception', store: 's1',
          exception: {
            id: 'exc-1', store: 's1', subject: { kind: 'balance', customer: 'c1' }, status: 'open', balanceBefore: 10,
            lowest: -5, shortfall: 5, terminals: ['t1'], events: [{ terminal: 't1', seq: 3, id: ID(3), amount: 15 }], openedAt: 1, updatedAt: 1,
          },
        },
      ];
      // 12 events, given out of order: reads are in seq order.
      for (let seq = 12; seq >= 1; seq--) {
        const q = seq === 5 ? { quarantine: { code: 'CUSTOMER_NOT_FOUND', message: 'no such customer' } } : {};
        ops.push({ kind: 'event', type: 'balance.delta', event: event('s1', 't1', seq, q) });
      }
      ops.push({ kind: 'event', type: 'sale.completed', event: event('s1', 't10', 1) });
      await storage.commit(ops);

      const check = async (s: CloudStorage) => {
        t.same((await s.listStores()).map((x) => x.id), ['s0', 's1']);
        t.same(await s.getStore('s1'), { id: 's1', name: 'One', settings, createdAt: 1 });
        t.same(await s.getCounters('s1'), { feedHead: 2, openExceptions: 1, lastException: 1, quarantined: 1 });
        t.same((await s.listTerminals('s1')).map((x) => x.id), ['t1'], 'prefix s1 does not match s10');
        t.equal((await s.getCredential('h1'))?.terminal, 't1');
        t.equal((await s.getHighWater('s1', 't1')).seq, 12);
        const evs = await s.readEvents('s1', 't1', 3, 4);
        t.same(evs.map((e) => e.seq), [3, 4, 5, 6]);
        t.same(evs[2]?.quarantine, { code: 'CUSTOMER_NOT_FOUND', message: 'no such customer' });
        t.equal(evs[0]?.quarantine, undefined);
        t.same(Buffer.from(evs[0]!.bytes), Buffer.from(event('s1', 't1', 3).bytes));
        t.equal(evs[0]!.hash, event('s1', 't1', 3).hash);
        t.equal(evs[0]!.id, ID(3));
        t.same((await s.readEvents('s1', 't1', 11, 100)).map((e) => e.seq), [11, 12]);
        t.same((await s.readEvents('s1', 't1', 0, 2)).map((e) => e.seq), [1, 2]);
        t.same(await s.readEvents('s1', 't1', 13, 100), []);
        const refs = await s.getEventRefs('s1', [ID(2), ID(99), ID(12)]);
        t.same(refs, [{ terminal: 't1', seq: 2, hash: event('s1', 't1', 2).hash }, undefined, { terminal: 't1', seq: 12, hash: event('s1', 't1', 12).hash }]);
        t.same(await s.listQuarantine('s1', 10), [{ terminal: 't1', seq: 5, id: ID(5), type: 'balance.delta', code: 'CUSTOMER_NOT_FOUND', message: 'no such customer' }]);
        t.same((await s.readFeed('s1', 0, 10)).map((c) => c.cursor), [1, 2]);
        t.same((await s.readFeed('s1', 1, 10)).map((c) => c.cursor), [2]);
        t.same((await s.readFeed('s1', 0, 1)).map((c) => c.cursor), [1]);
        t.same(await s.readFeed('s1', 2, 10), []);
        t.same(await s.getBalances('s1', ['c1', 'c2']), [{ balance: -5, includes: { t1: 3 }, recentDebits: [], incident: 'exc-1' }, undefined]);
        t.equal((await s.getVouchers('s1', ['V-0001']))[0]?.balance, 500);
        t.equal((await s.getItems('s1', ['i1']))[0]?.name, 'Tea');
        t.equal((await s.getCustomers('s1', ['c1']))[0]?.name, 'Ann');
        t.equal((await s.getException('s1', 'exc-1'))?.shortfall, 5);
        t.same((await s.listExceptions('s1', 'open')).map((e) => e.id), ['exc-1']);
        t.same(await s.listExceptions('s1', 'resolved'), []);
      };
      await check(storage);
      if (reopen) {
        const again = await reopen();
        t.comment('after reopening the same folder');
        await check(again);
        await again.close();
      } else {
        await storage.close();
      }
    });

    t.test('events of several stores and terminals, interleaved in one commit, read back by key and by id', async (t) => {
      const { storage, reopen } = await factory(t);
      const places = [['s1', 't1'], ['s2', 't1'], ['s1', 'tè-2'], ['store-with-a-longer-name', 't1']] as const;
      const seqs = [1, 9, 10, 999_999, 1_000_000_000_000_007];
      const ops: WriteOp[] = [];
      const idOf = (store: string, terminal: string, seq: number): string => `${store}.${terminal}.${seq}`;
      for (const [n, seq] of seqs.entries()) {
        for (const [store, terminal] of places) {
          const e = event(store, terminal, seq, { id: idOf(store, terminal, seq) });
          // Some with the hash's bytes too (the upload's form), which must say the same as the hex.
          ops.push({ kind: 'event', type: 'sale.voided', event: n % 2 ? { ...e, hashBytes: Buffer.from(e.hash, 'hex') } : e });
        }
      }
      await storage.commit(ops);
      const check = async (s: CloudStorage): Promise<void> => {
        for (const [store, terminal] of places) {
          const evs = await s.readEvents(store, terminal, 1, 100);
          t.same(evs.map((e) => e.seq), seqs, `${store}/${terminal} by key`);
          t.same(evs.map((e) => e.hash), seqs.map((q) => event(store, terminal, q).hash), 'the bytes stored are the event\'s');
          const refs = await s.getEventRefs(store, seqs.map((q) => idOf(store, terminal, q)));
          t.same(refs.map((r) => r && [r.terminal, r.seq, r.hash]), seqs.map((q) => [terminal, q, event(store, terminal, q).hash]), `${store}/${terminal} by id`);
        }
      };
      await check(storage);
      if (reopen) {
        const again = await reopen();
        await check(again);
        await again.close();
      } else await storage.close();
    });

    t.test('later ops win; deletes; returned values are copies', async (t) => {
      const { storage } = await factory(t);
      await storage.commit([
        { kind: 'item', store: 's', item: { id: 'i', sku: 'a', name: 'A', barcodes: [], price: 1, taxRate: 0 } },
        { kind: 'item', store: 's', item: { id: 'i', sku: 'a', name: 'B', barcodes: [], price: 1, taxRate: 0 } },
        { kind: 'customer', store: 's', customer: { id: 'c', name: 'C' } },
      ]);
      const [item] = await storage.getItems('s', ['i']);
      t.equal(item?.name, 'B');
      item!.name = 'mutated';
      t.equal((await storage.getItems('s', ['i']))[0]?.name, 'B');
      await storage.commit([{ kind: 'balance', store: 's', customer: 'c', view: { balance: 5, includes: { t1: 1 }, recentDebits: [] } }]);
      const [view] = await storage.getBalances('s', ['c']);
      view!.balance = 99;
      view!.includes.t1 = 99;
      t.same(await storage.getBalances('s', ['c']), [{ balance: 5, includes: { t1: 1 }, recentDebits: [] }]);
      await storage.commit([{ kind: 'itemRemoved', store: 's', id: 'i' }, { kind: 'customerRemoved', store: 's', id: 'c' }]);
      t.same(await storage.getItems('s', ['i']), [undefined]);
      t.same(await storage.getCustomers('s', ['c']), [undefined]);
      await storage.close();
    });

    t.test('exceptions list in numeric order', async (t) => {
      const { storage } = await factory(t);
      const exc = (n: number, status: 'open' | 'resolved') => ({
        kind: 'exception' as const, store: 's',
        exception: {
          id: `exc-${n}`, store: 's', subject: { kind: 'voucher' as const, voucher: 'V-1234' }, status, balanceBefore: 0,
          lowest: -1, shortfall: 1, terminals: [], events: [], openedAt: 1, updatedAt: 1,
        },
      });
      await storage.commit([exc(10, 'open'), exc(9, 'resolved'), exc(2, 'open')]);
      t.same((await storage.listExceptions('s', 'all')).map((e) => e.id), ['exc-2', 'exc-9', 'exc-10']);
      t.same((await storage.listExceptions('s', 'open')).map((e) => e.id), ['exc-2', 'exc-10']);
      await storage.close();
    });

    t.test('an event left out of the id index', async (t) => {
      const { storage } = await factory(t);
      await t.rejects(storage.commit([{ kind: 'event', type: 'x', event: event('s', 't', 1, { indexById: false }) }]), { code: 'STORAGE_FAILED' });
      t.same(await storage.readEvents('s', 't', 1, 10), [], 'unquarantined unindexed event refused');
      const q = { code: 'EVENT_CONFLICT', message: 'id in use' };
      await storage.commit([{ kind: 'event', type: 'x', event: event('s', 't', 1, { indexById: false, quarantine: q }) }]);
      t.same(await storage.getEventRefs('s', [ID(1)]), [undefined]);
      const [ev] = await storage.readEvents('s', 't', 1, 10);
      t.equal(ev?.indexById, false);
      t.same(ev?.quarantine, q);
      await storage.close();
    });

    t.test('a failure in the middle of a commit applies nothing', async (t) => {
      let armed = true;
      const { storage } = await factory(t, {
        beforeOp: (_op, i) => {
          if (armed && i === 2) throw new Error('injected');
        },
      });
      const ops: WriteOp[] = [
        { kind: 'highWater', store: 's', terminal: 't', highWater: { seq: 1, hash: event('s', 't', 1).hash, quarantined: 0 } },
        { kind: 'event', type: 'x', event: event('s', 't', 1) },
        { kind: 'feed', store: 's', change: { cursor: 1, type: 'item.removed', body: { id: 'i' } } },
        { kind: 'counters', store: 's', counters: { ...EMPTY_COUNTERS, feedHead: 1 } },
      ];
      await t.rejects(storage.commit(ops), { code: 'STORAGE_FAILED' });
      t.equal((await storage.getHighWater('s', 't')).seq, 0);
      t.same(await storage.readEvents('s', 't', 1, 10), []);
      t.same(await storage.getEventRefs('s', [ID(1)]), [undefined]);
      t.same(await storage.readFeed('s', 0, 10), []);
      t.same(await storage.getCounters('s'), EMPTY_COUNTERS);
      armed = false;
      await storage.commit(ops);
      t.equal((await storage.getHighWater('s', 't')).seq, 1);
      t.equal((await storage.getCounters('s')).feedHead, 1);
      await storage.close();
    });

    t.test('a failed commit leaves nothing for the next one; concurrent commits each apply their own ops', async (t) => {
      let armed = true;
      const { storage } = await factory(t, {
        beforeOp: (_op, i) => {
          if (armed && i === 2) throw new Error('injected');
        },
      });
      const failed: WriteOp[] = [
        { kind: 'highWater', store: 's', terminal: 't', highWater: { seq: 1, hash: event('s', 't', 1).hash, quarantined: 0 } },
        { kind: 'event', type: 'x', event: event('s', 't', 1) },
        { kind: 'counters', store: 's', counters: { ...EMPTY_COUNTERS, feedHead: 9 } },
      ];
      await t.rejects(storage.commit(failed), { code: 'STORAGE_FAILED' });
      armed = false;
      await storage.commit([{ kind: 'customer', store: 's', customer: { id: 'c', name: 'C' } }]);
      t.equal((await storage.getHighWater('s', 't')).seq, 0, 'the failed commit\'s first ops were not carried into the next');
      t.same(await storage.getEventRefs('s', [ID(1)]), [undefined]);
      t.equal((await storage.getCustomers('s', ['c']))[0]?.name, 'C');
      // Commits of different stores run at once (one lock per store).
      await Promise.all(
        Array.from({ length: 8 }, (_, k) =>
          storage.commit([
            { kind: 'highWater', store: `s${k}`, terminal: 't', highWater: { seq: k + 1, hash: event(`s${k}`, 't', k + 1).hash, quarantined: 0 } },
            { kind: 'event', type: 'x', event: event(`s${k}`, 't', k + 1) },
          ]),
        ),
      );
      for (let k = 0; k < 8; k++) {
        t.equal((await storage.getHighWater(`s${k}`, 't')).seq, k + 1, `store s${k}`);
        t.same((await storage.readEvents(`s${k}`, 't', 1, 10)).map((e) => e.seq), [k + 1], `store s${k} events`);
      }
      await storage.close();
    });

    t.test('support bundles: per terminal, in id order, removable, durable', async (t) => {
      const { storage, reopen } = await factory(t);
      const b = (store: string, terminal: string, n: number) => ({ store, terminal, id: ID(n), received: 1_000 + n, json: `{"n":${n},"text":"é ü"}` });
      t.same(await storage.listSupportBundles('s1', 't1'), []);
      await storage.commit([
        { kind: 'supportBundle', bundle: b('s1', 't1', 2) },
        { kind: 'supportBundle', bundle: b('s1', 't1', 1) },
        { kind: 'supportBundle', bundle: b('s1', 't10', 3) }, // a terminal whose id extends another's
        { kind: 'supportBundle', bundle: b('s2', 't1', 4) },
      ]);
      t.same(await storage.listSupportBundles('s1', 't1'), [b('s1', 't1', 1), b('s1', 't1', 2)], 'one terminal, id order, text intact');
      t.same((await storage.listSupportBundles('s1', 't10')).map((x) => x.id), [ID(3)]);
      t.same((await storage.listSupportBundles('s2', 't1')).map((x) => x.id), [ID(4)], 'stores apart');
      await storage.commit([{ kind: 'supportBundleRemoved', store: 's1', terminal: 't1', id: ID(1) }]);
      t.same((await storage.listSupportBundles('s1', 't1')).map((x) => x.id), [ID(2)], 'removed');
      const again = reopen ? await reopen() : storage;
      t.same((await again.listSupportBundles('s1', 't1')).map((x) => x.id), [ID(2)], 'after a reopen');
      await again.close();
    });

    t.test('operations after close fail with a stable code', async (t) => {
      const { storage } = await factory(t);
      await storage.close();
      await t.rejects(storage.commit([{ kind: 'customer', store: 's', customer: { id: 'c', name: 'C' } }]), { code: 'STORAGE_CLOSED' });
      await t.rejects(storage.getStore('s'), { code: 'STORAGE_CLOSED' });
      await t.rejects(storage.readFeed('s', 0, 1), { code: 'STORAGE_CLOSED' });
    });
  });
}

t.test('LevelStorage id index entries: terminal, seq and hash round-trip, earlier entries stay intact', async (t) => {
  const seqs = [1, 2, 255, 65_536, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER];
  const terminals = ['t', 'till-01', 'kasse-ü', 'x'.repeat(64)];
  const kept: Array<{ raw: Uint8Array; terminal: string; seq: number; hash: string }> = [];
  // Enough entries to fill several 64 KiB slabs.
  for (let i = 0; i < 20_000; i++) {
    const terminal = terminals[i % terminals.length]!;
    const seq = seqs[i % seqs.length]! - (i % 3);
    const hash = sha256Hex(new Uint8Array([i & 0xff, i >> 8]));
    kept.push({ raw: encodeIdEntry(terminal, seq, hash), terminal, seq, hash });
  }
  let bad = 0;
  for (const k of kept) {
    const back = decodeIdEntry(k.raw);
    if (back.terminal !== k.terminal || back.seq !== k.seq || back.hash !== k.hash) bad++;
  }
  t.equal(bad, 0, 'every entry decodes to what was encoded');
  t.throws(() => decodeIdEntry(new Uint8Array(40)), { code: 'STORAGE_FAILED' }, 'a truncated entry is refused');
  t.throws(() => encodeIdEntry('t', 1, 'ABC'), 'a hash that is not 64 hex digits is refused');
});
