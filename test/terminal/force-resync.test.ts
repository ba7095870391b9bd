/**
 * F9 force resync on a long history, through the real agent over HTTP with a
 * real cloud on loopback: a 100k-event log built fast (appendHistory, in local
 * mode), uploaded normally; the dry run says the cloud has all of it; the real
 * re-upload skips every event and leaves the cloud's count unchanged; then a
 * tampered local copy of one event (changed on disk while the agent is
 * stopped, still valid msgpack) is reported by the dry run as "different
 * content" at its seq, and the log refuses appends with LOG_CORRUPTED.
 */
import t from 'tap';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { decodeTrusted } from '../../src/events/codec.ts';
import { seqKey } from '../../src/events/level-util.ts';
import { TerminalAgent, readAgentConfig, type AgentStatus } from '../../src/terminal/agent.ts';
import type { ForceResyncDryRun, ForceResyncReport } from '../../src/terminal/force-resync.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';
import { appendHistory } from '../helpers/history.ts';

const EVENTS = 100_000;
const STORE = 'store-1';
const TERMINAL = 'till-1';
const WORKER = { uploadPollMs: 200, download: { intervalMs: 500 }, stallMs: 30_000, backoff: { initialMs: 50, maxMs: 1_000 } };

type Failure = { error: { code: string; details?: Record<string, unknown> } };

t.test(`force resync of ${EVENTS} events: all skipped, nothing counted twice; a tampered event shows as different`, async (t) => {
  const dir = t.testdir();
  const env = await smallEnvironment(dir, { terminals: [TERMINAL], stallMs: WORKER.stallMs });
  t.teardown(() => env.stop());
  let agent = env.agents[0]!;
  const status = async (): Promise<AgentStatus> => (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  const cloudCount = async (): Promise<{ count: number; lastSeq: number }> => {
    let count = 0;
    let lastSeq = 0;
    let from: number | null = 1;
    while (from !== null) {
      const page: { events: Array<{ seq: number }>; next: number | null } =
        await env.admin('GET', `/v1/admin/stores/${STORE}/events?terminal=${TERMINAL}&from=${from}&limit=5000`);
      for (const e of page.events) {
        if (e.seq !== lastSeq + 1) throw new Error(`cloud events not contiguous at ${e.seq}`);
        lastSeq = e.seq;
        count++;
      }
      from = page.next;
    }
    return { count, lastSeq };
  };
  const cloudAck = async (): Promise<number> => {
    const r: { terminals: Array<{ id: string; ackSeq: number }> } = await env.admin('GET', `/v1/admin/stores/${STORE}/terminals`);
    return r.terminals.find((x) => x.id === TERMINAL)!.ackSeq;
  };
  const started = Date.now();
  const lap = (what: string): void => t.comment(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s since start`);

  // Build the history locally (no network in local mode), then let it upload normally.
  await until('catalog downloaded', () => agent.terminal.searchItems('cola').length === 1);
  await agent.setLocalMode({ on: true });
  await appendHistory(agent.terminal, EVENTS, { time: Date.now() });
  t.equal(agent.terminal.log.head.seq, EVENTS);
  t.equal((await status()).sync.pending, EVENTS, 'nothing uploaded in local mode');
  lap('history appended');
  await agent.setLocalMode({ on: false });
  await until('normal upload done', async () => (await status()).sync.pending === 0, 120_000);
  lap('uploaded normally');
  const before = await cloudCount();
  t.same(before, { count: EVENTS, lastSeq: EVENTS }, 'the cloud holds every event once');
  t.equal(await cloudAck(), EVENTS);
  lap('cloud counted');

  // Dry run: the cloud has everything, with the same content.
  const dry = await api<ForceResyncDryRun>(agent, 'POST', '/api/resync/force', { dryRun: true });
  t.equal(dry.status, 200);
  t.same(dry.body, { total: EVENTS, have: EVENTS, lack: 0, different: 0, differentSeqs: [] });
  lap('dry run');

  // Real run: everything re-sent from the start of the retained log, all skipped.
  const force = await api<ForceResyncReport>(agent, 'POST', '/api/resync/force', { dryRun: false });
  t.equal(force.status, 200);
  t.equal(force.body.total, EVENTS);
  t.equal(force.body.skipped, EVENTS, 'every event skipped by the cloud');
  t.equal(force.body.uploaded, 0, 'nothing stored twice');
  t.equal(force.body.conflicts, 0);
  t.equal(force.body.quarantined, 0);
  t.equal(force.body.ackSeq, EVENTS);
  const last = (await status()).lastOperation;
  t.equal(last?.name, 'force-resync');
  t.equal(last?.ok, true);
  lap('force resync');
  t.same(await cloudCount(), before, "the cloud's event count for the terminal is unchanged");
  t.equal(await cloudAck(), EVENTS, 'high-water unchanged');
  lap('cloud recounted');

  // Tamper with one stored event while the agent is stopped: same id, same length, valid msgpack.
  const tampered = EVENTS - 9; // odd seq: a sale.completed; inside the tail verified on open
  const dataDir = join(dir, TERMINAL);
  await agent.stop();
  const raw = new ClassicLevel<string, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await raw.open();
  const key = `!log!${seqKey(tampered)}`;
  const original = Buffer.from((await raw.get(key))!);
  const changed = Buffer.from(original);
  const at = changed.indexOf('Cola can');
  t.ok(at > 0, 'the record holds the item name');
  changed[at + 3] = 'e'.charCodeAt(0); // "Cola can" → "Cole can"
  await raw.put(key, changed);
  await raw.close();
  const decoded = decodeTrusted<{ id: string; seq: number; type: string; body: { lines: Array<{ name: string }> } }>(changed);
  t.equal(decoded.seq, tampered, 'still decodes to its seq');
  t.equal(decoded.type, 'sale.completed');
  t.equal(decoded.body.lines[0]!.name, 'Cole can 330ml');
  t.equal(decoded.id, decodeTrusted<{ id: string }>(original).id, 'same event id');

  const config = (await readAgentConfig(dataDir))!;
  agent = await TerminalAgent.start({ ...config, dataDir, worker: WORKER });
  env.agents[0] = agent; // env.stop() stops it
  const st = await status();
  t.equal(st.log.health, 'corrupted', 'the chain check on open notices the changed record');
  t.equal(st.log.head, EVENTS);

  // Appends are refused on top of a broken chain...
  const sale = await api<Failure>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
  t.equal(sale.body.error.code, 'LOG_CORRUPTED');
  t.equal(sale.body.error.details?.seq, tampered + 1, 'the broken link is reported at the next record');
  t.equal(agent.terminal.log.head.seq, EVENTS, 'nothing appended');

  // ...but the dry run only reads: it names the changed event.
  const dry2 = await api<ForceResyncDryRun>(agent, 'POST', '/api/resync/force', { dryRun: true });
  t.equal(dry2.status, 200);
  t.same(dry2.body, { total: EVENTS, have: EVENTS - 1, lack: 0, different: 1, differentSeqs: [tampered] }, 'one event with different content');
  lap('tampered dry run');
  t.equal(await cloudAck(), EVENTS, 'the dry run changed nothing in the cloud');
});
