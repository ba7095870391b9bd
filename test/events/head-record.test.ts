/**
 * Issue 15, fault 1.1: a flipped byte in the last block of LevelDB's
 * write-ahead log makes LevelDB drop the newest batches on open, head and all.
 * The head record (outside LevelDB, fsynced before every acknowledgement) makes
 * that loss loud: LOG_CORRUPTED on open, with the lost seqs, appends refused.
 * Real LevelDB files, changed on disk while the log is closed.
 */
import t from 'tap';
import { openSync, readdirSync, readSync, statSync, writeSync, closeSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventLog } from '../../src/events/event-log.ts';
import type { EventDraft } from '../../src/events/event-types.ts';
import { HEAD_RECORD_FILE, HeadRecord } from '../../src/events/head-record.ts';

const delta = (n: number): EventDraft => ({ type: 'balance.delta', body: { customer: 'c1', delta: n, reason: 'adjustment', note: `note ${n}` } });
const open = (dir: string) => EventLog.open(dir, { store: 's1', terminal: 't1' });

async function makeLog(dir: string, groups: number): Promise<void> {
  const log = await open(dir);
  for (let i = 0; i < groups; i++) await log.append([delta(i * 2 + 1), delta(i * 2 + 2)]);
  await log.close();
}

/** Flips one byte `back` bytes before the end of the newest LevelDB write-ahead log file. */
function flipWalTail(dir: string, back: number): string {
  const wal = readdirSync(dir).filter((f) => f.endsWith('.log')).sort().pop();
  if (!wal) throw new Error('no write-ahead log file in the folder');
  const path = join(dir, wal);
  const size = statSync(path).size;
  if (size <= back) throw new Error(`write-ahead log is only ${size} bytes`);
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, size - back);
  b[0]! ^= 0x40;
  writeSync(fd, b, 0, 1, size - back);
  closeSync(fd);
  return wal;
}

t.test('a flipped byte in the write-ahead log tail: LOG_CORRUPTED on open, lost seqs named, appends refused', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 20); // head 40, all in the write-ahead log (no compaction yet)
  flipWalTail(dir, 20);
  const log = await open(dir);
  t.teardown(() => log.close());
  t.ok(log.droppedOnOpen.length > 0, 'LevelDB logged that it dropped bytes');
  t.ok(log.head.seq < 40, `LevelDB opened with an older head (${log.head.seq})`);
  const h = log.health;
  t.equal(h.state, 'corrupted');
  if (h.state !== 'corrupted') return;
  t.equal(h.code, 'LOG_CORRUPTED');
  t.same(h.details?.lost, { from: log.head.seq + 1, to: 40 }, 'the lost acknowledged seqs are named');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
  t.ok(log.refused, 'the refusal is visible');
});

t.test('the refusal survives a restart: nothing is forgotten by reopening', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 20);
  flipWalTail(dir, 20);
  (await open(dir)).close();
  const log = await open(dir);
  t.teardown(() => log.close());
  t.equal(log.droppedOnOpen.length, 0, 'LevelDB no longer mentions the drop');
  t.equal(log.health.state, 'corrupted', 'still refused: the head record still says 40');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
});

t.test('a head record one batch behind (crash between the batch and the record) is accepted and repaired', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 5);
  let log = await open(dir);
  const mid = (await log.get(6))!;
  await log.close();
  const rec = await HeadRecord.open(dir);
  await rec.write({ seq: 6, hash: mid.hash });
  await rec.close();
  log = await open(dir);
  t.equal(log.health.state, 'ok');
  await log.append([delta(99)]);
  await log.close();
  const again = await HeadRecord.open(dir);
  t.teardown(() => again.close());
  t.equal(again.recorded?.seq, 11, 'the record follows the head again');
});

t.test('a head record naming another event than the log holds is refused', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 5);
  const rec = await HeadRecord.open(dir);
  await rec.write({ seq: 10, hash: 'ab'.repeat(32) });
  await rec.close();
  const log = await open(dir);
  t.teardown(() => log.close());
  t.equal(log.health.state, 'corrupted');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
});

t.test('one torn slot: the other slot is used; both unreadable: refused', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 3);
  const path = join(dir, HEAD_RECORD_FILE);
  const bytes = readFileSync(path);
  t.equal(bytes.length, 512, 'two 256-byte slots');
  const oneTorn = Buffer.from(bytes);
  oneTorn.fill(0x78, 10, 40, 'latin1'); // both slots hold seq 6 or 5; tear slot 0
  writeFileSync(path, oneTorn);
  let rec = await HeadRecord.open(dir);
  t.ok(rec.recorded, 'a valid slot remains');
  await rec.close();
  let log = await open(dir);
  t.equal(log.health.state, 'ok', 'an older valid slot is a record behind the head: accepted');
  await log.close();
  const bothTorn = readFileSync(path);
  bothTorn.fill(0x78, 10, 40);
  bothTorn.fill(0x78, 266, 296);
  writeFileSync(path, bothTorn);
  rec = await HeadRecord.open(dir);
  t.equal(rec.recorded, undefined);
  t.equal(rec.unreadable, true);
  await rec.close();
  log = await open(dir);
  t.teardown(() => log.close());
  t.equal(log.health.state, 'corrupted', 'an unreadable record is not taken as a new folder');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
});

t.test('noteCloudHead: a cloud ahead of the log refuses appends with LOG_BEHIND_CLOUD', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 3);
  const log = await open(dir);
  t.teardown(() => log.close());
  t.equal(await log.noteCloudHead({ seq: 6, hash: log.head.hash }), undefined, 'a cloud at the head is fine');
  t.equal(await log.noteCloudHead({ seq: 4, hash: (await log.get(4))!.hash }), undefined, 'a cloud behind the head is fine');
  const r = await log.noteCloudHead({ seq: 9 });
  t.equal(r?.code, 'LOG_BEHIND_CLOUD');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_BEHIND_CLOUD' });
  t.equal(log.head.seq, 6, 'no seq the cloud has was reused');
});

t.test('noteCloudHead: the same seq with another hash (a restored copy that sold again) is refused', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 3);
  const log = await open(dir);
  t.teardown(() => log.close());
  const r = await log.noteCloudHead({ seq: 5, hash: 'cd'.repeat(32) });
  t.equal(r?.code, 'LOG_BEHIND_CLOUD');
  t.equal(r?.details.diverged, true);
  await t.rejects(log.append([delta(1)]), { code: 'LOG_BEHIND_CLOUD' });
});
