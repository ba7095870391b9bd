/**
 * PostgresStorage beyond the shared contract: migrations (versioned,
 * idempotent, a newer database refused untouched), a clear code when the
 * database cannot be reached, and feed cursors that never skip a change with
 * many writers in two pools (two cloud processes' worth) committing at once
 * while readers page the feed. Real PostgreSQL (test/helpers/pg.ts), in a
 * database of this file's own.
 */
import pg from 'pg';
import t from 'tap';
import { createRng, seedFromEnv } from '../../src/fixtures/prng.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';
import { SCHEMA_VERSION } from '../../src/server/postgres/schema.ts';
import type { CloudStorage } from '../../src/server/storage.ts';
import { createTestDatabase, withDatabase } from '../helpers/pg.ts';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay: SEED=${seed})`);
const db = await createTestDatabase(t);

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

t.test('migrations: applied once, in order, idempotent on every open; a newer database is refused untouched', async (t) => {
  const schema = 'mig';
  const opens = await Promise.all([1, 2, 3].map(() => PostgresStorage.open(db.url, { schema, poolSize: 2 })));
  await Promise.all(opens.map((s) => s.close()));
  const again = await PostgresStorage.open(db.url, { schema, poolSize: 2 });
  await again.commit([{ kind: 'customer', store: 's', customer: { id: 'c', name: 'C' } }]);
  await again.close();
  const versions = await sql<{ version: number }>('SELECT version FROM mig.tillsync_schema ORDER BY version');
  t.same(versions.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'each version recorded once (three processes started at once, then a fourth)');

  await sql('INSERT INTO mig.tillsync_schema (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
  await t.rejects(PostgresStorage.open(db.url, { schema }), { code: 'DB_SCHEMA_TOO_NEW' });
  t.same(await sql('SELECT id FROM mig.customers'), [{ id: 'c' }], 'the data is left as it was');
  t.equal((await sql('SELECT version FROM mig.tillsync_schema')).length, SCHEMA_VERSION + 1, 'no version added or removed');
});

t.test('a database that cannot be reached: DB_UNREACHABLE', async (t) => {
  // Port 1 on loopback: nothing listens there.
  await t.rejects(PostgresStorage.open('postgres://postgres@127.0.0.1:1/postgres'), { code: 'DB_UNREACHABLE' }, 'no server');
  await t.rejects(PostgresStorage.open(withDatabase(db.url, `${db.name}_missing`)), { code: 'DB_UNREACHABLE' }, 'no such database');
});

/** Adds one feed change as the server does (read the counters, commit the next cursor with them), retrying when another writer got there first. */
async function addChange(storage: CloudStorage, store: string, tag: string, rng: ReturnType<typeof createRng>): Promise<number> {
  for (let attempt = 1; attempt <= 500; attempt++) {
    const c = await storage.getCounters(store);
    const cursor = c.feedHead + 1;
    try {
      await storage.commit([
        { kind: 'feed', store, change: { cursor, type: 'item.removed', body: { id: tag } } },
        { kind: 'counters', store, counters: { ...c, feedHead: cursor }, expected: c },
      ]);
      return attempt;
    } catch (err) {
      if ((err as { code?: string }).code !== 'CLOUD_BUSY') throw err;
      await new Promise((r) => setTimeout(r, rng.int(0, 3)));
    }
  }
  throw new Error(`change ${tag} was not committed in 500 attempts`);
}

t.test('feed cursors never skip a change: writers in two pools at once, readers paging all the while', async (t) => {
  const rng = createRng(seed);
  const schema = 'feed';
  const pools = [await PostgresStorage.open(db.url, { schema, poolSize: 6 }), await PostgresStorage.open(db.url, { schema, poolSize: 6 })];
  t.teardown(() => Promise.all(pools.map((p) => p.close())));
  const store = 's';
  const WRITERS = 6; // per pool
  const EACH = 25;
  const total = 2 * WRITERS * EACH;
  let writing = true;
  let retries = 0;
  const writers = pools.flatMap((p, pi) =>
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < EACH; i++) retries += (await addChange(p, store, `p${pi}-w${w}-${i}`, rng)) - 1;
    }),
  );
  const deadline = Date.now() + 120_000;
  const readers = Array.from({ length: 4 }, async (_, r) => {
    const p = pools[r % 2]!;
    const seen: string[] = [];
    const problems: string[] = [];
    let since = 0;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`reader ${r}: saw ${seen.length} of ${total} changes before the deadline`);
      const page = await p.readFeed(store, since, 1 + (r * 3) % 11);
      for (const ch of page) {
        if (ch.cursor !== since + 1) problems.push(`cursor ${ch.cursor} after ${since}`);
        since = ch.cursor;
        seen.push((ch.body as { id: string }).id);
      }
      if (page.length === 0) {
        if (!writing && seen.length >= total) break;
        await new Promise((res) => setTimeout(res, 1));
      }
    }
    return { seen, problems };
  });
  await Promise.all(writers);
  writing = false;
  const results = await Promise.all(readers);
  t.comment(`${total} changes, ${retries} commits retried after another writer got there first`);
  const all = Array.from({ length: 2 }, (_, pi) => Array.from({ length: WRITERS }, (_, w) => Array.from({ length: EACH }, (_, i) => `p${pi}-w${w}-${i}`))).flat(2).sort();
  for (const [r, { seen, problems }] of results.entries()) {
    t.same(problems, [], `reader ${r}: every cursor follows the one before`);
    t.equal(seen.length, total, `reader ${r}: saw ${total} changes`);
    t.same([...seen].sort(), all, `reader ${r}: every change exactly once`);
  }
  t.equal((await pools[0]!.getCounters(store)).feedHead, total, 'the feed head counts every change');
});

t.test('the same events committed from two pools at once: stored once, the other commit refused with CLOUD_BUSY', async (t) => {
  const schema = 'twice';
  const [a, b] = [await PostgresStorage.open(db.url, { schema, poolSize: 2 }), await PostgresStorage.open(db.url, { schema, poolSize: 2 })];
  t.teardown(async () => {
    await a!.close();
    await b!.close();
  });
  const bytes = Buffer.from([0x81, 0xa2, 0x69, 0x64, 0xa1, 0x78]); // {id: 'x'}
  const ops = (id: string) => [
    { kind: 'event' as const, type: 'sale.voided', event: { store: 's', terminal: 't', seq: 1, id, hash: 'a'.repeat(64), bytes, indexById: true } },
    { kind: 'highWater' as const, store: 's', terminal: 't', highWater: { seq: 1, hash: 'a'.repeat(64), quarantined: 0 } },
  ];
  for (let round = 0; round < 10; round++) {
    const store = `s${round}`;
    const mk = () => ops(`id-${round}`).map((op) => (op.kind === 'event' ? { ...op, event: { ...op.event, store } } : { ...op, store }));
    const results = await Promise.allSettled([a!.commit(mk()), b!.commit(mk())]);
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const busy = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'CLOUD_BUSY').length;
    if (ok !== 1 || busy !== 1) t.fail(`round ${round}: ${ok} commits applied, ${busy} refused with CLOUD_BUSY`);
    t.equal((await a!.readEvents(store, 't', 1, 10)).length, 1, `round ${round}: one event stored`);
  }
});

t.test('store locks across pools (two processes\' worth): one task per store at a time, other stores free, a lock not had in time is CLOUD_BUSY', async (t) => {
  const schema = 'locks';
  const a = await PostgresStorage.open(db.url, { schema, poolSize: 2 });
  const b = await PostgresStorage.open(db.url, { schema, poolSize: 2, storeLockTimeoutMs: 300 });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let aHolds!: () => void;
  const aHolding = new Promise<void>((r) => (aHolds = r));
  const order: string[] = [];
  const first = a.lockStore('s1', async () => {
    order.push('a in');
    aHolds();
    await held;
    order.push('a out');
  });
  await aHolding;
  t.equal(await b.lockStore('s2', async () => 'other store'), 'other store', 'another store is not held up');
  const refused = await b.lockStore('s1', async () => 'ran').catch((e: { code?: string }) => e.code);
  t.equal(refused, 'CLOUD_BUSY', 'the held store: CLOUD_BUSY once the lock timeout passes, the task not run');
  const second = a.lockStore('s1', async () => order.push('a2')); // same pool, another session: waits too
  const third = (await PostgresStorage.open(db.url, { schema, poolSize: 1 }));
  t.teardown(() => third.close());
  const waiting = third.lockStore('s1', async () => order.push('c in'));
  await new Promise((r) => setTimeout(r, 200));
  t.same(order, ['a in'], 'nobody else ran while the lock was held');
  release();
  await Promise.all([first, second, waiting]);
  t.equal(order[1], 'a out', 'the holder finished before anybody else ran');
  t.same([...order.slice(2)].sort(), ['a2', 'c in'], 'then the waiters ran, one at a time');
  const failed = await a.lockStore('s1', async () => { throw new Error('task failed'); }).catch((e: Error) => e.message);
  t.equal(failed, 'task failed', 'a failing task answers its own error');
  t.equal(await b.lockStore('s1', async () => 'free'), 'free', 'and released the lock');
});
