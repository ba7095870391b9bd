/**
 * The cloud database's key layout (level-storage.ts, KEY_ORDER): the id index
 * first in the key space with the newest ids first, the events last, so LevelDB
 * can move tables of new events and new ids down without rewriting them; ids
 * flip to index keys one-to-one; a commit's consecutive events of a terminal
 * are one entry (EventRun), read back from any seq; a database of layout
 * version 1 (events first, one entry each, ids in ascending order) is moved to
 * this one when opened, also after a move that stopped half way; and a
 * database of a newer version than the code knows is refused.
 */
import { ClassicLevel } from 'classic-level';
import t from 'tap';
import { monotonicFactory } from 'ulid';
import { encodeCanonical, sha256Hex } from '../../src/events/codec.ts';
import { createRng, seedFromEnv } from '../../src/fixtures/prng.ts';
import { seqKey } from '../../src/events/level-util.ts';
import { flipId, LAYOUT_VERSION, LevelStorage, readRun, unflipId } from '../../src/server/level-storage.ts';
import type { StoredEvent, WriteOp } from '../../src/server/storage.ts';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay: SEED=${seed})`);

type Raw = ClassicLevel<string, Uint8Array>;
const openRaw = async (dir: string): Promise<Raw> => {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  return db;
};

function ulids(n: number): string[] {
  const rng = createRng(seed);
  const ulid = monotonicFactory(() => rng.next());
  let time = 1_700_000_000_000;
  return Array.from({ length: n }, () => ulid((time += rng.int(0, 3))));
}

function event(store: string, terminal: string, seq: number, id: string): StoredEvent {
  const bytes = encodeCanonical({ id, store, terminal, seq });
  return { store, terminal, seq, id, hash: sha256Hex(bytes), bytes, indexById: true };
}

function eventOps(store: string, terminal: string, ids: readonly string[]): WriteOp[] {
  return ids.map((id, i) => ({ kind: 'event', type: 'sale.voided', event: event(store, terminal, i + 1, id) }));
}

t.test('flipId: one-to-one and reversible for any string; ULIDs flip to keys in reverse order, without "/"', async (t) => {
  const rng = createRng(seed);
  const alphabet = ['0', '9', 'A', 'Z', 'a', 'z', '-', '.', '_', '/', '~', '}', '{', ' ', '\u0000', 'é', '€', '\ud83d\ude00', '\ud800'];
  const seen = new Map<string, string>();
  for (let i = 0; i < 3000; i++) {
    let id = '';
    for (let n = rng.int(0, 12); n > 0; n--) id += alphabet[rng.int(0, alphabet.length - 1)];
    const key = flipId(id);
    if (unflipId(key) !== id) t.fail(`unflipId(flipId(${JSON.stringify(id)})) gave ${JSON.stringify(unflipId(key))}`);
    if (!/^[\x20-\x7e]*$/.test(key)) t.fail(`flipId(${JSON.stringify(id)}) is not printable ASCII: ${JSON.stringify(key)}`);
    const before = seen.get(key);
    if (before !== undefined && before !== id) t.fail(`${JSON.stringify(id)} and ${JSON.stringify(before)} flip to the same key`);
    seen.set(key, id);
  }
  const ids = ulids(2000);
  const keys = ids.map(flipId);
  t.ok(keys.every((k) => k.length === 26 && !k.includes('/') && !k.includes('~')), 'a ULID flips to 26 characters, none of them "/" or the escape');
  t.ok(keys.every((k, i) => i === 0 || keys[i - 1]! > k), 'later ULIDs flip to keys that sort first');
  t.ok(['a', 'A', '0', '-', '.', '_', 'z'].every((c) => !flipId(c).includes('/')), "ENTITY_RE's characters never flip to '/'");
});

t.test('on disk: the id index first with the newest id first, the events last', async (t) => {
  const dir = t.testdir();
  const s = await LevelStorage.open(dir);
  const ids = ulids(300);
  await s.commit([
    { kind: 'store', store: { id: 's', name: 'S', settings: { currency: 'EUR', offlineStoredValue: 'allow', offlineCap: 0 }, createdAt: 1 } },
    ...eventOps('s', 't1', ids.slice(0, 200)),
  ]);
  await s.commit([
    ...eventOps('s', 't1', ids.slice(200)).map((op, i) => (op.kind === 'event' ? { ...op, event: { ...op.event, seq: 201 + i } } : op)),
    { kind: 'highWater', store: 's', terminal: 't1', highWater: { seq: 300, hash: 'a'.repeat(64), quarantined: 0 } },
    { kind: 'balance', store: 's', customer: 'c', view: { balance: 1, includes: {}, recentDebits: [] } },
  ]);
  await s.close();
  const raw = await openRaw(dir);
  const keys = await raw.keys().all();
  await raw.close();
  const idKeys = keys.filter((k) => k.startsWith('!0ids!'));
  const eventKeys = keys.filter((k) => k.startsWith('!9events!'));
  t.equal(idKeys.length, 300, 'every id indexed');
  t.same(eventKeys.map((k) => Number(k.slice(k.lastIndexOf('/') + 1))), [1, 201], "each commit's events are one entry, under its first seq");
  t.ok(keys.length > 302, 'other records stored too');
  t.same(keys.slice(0, 300), idKeys, 'the id index comes first in the key space');
  t.same(keys.slice(-2), eventKeys, 'the events come last');
  t.same(idKeys.map((k) => unflipId(k.slice('!0ids!s/'.length))), [...ids].reverse(), 'newest id first');
});

t.test("events: a commit's consecutive events of one terminal are one entry; reads from any seq see each event once", async (t) => {
  const rng = createRng(seed + 1);
  const dir = t.testdir();
  const s = await LevelStorage.open(dir);
  const ids = ulids(3000);
  let nextId = 0;
  const held: Record<string, StoredEvent[]> = { t1: [], t2: [] };
  const make = (terminal: string): StoredEvent => {
    const e = event('s', terminal, held[terminal]!.length + 1, ids[nextId++]!);
    if (rng.int(0, 9) === 0) e.quarantine = { code: 'CUSTOMER_NOT_FOUND', message: 'm' };
    held[terminal]!.push(e);
    return e;
  };
  while (nextId < ids.length - 100) {
    const ops: WriteOp[] = [];
    // Runs of t1, sometimes broken by single t2 events (so runs of one event, stored as the bytes alone, come in between).
    for (let k = rng.int(1, 60); k > 0; k--) {
      ops.push({ kind: 'event', type: 'sale.voided', event: make(rng.int(0, 4) === 0 ? 't2' : 't1') });
    }
    await s.commit(ops);
  }
  await s.close();
  const raw = await openRaw(dir);
  const entries = await raw.iterator({ gte: '!9events!', lt: '!9events"' }).all();
  await raw.close();
  const sizes = entries.map(([, v]) => readRun(v).length);
  t.equal(sizes.reduce((a, b) => a + b, 0), held.t1!.length + held.t2!.length, 'the entries hold every event once');
  t.ok(sizes.some((n) => n === 1) && sizes.some((n) => n > 1), 'single events and runs both stored');
  t.ok(entries.length < nextId / 2, `fewer entries (${entries.length}) than events (${nextId})`);

  const again = await LevelStorage.open(dir);
  let wrong = 0;
  for (let r = 0; r < 300; r++) {
    const terminal = rng.int(0, 2) === 0 ? 't2' : 't1';
    const all = held[terminal]!;
    const from = rng.int(-1, all.length + 2);
    const limit = rng.int(0, 90);
    const got = await again.readEvents('s', terminal, from, limit);
    const want = all.slice(Math.max(1, from) - 1, Math.max(1, from) - 1 + limit);
    const show = (e: StoredEvent) => `${e.seq} ${e.id} ${e.hash} ${e.quarantine?.code ?? '-'} ${Buffer.from(e.bytes).toString('hex')}`;
    if (got.map(show).join('|') !== want.map(show).join('|')) {
      if (wrong++ < 3) t.fail(`readEvents(${terminal}, from ${from}, limit ${limit}): got seqs ${got.map((e) => e.seq)}, want ${want.map((e) => e.seq)}`);
    }
  }
  t.equal(wrong, 0, 'every read from any seq with any limit gives exactly the events asked for');
  await again.close();
});

/**
 * Writes a database of layout version 1: the events under `!1events!` and the
 * ids, not flipped, under `!2ids!`, made from what this layout stored. `keep`
 * of each are left in the new layout (a move that stopped half way).
 */
async function toOldLayout(dir: string, keep = 0): Promise<number> {
  const raw = await openRaw(dir);
  let moved = 0;
  const batch = raw.batch();
  let events = 0;
  let ids = 0;
  for await (const [k, v] of raw.iterator()) {
    if (k.startsWith('!9events!')) {
      // The layout before had one entry per event: each run is split.
      const head = k.slice('!9events!'.length, k.lastIndexOf('/') + 1);
      const seq0 = Number(k.slice(k.lastIndexOf('/') + 1));
      batch.del(k);
      for (const [j, bytes] of readRun(v).entries()) {
        const key = `${head}${seqKey(seq0 + j)}`;
        if (events++ >= keep) {
          batch.put(`!1events!${key}`, bytes);
          moved++;
        } else batch.put(`!9events!${key}`, bytes);
      }
    } else if (k === '!5meta!layout') {
      batch.del(k); // version 1 recorded no version
    } else if (k.startsWith('!0ids!') && ids++ >= keep) {
      const rest = k.slice('!0ids!'.length);
      const at = rest.indexOf('/') + 1;
      batch.put(`!2ids!${rest.slice(0, at)}${unflipId(rest.slice(at))}`, v).del(k);
      moved++;
    }
  }
  await batch.write();
  await raw.close();
  return moved;
}

for (const keep of [0, 2500]) {
  t.test(`a database of layout version 1 is moved when opened${keep ? ', also after a move that stopped half way' : ''}`, async (t) => {
    const dir = t.testdir();
    const ids = ulids(5000);
    const first = await LevelStorage.open(dir);
    await first.commit([...eventOps('s', 't1', ids.slice(0, 3000)), ...eventOps('s2', 't9', ids.slice(3000))]);
    const before = { t1: await first.readEvents('s', 't1', 1, 10_000), t9: await first.readEvents('s2', 't9', 1, 10_000) };
    await first.close();
    const old = await toOldLayout(dir, keep);
    t.equal(old, 2 * (5000 - keep), 'the old layout written');

    const progress: number[] = [];
    const s = await LevelStorage.open(dir, { onMigrate: (moved) => progress.push(moved) });
    t.ok(progress.length >= 2, 'progress reported per page');
    t.equal(progress.at(-1), old, 'every entry of the old layout moved');
    t.same(await s.readEvents('s', 't1', 1, 10_000), before.t1, 'events read back as before');
    t.same(await s.readEvents('s2', 't9', 1, 10_000), before.t9);
    const refs = [...(await s.getEventRefs('s', ids.slice(0, 3000))), ...(await s.getEventRefs('s2', ids.slice(3000)))];
    t.same(refs.map((r) => r && `${r.terminal}/${r.seq}`), ids.map((_, i) => (i < 3000 ? `t1/${i + 1}` : `t9/${i - 2999}`)), 'every id found by id');
    await s.idFilterLoaded('s');
    const lookups = s.idLookups;
    t.same((await s.getEventRefs('s', ids.slice(0, 10))).map((r) => r?.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the id filter, loaded from the moved index, holds them');
    t.equal(s.idLookups - lookups, 10, 'held ids are looked up on disk');
    await s.commit(eventOps('s', 't1', ulids(5001).slice(5000)).map((op) => (op.kind === 'event' ? { ...op, event: { ...op.event, seq: 3001 } } : op)));
    t.equal((await s.readEvents('s', 't1', 3001, 10)).length, 1, 'new events follow');
    await s.close();

    const raw = await openRaw(dir);
    const left = await raw.keys({ gte: '!1', lt: '!3' }).all();
    await raw.close();
    t.same(left, [], 'nothing left under the old sublevels');
    const again: number[] = [];
    await (await LevelStorage.open(dir, { onMigrate: (moved) => again.push(moved) })).close();
    t.same(again, [], 'the next open has nothing to move');
  });
}

t.test('the layout version: recorded on open, and a newer one is refused untouched', async (t) => {
  const dir = t.testdir();
  await (await LevelStorage.open(dir)).close();
  let raw = await openRaw(dir);
  t.equal(Buffer.from((await raw.get('!5meta!layout'))!).toString('utf8'), String(LAYOUT_VERSION), 'a new database records the current version');
  await raw.put('!5meta!layout', Buffer.from(String(LAYOUT_VERSION + 1)));
  await raw.put('!1events!s/t/0000000000000001', Buffer.from([0x80]));
  await raw.close();
  await t.rejects(LevelStorage.open(dir), { code: 'DB_SCHEMA_TOO_NEW' });
  raw = await openRaw(dir);
  t.equal(Buffer.from((await raw.get('!5meta!layout'))!).toString('utf8'), String(LAYOUT_VERSION + 1), 'the version is left as it was');
  t.ok(await raw.get('!1events!s/t/0000000000000001'), 'nothing was moved');
  await raw.close();
});
