/**
 * A corrupted or missing record is detected on open with LOG_CORRUPTED and the
 * log refuses to append on top of it — nothing is skipped silently. The process
 * is stopped (log closed) while the bytes are changed.
 */
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { EventLog } from '../../src/events/event-log.ts';
import { seqKey } from '../../src/events/level-util.ts';
import type { EventDraft } from '../../src/events/event-types.ts';

const delta = (n: number): EventDraft => ({ type: 'balance.delta', body: { customer: 'c1', delta: n, reason: 'adjustment', note: `note ${n}` } });

async function makeLog(dir: string, n: number): Promise<void> {
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  for (let i = 0; i < n; i += 50) await log.append(Array.from({ length: 50 }, (_, j) => delta(i + j + 1)));
  await log.close();
}

/** Raw access to the log sublevel, as a disk fault or a careless tool would change it. */
async function withRawLog(dir: string, fn: (db: ClassicLevel<string, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  await fn(db);
  await db.close();
}
const logKey = (seq: number) => `!log!${seqKey(seq)}`;

t.test('flipped bytes in a stored record: detected on open, appends refused', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 200);
  await withRawLog(dir, async (db) => {
    const v = Buffer.from((await db.get(logKey(150)))!);
    const at = v.indexOf('note 150');
    v[at + 5]! ^= 0x01; // "note 150" → "note 050": still valid msgpack, different bytes
    await db.put(logKey(150), v);
  });
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  t.teardown(() => log.close());
  t.equal(log.health.state, 'corrupted');
  t.equal(log.health.state === 'corrupted' && log.health.seq, 151, 'the break shows at the record after the changed one');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
  t.equal(log.head.seq, 200, 'nothing appended');
  const report = await log.verify({ full: true });
  t.equal(report.ok, false);
  t.equal(report.problem?.seq, 151);
});

t.test('a flipped byte in the last record is caught by the head hash', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 100);
  await withRawLog(dir, async (db) => {
    const v = Buffer.from((await db.get(logKey(100)))!);
    v[v.indexOf('note 100') + 6]! ^= 0x01;
    await db.put(logKey(100), v);
  });
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  t.teardown(() => log.close());
  t.equal(log.health.state, 'corrupted');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
});

t.test('a missing record and garbage bytes are detected', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 100);
  await withRawLog(dir, async (db) => { await db.del(logKey(97)); });
  let log = await EventLog.open(dir, { store: 's1', terminal: 't1' });
  t.equal(log.health.state === 'corrupted' && log.health.seq, 97);
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
  await log.close();

  const dir2 = t.testdir();
  await makeLog(dir2, 100);
  await withRawLog(dir2, async (db) => { await db.put(logKey(99), new Uint8Array([0xc1, 0xff, 0x00])); });
  log = await EventLog.open(dir2, { store: 's1', terminal: 't1' });
  t.equal(log.health.state, 'corrupted');
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
  await log.close();
});

t.test('corruption beyond the verified tail is found by a full verify', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 300);
  await withRawLog(dir, async (db) => {
    const v = Buffer.from((await db.get(logKey(10)))!);
    v[v.indexOf('note 10') + 6]! ^= 0x01;
    await db.put(logKey(10), v);
  });
  const log = await EventLog.open(dir, { store: 's1', terminal: 't1', verifyOnOpen: 100 });
  t.teardown(() => log.close());
  t.equal(log.health.state, 'ok', 'the tail is intact');
  const report = await log.verify({ full: true });
  t.equal(report.ok, false);
  t.equal(report.problem?.seq, 11);
  await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
});

t.test('flipped bytes inside a LevelDB table file are detected', async (t) => {
  const dir = t.testdir();
  await makeLog(dir, 500);
  // Push everything into .ldb table files, then damage one on disk.
  await withRawLog(dir, async (db) => { await db.compactRange('!', '~'); });
  const tables = readdirSync(dir).filter((f) => f.endsWith('.ldb')).map((f) => join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size);
  t.ok(tables.length > 0, 'table files exist');
  const file = tables[0]!;
  const bytes = readFileSync(file);
  for (let i = 100; i < Math.min(bytes.length - 100, 4000); i += 97) bytes[i]! ^= 0xff;
  writeFileSync(file, bytes);
  let code: string | undefined;
  try {
    const log = await EventLog.open(dir, { store: 's1', terminal: 't1', verifyOnOpen: Infinity });
    code = log.health.state === 'corrupted' ? 'LOG_CORRUPTED' : 'ok';
    if (code === 'LOG_CORRUPTED') await t.rejects(log.append([delta(1)]), { code: 'LOG_CORRUPTED' });
    await log.close();
  } catch (err) {
    code = (err as { code?: string }).code;
  }
  t.equal(code, 'LOG_CORRUPTED', 'reported with its code, never silently skipped');
});
