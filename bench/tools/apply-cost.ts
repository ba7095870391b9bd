/**
 * Per-batch cost of upload phase 2 (`applyUpload`: reads, classification, the
 * commit) over a real LevelStorage, in one process, without HTTP or the decode
 * pool: what the store's lock holds per batch of 1000 fixture events.
 *
 *   npx tsx bench/tools/apply-cost.ts [events=200000]
 *   node --cpu-prof --import tsx bench/tools/apply-cost.ts   # then cpuprofile-summary.ts
 *
 * Prints ms per batch for applyUpload in all and for the part of it spent in
 * `storage.commit` (building the LevelDB batch and its synced write).
 */
import { Encoder } from '@msgpack/msgpack';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { encodeCanonical, GENESIS_HASH, sha256Hex } from '../../src/events/codec.ts';
import { systemClock } from '../../src/events/event-log.ts';
import type { TillEvent } from '../../src/events/event-types.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateCustomers, generateVouchers } from '../../src/fixtures/customers.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import type { CredentialRecord } from '../../src/server/storage.ts';
import type { ServerContext } from '../../src/server/store-tx.ts';
import { UploadBatch } from '../../src/server/upload-batch.ts';
import { applyUpload, decodeUploadBody } from '../../src/server/upload.ts';
import { withTempDir } from '../lib.ts';
import { perEventByThread, threadCpuMs } from '../children.ts';

const n = Number(process.argv[2] ?? 200_000);
const store = 'bench-store';
const terminal = 'bench-t1';
const ulid = monotonicFactory();
const catalog = generateCatalog({ seed: 1, items: 20_000 });
const customers = generateCustomers({ seed: 2, count: 2000 });
const vouchers = generateVouchers({ seed: 3, count: 500 });
const drafts = [];
for (const s of generateSales({ seed: 4, catalog, customers, vouchers, count: Number.MAX_SAFE_INTEGER })) {
  drafts.push(...saleToDrafts(s, ulid()));
  if (drafts.length >= n) break;
}
let prev = GENESIS_HASH;
const bytes = drafts.slice(0, n).map((d, i) => {
  const ev = { id: d.id ?? ulid(), type: d.type, v: 1, store, terminal, seq: i + 1, time: Date.now(), prev, body: d.body } as TillEvent;
  const b = encodeCanonical(ev);
  prev = sha256Hex(b);
  return b;
});
const enc = new Encoder();
const cred: CredentialRecord = { tokenHash: 'x', store, terminal, revoked: false };
const batches: UploadBatch[] = [];
for (let i = 0; i < bytes.length; i += 1000) {
  const body = enc.encode({ v: 1, events: bytes.slice(i, i + 1000) }).slice();
  batches.push(new UploadBatch(decodeUploadBody(body, cred)));
}

await withTempDir('apply-cost', async (dir) => {
  const storage = await LevelStorage.open(dir);
  const now = Date.now();
  await storage.commit([
    { kind: 'store', store: { id: store, name: 'Bench', settings: { currency: 'USD', offlineStoredValue: 'allow', offlineCap: 0 }, createdAt: now } },
    ...customers.map((c) => ({ kind: 'customer' as const, store, customer: c.record })),
    ...customers.map((c) => ({ kind: 'balance' as const, store, customer: c.record.id, view: { balance: c.openingBalance * 100, includes: {}, recentDebits: [] } })),
    ...vouchers.map((v) => ({ kind: 'voucher' as const, store, voucher: v.code, view: { balance: v.amount * 100, includes: {}, recentDebits: [] } })),
  ]);
  let commitMs = 0;
  const commit = storage.commit.bind(storage);
  storage.commit = async (ops) => {
    const t0 = performance.now();
    try {
      await commit(ops);
    } finally {
      commitMs += performance.now() - t0;
    }
  };
  const ctx: ServerContext = { storage, clock: systemClock, notify: { feed() {}, exceptions() {}, credentialRevoked() {} } };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const threads0 = await threadCpuMs(process.pid);
  let accepted = 0;
  for (const b of batches) accepted += (await applyUpload(ctx, cred, b)).accepted;
  const ms = performance.now() - t0;
  const feed = (await storage.getCounters(store)).feedHead;
  await storage.close(); // waits for LevelDB's background compaction to stop
  const cpu = process.cpuUsage(cpu0);
  const threads = perEventByThread(threads0, await threadCpuMs(process.pid), bytes.length);
  console.log(`${accepted} of ${bytes.length} events accepted in ${batches.length} batches; ids looked up on disk ${storage.idLookups}, hot records read from memory ${storage.hotHits}; feed changes written ${feed}`);
  console.log(`applyUpload ${(ms / batches.length).toFixed(2)} ms per batch, of which storage.commit ${(commitMs / batches.length).toFixed(2)} ms`);
  console.log(
    `CPU (all threads, LevelDB's background compaction included) ${((cpu.user + cpu.system) / bytes.length).toFixed(1)} µs per event; ` +
      `compaction wrote ${(await compactedBytes(dir) / 1e6).toFixed(0)} MB`,
  );
  const busy = Object.entries(threads).filter(([, us]) => us >= 0.05).sort((a, b) => b[1] - a[1]);
  console.log(`CPU µs per event by thread (tid - pid; LevelDB's background thread is the one made during the run): ${busy.map(([k, us]) => `${k} ${us.toFixed(1)}`).join(', ')}`);
});

/** Bytes written by LevelDB's compactions, from the `Compacted ... => N bytes` lines of its LOG. */
async function compactedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const m of (await readFile(join(dir, 'LOG'), 'utf8')).matchAll(/Compacted .* => (\d+) bytes/g)) total += Number(m[1]);
  return total;
}
