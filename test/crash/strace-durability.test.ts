/**
 * Issue 15, section 3: durability proven at the system-call level, independent
 * of the code's own view. The terminal agent and the cloud run as real child
 * processes under `strace -f -y` while sales are taken (some concurrently) and
 * uploaded; from the two traces:
 *
 * - agent: for every acknowledged sale, the HTTP answer of POST /api/sales
 *   (the socket write carrying `"sale":"<id>"`) starts after an
 *   fdatasync/fsync of the LevelDB write-ahead log finished, and that sync
 *   started after the write that put the sale into that log file;
 * - cloud: for every sale, the answer `HTTP/1.1 200` to the upload request
 *   that carried it (same socket) starts after an fdatasync/fsync of the
 *   cloud's write-ahead log that follows the write putting the sale there.
 *
 * Skips only when strace cannot attach here (no strace, ptrace forbidden),
 * and says so.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startEnvironment } from '../../src/cli/demo-env.ts';
import { writeAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import { agentCall, startAgentProcess } from '../helpers/agent-process.ts';
import { until } from '../helpers/env.ts';
import { ITEMS } from '../helpers/small-store.ts';
import { READS, WRITES, answeredAfterSync, carrying, readTrace, type Syscall } from '../helpers/strace.ts';
import { BIN } from '../cli/run-cli.ts';

const STRACE = process.env.STRACE ?? '/usr/bin/strace';
const TRACED = 'trace=write,writev,pwrite64,pwritev,read,readv,recvfrom,recvmsg,sendto,sendmsg,fsync,fdatasync';
const SALES = 12;

function straceArgs(out: string): string[] {
  return [STRACE, '-f', '-qq', '-y', '-s', '65536', '-e', TRACED, '-o', out];
}

/** The traced program's pid: the first pid of its trace (strace's own pid is the child's). */
function tracedPid(trace: string): number {
  const m = /^(\d+)\s/.exec(readFileSync(trace, 'utf8'));
  if (!m) throw new Error(`no pid in ${trace}`);
  return Number(m[1]);
}

/** Ends a traced program by its own pid (SIGTERM: it stops cleanly), then waits (bounded) for strace. */
async function endTraced(strace: ChildProcess, trace: string, timeoutMs = 30_000): Promise<void> {
  if (strace.exitCode !== null || strace.signalCode !== null) return;
  const exited = new Promise<void>((r) => strace.once('exit', () => r()));
  process.kill(tracedPid(trace), 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`traced pid did not exit within ${timeoutMs} ms`)), timeoutMs); })]);
  clearTimeout(timer);
}

/** Teardown: ends the traced process and strace, by force if need be (a SIGKILLed strace leaves its tracee running, holding our pipes). */
async function killTraced(strace: ChildProcess, trace: string): Promise<void> {
  try {
    await endTraced(strace, trace);
  } catch {
    try { process.kill(tracedPid(trace), 'SIGKILL'); } catch { /* already gone */ }
    strace.kill('SIGKILL');
  }
}

const probe = spawnSync(STRACE, ['-f', '-o', '/dev/null', 'true'], { encoding: 'utf8' });
const cannot = probe.error ? String(probe.error.message) : probe.status !== 0 ? (probe.stderr || `exit ${probe.status}`).trim() : undefined;

t.test('every acknowledgement is written after the fsync of the write-ahead log holding it', { skip: cannot ? `strace cannot attach here: ${cannot}` : false }, async (t) => {
  const dir = t.testdir();
  // Seed the cloud's folder in-process, then serve it from a traced child.
  const env = await startEnvironment({ dir, store: 'store-1', terminals: [], settings: { offlineStoredValue: 'allow' }, seed: () => ({ items: ITEMS, customers: [], vouchers: [] }) });
  const created = await env.admin<{ token: string }>('POST', '/v1/admin/stores/store-1/terminals', { id: 'till-1' });
  const adminToken = env.adminToken;
  await env.stop();

  const cloudTrace = join(dir, 'cloud.trace');
  const cloud = spawn(straceArgs(cloudTrace)[0]!, [...straceArgs(cloudTrace).slice(1), process.execPath, BIN, 'cloud', '--port', '0', '--data', join(dir, 'cloud'), '--admin-token', adminToken], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' }, // the trace is about durability: no request log lines in it
  });
  t.teardown(() => killTraced(cloud, cloudTrace));
  const cloudUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the traced cloud printed no URL within 60 s')), 60_000);
    createInterface({ input: cloud.stdout! }).on('line', (l) => {
      const m = /listening on (http:\/\/\S+)/.exec(l);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    cloud.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the traced cloud exited (${code})`)); });
  });

  const dataDir = join(dir, 'till-1');
  await writeAgentConfig(dataDir, { store: 'store-1', terminal: 'till-1', cloudUrl, token: created.token });
  const agentTrace = join(dir, 'agent.trace');
  const agent = await startAgentProcess(dataDir, { prefix: straceArgs(agentTrace) });
  t.teardown(() => killTraced(agent.child, agentTrace));
  const status = async () => (await agentCall<AgentStatus>(agent.url, 'GET', '/api/status')).body;
  // Online and the catalog downloaded (a sale before it is ITEM_NOT_FOUND).
  await until('the traced agent to be online with the catalog', async () => {
    const s = (await status()).sync;
    return s.connection.state === 'online' && s.feedHead !== null && s.feedHead > 0 && s.feedCursor >= s.feedHead;
  }, 60_000);

  const sale = { lines: [{ item: 'itm-cafe', qty: 1 }], payments: [{ tender: 'cash', tendered: 1000 }] };
  const ids: string[] = [];
  for (let i = 0; i < SALES; i += 4) {
    const answers = await Promise.all(Array.from({ length: 4 }, () => agentCall<{ sale: string }>(agent.url, 'POST', '/api/sales', sale)));
    for (const a of answers) {
      t.equal(a.status, 201);
      ids.push(a.body.sale);
    }
  }
  await until('every sale to be uploaded', async () => {
    const s = await status();
    return s.sync.pending === 0 && s.sync.uploaded >= ids.length * 2;
  }, 60_000);
  await endTraced(agent.child, agentTrace);
  await endTraced(cloud, cloudTrace);

  const agentCalls = readTrace(agentTrace);
  const cloudCalls = readTrace(cloudTrace);
  const agentWal = (p: string) => p.startsWith(join(dataDir, 'db')) && p.endsWith('.log');
  const cloudWal = (p: string) => p.startsWith(join(dir, 'cloud')) && p.endsWith('.log');
  t.ok(agentCalls.some((c) => c.name === 'fdatasync' || c.name === 'fsync'), 'the agent trace holds syncs');

  for (const id of ids) {
    // Agent: write of the sale into the WAL → fsync of that file → the HTTP answer.
    const answer = agentCalls.find((c) => WRITES.has(c.name) && c.path?.startsWith('socket:') && c.data.includes(`sale\\":\\"${id}`));
    t.ok(answer, `agent: the answer for sale ${id} is in the trace`);
    if (answer) {
      const r = answeredAfterSync(agentCalls, agentWal, answer, id);
      t.ok(r.ok, `agent: sale ${id}: ${r.detail}`);
    }
    // Cloud: the upload request carrying it → its WAL write → fsync → the 200 on that socket.
    // Every upload attempt carrying it (a 503 is retried, maybe on another connection): the one answered 200.
    const sockets = new Set(cloudCalls.filter((c) => READS.has(c.name) && c.path?.startsWith('socket:')).map((c) => c.path!));
    let request: Syscall | undefined;
    let ack: Syscall | undefined;
    for (const sock of sockets) {
      const r = carrying(cloudCalls, READS, (p) => p === sock, id);
      const a = r && firstAnswer(cloudCalls, r);
      if (r && a && (!ack || a.start < ack.start)) [request, ack] = [r, a];
    }
    t.ok(ack, `cloud: the upload carrying sale ${id} (${request ? `read at line ${request.end} on ${request.path}` : 'not found'}) and its acknowledgement are in the trace`);
    if (ack) {
      const r = answeredAfterSync(cloudCalls, cloudWal, ack, id);
      t.ok(r.ok, `cloud: sale ${id}: ${r.detail}`);
    }
  }
});

t.test('the trace check catches an answer written before the sync (synthetic trace)', async (t) => {
  const dir = t.testdir();
  const id = '01JAAAAAAAAAAAAAAAAAAAAAAA';
  const wal = '/data/db/000003.log';
  const lines = (answerFirst: boolean) => [
    `100 write(21<${wal}>, "\\1\\2!log!0000000000000001 ${id.slice(0, 10)}", 40) = 40`,
    `100 write(21<${wal}>, "${id.slice(10)} rest", 30) = 30`,
    ...(answerFirst ? [`101 writev(30<socket:[777]>, [{iov_base="HTTP/1.1 201 Created\\r\\n{\\"sale\\":\\"${id}\\"}", iov_len=60}], 1) = 60`] : []),
    `100 fdatasync(21<${wal}> <unfinished ...>`,
    `102 write(5<${wal}>, "other", 5) = 5`,
    `100 <... fdatasync resumed>) = 0`,
    ...(!answerFirst ? [`101 writev(30<socket:[777]>, [{iov_base="HTTP/1.1 201 Created\\r\\n{\\"sale\\":\\"${id}\\"}", iov_len=60}], 1) = 60`] : []),
  ].join('\n');
  for (const answerFirst of [false, true]) {
    const file = join(dir, `${answerFirst}.trace`);
    writeFileSync(file, `${lines(answerFirst)}\n`);
    const calls = readTrace(file);
    const answer = calls.find((c) => c.path === 'socket:[777]')!;
    const r = answeredAfterSync(calls, (p) => p.endsWith('.log'), answer, id);
    t.equal(r.ok, !answerFirst, answerFirst ? `an answer before the sync is caught: ${r.detail}` : `a split WAL write and an unfinished sync are followed: ${r.detail}`);
  }
});

/** The first `HTTP/1.1 200` written on the request's socket after the request was read. */
function firstAnswer(calls: readonly Syscall[], request: Syscall): Syscall | undefined {
  return calls.find((c) => c.start > request.end && WRITES.has(c.name) && c.path === request.path && c.data.includes('HTTP/1.1 200'));
}
