// The `quarantineReleased` write op (issue 24) on every CloudStorage backend: the
// quarantine record goes, the event (bytes, id index) stays; it survives a reopen.
// Kept apart from storage-contract.test.ts so a new backend's port can pick it up as is.
import t, { type Test } from 'tap';
import { encodeCanonical, sha256Hex } from '../../src/events/codec.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import { MemoryStorage } from '../../src/server/memory-storage.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';
import { createTestDatabase } from '../helpers/pg.ts';
import { randomBytes } from 'node:crypto';
import type { CloudStorage, StoredEvent } from '../../src/server/storage.ts';

// This file's own PostgreSQL database (dropped at the end).
const pgDb = await createTestDatabase(t);

type Factory = (t: Test) => Promise<{ storage: CloudStorage; reopen?: () => Promise<CloudStorage> }>;
const backends: Record<string, Factory> = {
  level: async (tt) => {
    const dir = tt.testdir();
    const storage = await LevelStorage.open(dir);
    return { storage, reopen: async () => { await storage.close(); return LevelStorage.open(dir); } };
  },
  memory: async () => ({ storage: new MemoryStorage() }),
  postgres: async () => {
    const schema = `q_${randomBytes(6).toString('hex')}`;
    const storage = await PostgresStorage.open(pgDb.url, { schema, poolSize: 2 });
    return { storage, reopen: async () => { await storage.close(); return PostgresStorage.open(pgDb.url, { schema, poolSize: 2 }); } };
  },
};

const ID = (n: number) => `01J0000000000000000000${String(n).padStart(4, '0')}`;
function event(seq: number, extra: Partial<StoredEvent> = {}): StoredEvent {
  const bytes = encodeCanonical({ id: ID(seq), store: 's', terminal: 't', seq });
  return { store: 's', terminal: 't', seq, id: ID(seq), hash: sha256Hex(bytes), bytes, indexById: true, ...extra };
}

for (const [name, factory] of Object.entries(backends)) {
  t.test(`${name}: quarantineReleased`, async (t) => {
    const { storage, reopen } = await factory(t);
    const q = { code: 'CUSTOMER_NOT_FOUND', message: 'unknown' };
    await storage.commit([
      { kind: 'event', type: 'balance.delta', event: event(1, { quarantine: q }) },
      { kind: 'event', type: 'balance.delta', event: event(2, { quarantine: q }) },
    ]);
    t.equal((await storage.listQuarantine('s', 10)).length, 2);
    await storage.commit([{ kind: 'quarantineReleased', store: 's', terminal: 't', seq: 1 }]);
    t.same((await storage.listQuarantine('s', 10)).map((x) => x.seq), [2], 'only the released one left the listing');
    let s = storage;
    if (reopen) s = await reopen();
    const [one, two] = await s.readEvents('s', 't', 1, 10);
    t.equal(one?.quarantine, undefined, 'reads as accepted');
    t.same(two?.quarantine, q);
    t.equal(one?.hash, event(1).hash, 'bytes untouched');
    t.same((await s.getEventRefs('s', [ID(1)]))[0]?.seq, 1, 'id index untouched');
    await s.commit([{ kind: 'quarantineReleased', store: 's', terminal: 't', seq: 9 }]);
    t.same((await s.listQuarantine('s', 10)).map((x) => x.seq), [2], 'releasing what is not quarantined is a no-op');
    await s.close();
  });
}
