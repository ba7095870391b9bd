/**
 * LevelStorage commits through classic-level's private chained-batch methods
 * (`_put`, `_del`, `_write`, `_clear`: level/commit-batches.ts) and reuses the
 * native batches. Those methods are not public API, so classic-level is pinned
 * exactly: this test fails if the pin is loosened or the installed version
 * differs from it, and if commits no longer take the native path.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import t from 'tap';
import { LevelStorage } from '../../src/server/level-storage.ts';

const require = createRequire(import.meta.url);

t.test('classic-level is pinned exactly, and the installed version is the pinned one', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  const pinned = pkg.dependencies['classic-level'];
  t.match(pinned, /^\d+\.\d+\.\d+$/, 'an exact version, no range');
  t.equal((require('classic-level/package.json') as { version: string }).version, pinned, 'installed = pinned');
});

t.test('commits take the native batch path and reuse their batches', async (t) => {
  const s = await LevelStorage.open(t.testdir());
  for (let i = 0; i < 20; i++) {
    await s.commit([
      { kind: 'customer', store: 's', customer: { id: `c${i}`, name: 'C' } },
      { kind: 'customerRemoved', store: 's', id: `c${i - 1}` },
    ]);
  }
  // Concurrent commits each need a batch of their own.
  await Promise.all(Array.from({ length: 3 }, (_, k) => s.commit([{ kind: 'customer', store: `s${k}`, customer: { id: 'c', name: 'C' } }])));
  const { made, native } = s.batchStats;
  t.ok(made >= 1, 'a batch was made');
  t.equal(native, made, 'every batch is a native one (the fast path)');
  t.ok(made <= 3, `23 commits, at most 3 at once, made ${made} batches: they are reused`);
  t.same(await s.getCustomers('s', ['c18', 'c19']), [undefined, { id: 'c19', name: 'C' }], 'the native path wrote puts and deletes');
  await s.close();
});
