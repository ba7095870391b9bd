/**
 * The id filter (id-filter.ts) and its use in LevelStorage: never a false
 * negative (an id the store holds is always looked up, so a reused id is
 * always caught), and new ids are really spared the disk.
 */
import t from 'tap';
import { monotonicFactory } from 'ulid';
import { encodeCanonical, sha256Hex } from '../../src/events/codec.ts';
import { createRng, seedFromEnv } from '../../src/fixtures/prng.ts';
import { IdFilter } from '../../src/server/id-filter.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import type { StoredEvent, WriteOp } from '../../src/server/storage.ts';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay: SEED=${seed})`);

function ids(n: number): string[] {
  const rng = createRng(seed);
  const ulid = monotonicFactory(() => rng.next());
  return Array.from({ length: n }, () => ulid(1_700_000_000_000 + rng.int(0, 1_000_000)));
}

t.test('IdFilter: no false negatives, few false positives, nothing trusted before it is loaded', async (t) => {
  const all = ids(400_000);
  const held = all.slice(0, 300_000);
  const absent = all.slice(300_000);
  const f = new IdFilter();
  for (const id of held) f.add(id);
  t.notOk(f.usable, 'not usable before loaded()');
  t.ok(absent.every((id) => f.mayHold(id)), 'says "may hold" for every id until loaded');
  f.loaded();
  t.ok(f.usable);
  t.equal(held.filter((id) => !f.mayHold(id)).length, 0, 'every added id: may hold');
  const falsePositives = absent.filter((id) => f.mayHold(id)).length;
  t.ok(falsePositives < absent.length * 0.02, `false positives ${falsePositives} of ${absent.length}`);
  t.equal(f.size, held.length);
});

t.test('IdFilter: past its memory limit it stops growing and answers "may hold" for all', async (t) => {
  const f = new IdFilter(40 * 1024); // room for the first two segments (8 + 32 KiB)
  f.loaded();
  const all = ids(30_000);
  const room = 4096 + 4 * 4096;
  for (const id of all.slice(0, room)) f.add(id);
  t.ok(f.usable);
  t.ok(all.slice(0, room).every((id) => f.mayHold(id)), 'every id added is held');
  f.add(all[room]!);
  t.notOk(f.usable, 'full');
  t.ok(all.slice(room + 1).every((id) => f.mayHold(id)));
});

function event(store: string, terminal: string, seq: number, id: string): WriteOp {
  const bytes = encodeCanonical({ id, store, terminal, seq });
  const e: StoredEvent = { store, terminal, seq, id, hash: sha256Hex(bytes), bytes, indexById: true };
  return { kind: 'event', type: 'sale.voided', event: e };
}

t.test('LevelStorage: held ids are found across a restart, before and after the filter loads; new ids stay off the disk', async (t) => {
  const dir = t.testdir();
  const all = ids(6000);
  const held = all.slice(0, 4000);
  const fresh = all.slice(4000, 5000);
  const during = all.slice(5000);
  let s = await LevelStorage.open(dir);
  await s.commit(held.map((id, i) => event('s1', 't1', i + 1, id)));
  await s.close();

  s = await LevelStorage.open(dir);
  // Right after opening the filter is still loading: every id goes to disk, and held ones are found.
  const early = await s.getEventRefs('s1', held.slice(0, 500));
  t.ok(early.every((r) => r !== undefined), 'found while the filter loads');
  // A commit while it loads: its ids must not be lost by the load.
  const loading = s.idFilterLoaded('s1');
  await s.commit(during.map((id, i) => event('s1', 't2', i + 1, id)));
  await loading;

  const before = s.idLookups;
  const refs = await s.getEventRefs('s1', [...held, ...during]);
  t.equal(refs.filter((r) => r === undefined).length, 0, 'every held id found once loaded');
  t.same(refs[0], { terminal: 't1', seq: 1, hash: (event('s1', 't1', 1, held[0]!) as { event: StoredEvent }).event.hash });
  t.equal(refs[held.length]?.terminal, 't2');
  const afterHeld = s.idLookups;
  t.equal(afterHeld - before, held.length + during.length, 'held ids are all looked up');
  const none = await s.getEventRefs('s1', fresh);
  t.ok(none.every((r) => r === undefined));
  t.ok(s.idLookups - afterHeld < 50, `new ids looked up on disk: ${s.idLookups - afterHeld} of ${fresh.length}`);
  // Another store's filter is its own.
  t.same(await s.getEventRefs('s2', held.slice(0, 3)), [undefined, undefined, undefined]);
  await s.close();
});
