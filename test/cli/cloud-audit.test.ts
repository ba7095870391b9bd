// `tillsync audit --cloud` against damage done to a real cloud LevelDB (issue 15,
// 1.6): a deleted tail (the terminal's newest stored events, up to its
// acknowledged high-water mark), an undecodable record (the admin events route
// answers 5xx for it), and a flipped byte in a table file are each findings
// (exit 3) named by seq — never a clean audit, never an undocumented exit.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import t, { type Test } from 'tap';
import { ADMIN, sale, setupStore, startCloud, subdir, terminalLog, upload } from '../server/harness.ts';
import { runCli } from './run-cli.ts';
import { auditCloud } from '../../src/cli/cloud-history.ts';

const EVENT_KEY = /^!9events!s1\/t1\/(\d+)$/;

/** A cloud in `dir` with t1's 12 and t2's 3 events uploaded in batches of 4 (so stored as several entries). */
async function seedCloud(t: Test, dir: string): Promise<string[]> {
  const cloud = await startCloud(t, { dir });
  const { tokens } = await setupStore(t, cloud.app, 's1', ['t1', 't2']);
  const l1 = await terminalLog(t, 's1', 't1');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const evs = await l1.append([sale(100), sale(200), sale(300), sale(400)]);
    ids.push(...evs.map((e) => e.event.id));
    t.equal((await upload(cloud.app, tokens.t1!, evs)).status, 200);
  }
  const l2 = await terminalLog(t, 's1', 't2');
  t.equal((await upload(cloud.app, tokens.t2!, await l2.append([sale(), sale(), sale()]))).status, 200);
  await cloud.close();
  return ids;
}

/** t1's event entries in the raw LevelDB: key and first seq, ascending. */
async function eventEntries(db: ClassicLevel<string, Uint8Array>): Promise<Array<{ key: string; seq: number }>> {
  const out: Array<{ key: string; seq: number }> = [];
  for await (const k of db.keys()) {
    const m = EVENT_KEY.exec(k);
    if (m) out.push({ key: k, seq: Number(m[1]) });
  }
  return out;
}

async function withRawDb(dir: string, fn: (db: ClassicLevel<string, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

/** The audit through the real CLI (a child process: its exit code), or in-process (`auditCloud`, quicker) with the CLI's exit rule. */
async function auditCli(t: Test, dir: string, inProcess = false) {
  const cloud = await startCloud(t, { dir });
  await cloud.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(cloud.app.server.address() as { port: number }).port}`;
  if (inProcess) {
    const report = await auditCloud({ cloud: url, adminToken: ADMIN, store: 's1' });
    await cloud.close();
    return { code: report.ok ? 0 : 3, report };
  }
  const r = await runCli(['audit', '--cloud', url, '--admin-token', ADMIN, '--store', 's1', '--json']);
  await cloud.close();
  let report: { ok: boolean; findings: Array<{ code: string; terminal: string; seq?: number }> } | undefined;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    t.fail(`audit printed no JSON report (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
  return { code: r.code, report };
}

t.test('a clean cloud audits clean', async (t) => {
  const dir = subdir(t, 'cloud');
  await seedCloud(t, dir);
  const r = await auditCli(t, dir, true);
  t.equal(r.code, 0);
  t.same(r.report?.findings, []);
});

t.test('the newest stored entry of t1 deleted: the missing tail is a finding (exit 3), from the first missing seq', async (t) => {
  const dir = subdir(t, 'cloud');
  await seedCloud(t, dir);
  let firstMissing = 0;
  await withRawDb(dir, async (db) => {
    const entries = await eventEntries(db);
    t.ok(entries.length >= 2, `t1 has ${entries.length} stored entries`);
    const last = entries.at(-1)!;
    firstMissing = last.seq;
    await db.del(last.key);
  });
  const r = await auditCli(t, dir);
  t.equal(r.code, 3, 'exit 3: findings');
  const f = r.report?.findings.find((x) => x.terminal === 't1');
  t.equal(f?.code, 'SEQ_GAP');
  t.equal(f?.seq, firstMissing, 'named by the first missing seq');
  t.notOk(r.report?.findings.some((x) => x.terminal === 't2'), 't2 is clean');
});

t.test('an undecodable record in the middle: RECORD_UNREADABLE named by seq, and the audit goes on past it (exit 3)', async (t) => {
  const dir = subdir(t, 'cloud');
  await seedCloud(t, dir);
  let bad = 0;
  let after = 0;
  await withRawDb(dir, async (db) => {
    const entries = await eventEntries(db);
    const mid = entries[1]!;
    bad = mid.seq;
    after = entries[2]!.seq;
    await db.put(mid.key, Uint8Array.from([0xc1, 0xc1, 0xc1])); // 0xc1: never used in msgpack
  });
  const r = await auditCli(t, dir);
  t.equal(r.code, 3, 'exit 3: findings, not an undocumented exit');
  const unreadable = r.report?.findings.filter((x) => x.code === 'RECORD_UNREADABLE') ?? [];
  t.ok(unreadable.length >= 1, 'the record is a finding');
  t.equal(unreadable[0]?.seq, bad, 'named by its seq');
  t.ok(unreadable.every((x) => x.seq! < after), 'the events after the bad entry were read and verified');
  t.notOk(r.report?.findings.some((x) => x.code === 'SEQ_GAP' && x.seq === 13), 'no tail finding: the tail is there');
});

t.test('a flipped byte inside a stored event in a table file: a finding (exit 3)', async (t) => {
  const dir = subdir(t, 'cloud');
  await seedCloud(t, dir);
  // Compact, so the events sit in table files; then flip a byte of t1's second entry where it lies in one.
  let value: Uint8Array | undefined;
  await withRawDb(dir, async (db) => {
    await db.compactRange('!', '~');
    value = await db.get((await eventEntries(db))[1]!.key);
  });
  let flipped = false;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ldb'))) {
    const path = join(dir, name);
    const bytes = readFileSync(path);
    for (let off = 40; off + 12 <= value!.length && !flipped; off += 12) {
      const at = bytes.indexOf(Buffer.from(value!.subarray(off, off + 12)));
      if (at < 0) continue;
      bytes[at + 6] = bytes[at + 6]! ^ 0x01;
      writeFileSync(path, bytes);
      flipped = true;
    }
    if (flipped) break;
  }
  t.ok(flipped, 'found the event bytes in a table file');
  const r = await auditCli(t, dir, true);
  t.equal(r.code, 3, `exit 3 with findings: ${JSON.stringify(r.report?.findings)}`);
  t.ok(r.report?.findings.some((x) => x.terminal === 't1' && x.seq !== undefined), 'named by seq');
});
