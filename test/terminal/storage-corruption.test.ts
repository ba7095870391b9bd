/**
 * Issue 15, fault 1.1, on a terminal data folder and through the real CLI
 * (`tillsync audit --data`, a child process):
 *
 * - a flipped byte in a LevelDB table's index block (the key of an index entry
 *   of the sales view) makes sales unreadable by id although the log opens:
 *   the audit now reads every record by key and verifies every block checksum,
 *   reports findings (exit 3), and the log refuses appends (LOG_CORRUPTED);
 * - a flipped byte in the write-ahead log's last block (acknowledged sales
 *   dropped by LevelDB on open): the audit exits 3 with a SEQ_GAP finding.
 *
 * Real LevelDB files changed on disk while nothing holds the folder. The
 * tables are rewritten uncompressed first (raw classic-level with
 * `compression: false` + compactRange) so the flipped byte is a key byte of
 * the index block, as on a table where snappy did not pay off.
 */
import t from 'tap';
import { openSync, readFileSync, readdirSync, readSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { tableIndexEntries } from '../../src/events/level-checksums.ts';
import { TerminalAgent, writeAgentConfig } from '../../src/terminal/agent.ts';
import { api, until } from '../helpers/env.ts';
import { ERRORS } from '../../src/errors.ts';
import { auditTerminal } from '../../src/terminal/audit.ts';
import { openSmallStore } from '../helpers/small-store.ts';
import { runCli } from '../cli/run-cli.ts';
import { encodeCanonical } from '../../src/events/codec.ts';
import { seqKey } from '../../src/events/level-util.ts';

const SALES = 1200;
const cashSale = { lines: [{ item: 'itm-cafe', qty: 1 }], payments: [{ tender: 'cash' as const, tendered: 1000 }] };

async function makeFolder(dataDir: string, sales: number): Promise<string[]> {
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-1', cloudUrl: 'http://127.0.0.1:9', token: 'x'.repeat(32) });
  const term = await openSmallStore(join(dataDir, 'db'));
  const ids: string[] = [];
  for (let i = 0; i < sales; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, sales - i) }, () => term.completeSale(cashSale)));
    ids.push(...batch.map((r) => r.sale));
  }
  await term.close();
  return ids;
}

/** Lowers the last key byte of an index entry of the sales view: lookups in that block go to the next one. */
async function flipSalesIndexKey(db: string): Promise<void> {
  const raw = new ClassicLevel(db, { compression: false });
  await raw.open();
  await raw.compactRange('\x00', '\xff');
  await raw.close();
  for (const name of readdirSync(db).filter((f) => f.endsWith('.ldb'))) {
    const file = readFileSync(join(db, name));
    const entries = tableIndexEntries(file);
    const sales = (entries ?? []).filter((e) => e.key.toString('latin1').startsWith('!v-sales!'));
    if (sales.length < 4) continue;
    const e = sales[Math.floor(sales.length / 2)]!;
    const at = e.keyAt + e.keyBytes - 8 - 1; // last byte of the user key, before the 8-byte tag
    file[at] = 0x30; // '0': below every ULID character there
    writeFileSync(join(db, name), file);
    return;
  }
  throw new Error('no uncompressed table with sales index entries');
}

function flipWalTail(db: string, back: number): void {
  const wal = readdirSync(db).filter((f) => f.endsWith('.log')).sort().pop()!;
  const path = join(db, wal);
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, size - back);
  b[0]! ^= 0x40;
  writeSync(fd, b, 0, 1, size - back);
  closeSync(fd);
}

t.test('a flipped key byte in a table index block: sales unreadable by id are findings, appends refused', async (t) => {
  const dataDir = t.testdir();
  const ids = await makeFolder(dataDir, SALES);
  await flipSalesIndexKey(join(dataDir, 'db'));

  const term = await openSmallStore(join(dataDir, 'db'), { verifyOnOpen: 0 });
  let missing = 0;
  for (const id of ids) if (!(await term.sale(id))) missing++;
  t.ok(missing > 0, `the fault is reproduced: ${missing} sales answer SALE_NOT_FOUND`);
  const report = await auditTerminal(term.log, term.views);
  t.equal(report.ok, false, 'the audit is not clean');
  const codes = new Set(report.findings.map((f) => f.code));
  t.ok(codes.has('RECORD_UNREADABLE'), 'the index block checksum mismatch is a finding');
  t.ok(report.findings.some((f) => f.code === 'VIEW_MISMATCH' && f.view === 'sales'), 'a sale unreadable by id is a finding');
  await t.rejects(term.completeSale(cashSale), { code: 'LOG_CORRUPTED' }, 'appends refused after the audit');
  await term.close();

  const cli = await runCli(['audit', '--data', dataDir, '--json']);
  t.equal(cli.code, 3, 'tillsync audit --data exits 3 (findings)');
  const printed = JSON.parse(cli.stdout) as { findings: Array<{ code: string }> };
  t.ok(printed.findings.some((f) => f.code === 'RECORD_UNREADABLE'));
});

t.test('acknowledged sales dropped from the write-ahead log: audit --data exits 3 with SEQ_GAP', async (t) => {
  const dataDir = t.testdir();
  await makeFolder(dataDir, 60);
  flipWalTail(join(dataDir, 'db'), 30);
  const cli = await runCli(['audit', '--data', dataDir, '--json']);
  t.equal(cli.code, 3, 'tillsync audit --data exits 3');
  const printed = JSON.parse(cli.stdout) as { findings: Array<{ code: string; detail: string }> };
  t.ok(printed.findings.some((f) => f.code === 'SEQ_GAP' && /LOG_CORRUPTED/.test(f.detail)), 'the lost tail is a finding');
});

t.test('a stored change damaged into another shape (a key garbled, bytes that still decode): a finding, not a crash', async (t) => {
  // Found by the fault simulator: a flipped byte in a snappy block turned a balance.state's "customer"
  // key into garbage; the audit crashed with LEVEL_INVALID_KEY (500 INTERNAL_ERROR through the agent).
  const dataDir = t.testdir();
  await makeFolder(dataDir, 10);
  const raw = new ClassicLevel<string, Uint8Array>(join(dataDir, 'db'), { valueEncoding: 'view' });
  await raw.open();
  await raw.put(`!changes!${seqKey(9)}`, encodeCanonical({ cursor: 9, type: 'balance.state', body: { balance: 10_000, 'gs\u0018\td2': 'cus-ana', includes: {} } }));
  await raw.close();
  const cli = await runCli(['audit', '--data', dataDir, '--json']);
  t.equal(cli.code, 3, 'tillsync audit --data exits 3');
  const printed = JSON.parse(cli.stdout) as { findings: Array<{ code: string; detail: string }> };
  t.ok(printed.findings.some((f) => f.code === 'RECORD_UNREADABLE' && /stored change 9 is damaged/.test(f.detail)), 'the damaged change is named');
});

t.test('a table block the agent first reads after it listens is damaged: it keeps serving, refuses sales, alarms red', async (t) => {
  // Found by the fault simulator (seed 20261869): the unfinished-cleanup check
  // runs after the agent listens and met LEVEL_CORRUPTION with no one to catch
  // it, which ended the process the store sells from.
  const dataDir = t.testdir();
  await makeFolder(dataDir, 200);
  const db = join(dataDir, 'db');
  const raw = new ClassicLevel(db); // snappy on, as the agent writes
  await raw.open();
  await raw.compactRange('\x00', '\xff');
  await raw.close();
  const table = readdirSync(db).filter((f) => f.endsWith('.ldb')).sort()[0]!;
  const bytes = readFileSync(join(db, table));
  // The first data block holds the log's first records: its compressed length now reads as 4 GiB.
  bytes.set([0xff, 0xff, 0xff, 0xff, 0x0f], 0);
  writeFileSync(join(db, table), bytes);

  const agent = await TerminalAgent.start({ store: 'store-1', terminal: 'till-1', cloudUrl: 'http://127.0.0.1:9', token: 'x'.repeat(32), dataDir, port: 0, cloudTimeoutMs: 500 });
  t.teardown(() => agent.stop());
  // A request that reads the damaged block is answered with the documented code, not INTERNAL_ERROR.
  const replay = await api<{ error: { code: string } }>(agent, 'GET', '/api/replay?from=1');
  t.equal(replay.body.error.code, 'LOG_CORRUPTED', 'reading the damaged block answers LOG_CORRUPTED');
  await until('the damage is reported', async () => (agent.status().log.health === 'corrupted' ? true : undefined));
  const sale = await api<{ error: { code: string } }>(agent, 'POST', '/api/sales', cashSale);
  t.equal(sale.status, ERRORS.LOG_CORRUPTED.status);
  t.equal(sale.body.error.code, 'LOG_CORRUPTED', 'sales are refused, not written next to damage');
  const alarm = agent.status().alarm;
  t.equal(alarm.level, 'red');
  t.ok(alarm.reasons.some((r) => r.code === 'log-damaged'), 'the alarm names the damaged storage');
  const status = await api<{ log: { health: string } }>(agent, 'GET', '/api/status');
  t.equal(status.body.log.health, 'corrupted', 'and the agent still answers');
});
