// The feed tail (src/server/feed-tail.ts): a seeded model check of the ring,
// and the feed route answering the same pages from the tail as from storage.
import t from 'tap';
import type { Change } from '../../src/events/event-types.ts';
import { createRng, seedFromEnv } from '../../src/fixtures/prng.ts';
import { FeedTail } from '../../src/server/feed-tail.ts';
import { delta, get, redeem, sale, setupStore, startCloud, subdir, terminalLog, upload } from './harness.ts';

const change = (cursor: number): Change => ({ cursor, type: 'item.removed', body: { id: `i${cursor}` } });

t.test('reads match a model of the store feed; misses outside the tail', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed} (SEED=${seed} to repeat)`);
  const rng = createRng(seed);
  const perStore = rng.int(1, 40);
  const tail = new FeedTail({ perStore, stores: 3 });
  const stores = ['s0', 's1', 's2', 's3'];
  const feeds = new Map<string, Change[]>(stores.map((s) => [s, []]));
  let wrong = 0;
  let hits = 0;
  let misses = 0;
  for (let step = 0; step < 3000; step++) {
    const store = rng.pick(stores);
    const feed = feeds.get(store)!;
    if (rng.int(0, 2) === 0) {
      // A commit of 0..perStore+5 changes (sometimes more than the tail holds).
      const batch: Change[] = [];
      for (let k = rng.int(0, perStore + 5); k > 0; k--) batch.push(change(feed.length + batch.length + 1));
      tail.appended(store, batch);
      feed.push(...batch);
      continue;
    }
    // Mostly near the head (where terminals read), sometimes anywhere.
    const since = rng.int(0, 3) === 0 ? rng.int(0, feed.length + 2) : Math.max(0, feed.length + 2 - rng.int(0, perStore + 4));
    const limit = rng.int(1, perStore + 3);
    const got = tail.read(store, since, limit);
    if (got === undefined) {
      misses++;
      continue;
    }
    hits++;
    const want = feed.filter((c) => c.cursor > since).slice(0, limit);
    if (got.head !== feed.length || got.changes.length !== want.length || got.changes.some((c, i) => c !== want[i])) wrong++;
  }
  t.equal(wrong, 0, 'every answer equals the model (same change objects, same head)');
  t.ok(hits > 100 && misses > 100, `both answers happen (${hits} hits, ${misses} misses)`);
});

t.test('a store never appended to, a page before the tail, a cursor past the head: all misses', async (t) => {
  const tail = new FeedTail({ perStore: 4 });
  t.equal(tail.read('s', 0, 10), undefined, 'unknown store');
  tail.appended('s', [change(1), change(2), change(3), change(4), change(5), change(6)]);
  t.same(tail.read('s', 2, 10)?.changes.map((c) => c.cursor), [3, 4, 5, 6], 'the newest 4 are held');
  t.equal(tail.read('s', 1, 10), undefined, 'cursor 2 has left the tail');
  t.same(tail.read('s', 6, 10), { changes: [], head: 6 }, 'caught up: empty page, head 6');
  t.equal(tail.read('s', 7, 10), undefined, 'past the head: storage decides');
  tail.appended('s', [change(9)]);
  t.same(tail.read('s', 8, 10), { changes: [change(9)], head: 9 }, 'a jump in cursors starts a new run');
  t.equal(tail.read('s', 6, 10), undefined, 'nothing before the new run');
});

t.test('at most `stores` stores; the one appended to longest ago goes first', async (t) => {
  const tail = new FeedTail({ perStore: 4, stores: 2 });
  tail.appended('a', [change(1)]);
  tail.appended('b', [change(1)]);
  tail.appended('a', [change(2)]);
  tail.appended('c', [change(1)]);
  t.ok(tail.read('a', 0, 10), 'a was appended to recently');
  t.equal(tail.read('b', 0, 10), undefined, 'b was evicted');
  t.ok(tail.read('c', 0, 10));
});

t.test('the feed route answers the same pages from the tail as from storage after a restart', async (t) => {
  const dir = subdir(t, 'cloud');
  const first = await startCloud(t, { dir });
  const { tokens } = await setupStore(t, first.app);
  const log = await terminalLog(t, 's1', 't1');
  for (let i = 0; i < 5; i++) await upload(first.app, tokens.t1!, await log.append([sale(), delta('c1', -100), redeem('GIFT-1', 100)]));
  const pages = async (app: typeof first.app, token: string): Promise<unknown[]> => {
    const out: unknown[] = [];
    for (const since of [0, 1, 3, 7]) for (const limit of [1, 2, 5, 1000]) out.push((await get(app, token, `/v1/feed?since=${since}&limit=${limit}`)).body);
    return out;
  };
  const fromTail = { t1: await pages(first.app, tokens.t1!), t2: await pages(first.app, tokens.t2!) };
  await first.close();
  const second = await startCloud(t, { dir });
  t.same(await pages(second.app, tokens.t1!), fromTail.t1, 'terminal t1: same pages');
  t.same(await pages(second.app, tokens.t2!), fromTail.t2, 'terminal t2: same pages (its own includes only)');
  await second.close();
});

t.test('another process committed (external): a tail that ends below its head goes; one at or above it stays; clear() drops all', async (t) => {
  const tail = new FeedTail({ perStore: 8 });
  const ch = (cursor: number) => ({ cursor, type: 'item.removed', body: { id: `i${cursor}` } }) as Change;
  tail.appended('s1', [ch(1), ch(2), ch(3)]);
  tail.appended('s2', [ch(1), ch(2)]);
  tail.external('s1', 3);
  t.equal(tail.read('s1', 3, 10)?.head, 3, 'a head the tail already has: kept');
  tail.external('s1', 5);
  t.equal(tail.read('s1', 3, 10), undefined, 'a head above the tail: the tail no longer claims to be at the head');
  tail.appended('s1', [ch(6)]);
  t.equal(tail.read('s1', 3, 10), undefined, 'this process\'s next commit starts a new run: 4 and 5 are not answered from memory');
  t.same(tail.read('s1', 5, 10)?.changes.map((c) => c.cursor), [6], 'but the run it holds is');
  tail.clear();
  t.equal(tail.read('s2', 0, 10), undefined, 'clear(): every store goes');
});
