/**
 * Cost of looking up held ids (what bench/sync.ts case (c) "duplicates" makes
 * the cloud do for each resent batch), over a real LevelStorage filled like
 * case (b): `terminals` terminals × `perTerminal` events, committed in batches
 * of 1000, the terminals interleaved.
 *
 *   npx tsx bench/tools/lookup-cost.ts [terminals=50] [perTerminal=20000] [rounds=200]
 *
 * Prints ms per `getEventRefs` of one terminal's 1000 held ids (median and p90
 * of `rounds` random batches), with the id filter loaded.
 */
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { encodeCanonical, sha256Hex } from '../../src/events/codec.ts';
import { createRng } from '../../src/fixtures/prng.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import type { WriteOp } from '../../src/server/storage.ts';
import { median, withTempDir } from '../lib.ts';

const terminals = Number(process.argv[2] ?? 50);
const perTerminal = Number(process.argv[3] ?? 20_000);
const rounds = Number(process.argv[4] ?? 200);
const store = 'bench-store';
const ulid = monotonicFactory();
const rng = createRng(5);
const ids: string[][] = Array.from({ length: terminals }, () => []);
const filler = 'x'.repeat(220); // about the size of a fixture event

await withTempDir('lookup-cost', async (dir) => {
  const storage = await LevelStorage.open(dir);
  for (let from = 1; from <= perTerminal; from += 1000) {
    for (let t = 0; t < terminals; t++) {
      const terminal = `t-${String(t).padStart(2, '0')}`;
      const ops: WriteOp[] = [];
      for (let seq = from; seq < from + 1000 && seq <= perTerminal; seq++) {
        const id = ulid();
        ids[t]!.push(id);
        const bytes = encodeCanonical({ id, store, terminal, seq, filler });
        ops.push({ kind: 'event', type: 'sale.voided', event: { store, terminal, seq, id, hash: sha256Hex(bytes), bytes, indexById: true } });
      }
      await storage.commit(ops);
    }
  }
  await storage.idFilterLoaded(store);
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = rng.int(0, terminals - 1);
    const at = 1000 * rng.int(0, Math.floor(perTerminal / 1000) - 1);
    const batch = ids[t]!.slice(at, at + 1000);
    const t0 = performance.now();
    const refs = await storage.getEventRefs(store, batch);
    ms.push(performance.now() - t0);
    if (refs.some((x) => x === undefined)) throw new Error('a held id was not found');
  }
  ms.sort((a, b) => a - b);
  const p90 = ms[Math.min(ms.length - 1, Math.floor(0.9 * ms.length))]!;
  console.log(`${terminals} × ${perTerminal} events held; getEventRefs of 1000 held ids: median ${median(ms).toFixed(2)} ms, p90 ${p90.toFixed(2)} ms`);
  await storage.close();
});
