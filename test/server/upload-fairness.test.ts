// One tenant cannot starve the others' uploads (issue 15, 1.4). Store A's one
// valid terminal credential opens uploads declaring 8 MiB and trickles a byte
// at a time over raw sockets, reconnecting as soon as it is cut; meanwhile
// store B uploads batch after batch. B's uploads all pass (never 503
// CLOUD_BUSY), and the trickles are cut with UPLOAD_TOO_SLOW.
import { connect, type Socket } from 'node:net';
import { decode } from '@msgpack/msgpack';
import t from 'tap';
import { BodyBudget } from '../../src/server/body-budget.ts';
import { answerBody, parseResponse } from '../helpers/raw-http.ts';
import { MSGPACK, sale, setupStore, startCloud, terminalLog, uploadBody } from './harness.ts';

const EIGHT_MIB = 8 * 1024 * 1024;

t.test('budget shares: one terminal or store cannot hold it all while others wait; the least recently served store goes first', async (t) => {
  const budget = new BodyBudget(100);
  const a = { store: 'A', terminal: 'a1' };
  const order: string[] = [];
  const track = (name: string, ticket: ReturnType<BodyBudget['acquire']>) => {
    void ticket.admitted.then(() => order.push(name));
    return ticket;
  };
  const a1 = track('a1', budget.acquire(40, a));
  const a2 = track('a2', budget.acquire(40, a)); // over a1's terminal share (50): waits
  const a3 = track('a3', budget.acquire(30, { store: 'A', terminal: 'a2' }));
  const b1 = track('b1', budget.acquire(30, { store: 'B', terminal: 'b1' }));
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a1', 'a3', 'b1'], 'a2 waits for its terminal; a3 and b1 pass it');
  t.equal(budget.heldBy('A'), 70);
  const a4 = track('a4', budget.acquire(10, { store: 'A', terminal: 'a3' }));
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a1', 'a3', 'b1'], 'a4 waits: store A would hold 80, over its 75');
  a1.release();
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a1', 'a3', 'b1', 'a2'], 'a1 gone: a2 fits its terminal and its store (70)');
  a3.release();
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a1', 'a3', 'b1', 'a2', 'a4']);
  a4.release();
  for (const x of [a2, b1]) x.release();
  t.equal(budget.inUse, 0);
  // A lone oversize body passes; then B, waiting behind A's next oversize one, goes first.
  const big1 = track('big1', budget.acquire(1000, a));
  const big2 = track('big2', budget.acquire(1000, { store: 'A', terminal: 'a2' }));
  const b2 = track('b2', budget.acquire(10, { store: 'B', terminal: 'b1' }));
  await new Promise((r) => setImmediate(r));
  big1.release();
  await new Promise((r) => setImmediate(r));
  t.same(order.slice(-2), ['big1', 'b2'], 'B was admitted less recently than A: it goes first');
  b2.release();
  await new Promise((r) => setImmediate(r));
  t.same(order.slice(-1), ['big2']);
  big2.release();
  t.equal(budget.inUse, 0);
});

/** Store A's attacker: `n` connections declaring 8 MiB, a byte every `everyMs`, each reopened when cut. */
function trickle(port: number, token: string, n: number, everyMs: number) {
  const answers: unknown[] = [];
  let stopped = false;
  const sockets = new Set<Socket>();
  const open = () => {
    if (stopped) return;
    const s = connect(port, '127.0.0.1');
    sockets.add(s);
    const chunks: Buffer[] = [];
    s.on('error', () => {});
    s.on('data', (d) => chunks.push(d));
    s.on('connect', () => s.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${MSGPACK}\r\nContent-Length: ${EIGHT_MIB}\r\n\r\n`));
    const drip = setInterval(() => { if (s.writable) s.write(Buffer.from([0x90])); }, everyMs);
    s.on('close', () => {
      clearInterval(drip);
      sockets.delete(s);
      const res = parseResponse(Buffer.concat(chunks));
      answers.push(res ? (answerBody(res) as { error?: { code?: string } })?.error?.code ?? res.status : 'closed without answer');
      open();
    });
  };
  for (let i = 0; i < n; i++) open();
  return {
    answers,
    stop: () => {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

t.test('store B uploads normally while store A\'s credential trickles 8 MiB bodies', async (t) => {
  const cloud = await startCloud(t, {
    build: {
      // Real defaults for the budget (4 MiB) and the waits; a short grace so the test is quick.
      uploadReceiveRate: { minBytesPerSecond: 1024, graceMs: 400, checkMs: 50 },
      uploadAdmitWaitMs: 5_000,
    },
  });
  const { app } = cloud;
  const a = await setupStore(t, app, 'storeA', ['a1']);
  const b = await setupStore(t, app, 'storeB', ['b1']);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const attack = trickle(port, a.tokens.a1!, 3, 100);
  t.teardown(() => attack.stop());
  // The attack holds the budget first.
  await new Promise((r) => setTimeout(r, 100));
  const log = await terminalLog(t, 'storeB', 'b1');
  const statuses: Array<number | string> = [];
  for (let i = 0; i < 8; i++) {
    const events = await log.append([sale(100 + i), sale(200 + i)]);
    const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: 'POST', headers: { authorization: `Bearer ${b.tokens.b1}`, 'content-type': MSGPACK }, body: uploadBody(events),
      signal: AbortSignal.timeout(15_000),
    });
    const answer = decode(new Uint8Array(await res.arrayBuffer())) as { ackSeq?: number; error?: { code: string } };
    statuses.push(res.status === 200 ? answer.ackSeq! : answer.error?.code ?? res.status);
  }
  attack.stop();
  t.same(statuses, [2, 4, 6, 8, 10, 12, 14, 16], 'every one of B\'s uploads was accepted, none answered CLOUD_BUSY');
  t.equal((await cloud.storage.getHighWater('storeB', 'b1')).seq, 16);
  t.ok(attack.answers.length > 0, `the trickles were cut (${attack.answers.length} times)`);
  t.ok(attack.answers.includes('UPLOAD_TOO_SLOW'), `cut with UPLOAD_TOO_SLOW: ${JSON.stringify([...new Set(attack.answers)])}`);
  t.equal((await cloud.storage.getHighWater('storeA', 'a1')).seq, 0, 'nothing of the trickles stored');
});
