// Phase 1 of uploads on worker threads (decode-pool.ts) and the upload body budget
// (body-budget.ts): same answers as on the main thread, a dead worker loses
// nothing, close ends the workers, and a full budget holds bodies back instead of failing.
import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { decode, encode } from '@msgpack/msgpack';
import { encodeCanonical } from '../../src/events/codec.ts';
import type { SaleCompleted } from '../../src/events/event-types.ts';
import { decodePool } from '../../src/server/app.ts';
import { BodyBudget } from '../../src/server/body-budget.ts';
import { DecodePool } from '../../src/server/decode-pool.ts';
import { UploadBatch } from '../../src/server/upload-batch.ts';
import { decodeUploadBody } from '../../src/server/upload.ts';
import { parseExposition, sampleValue } from '../helpers/prometheus.ts';
import { isTillsyncError } from '../../src/errors.ts';
import { onceWithin, waitFor, WAIT_MS } from '../helpers/wait.ts';
import { ADMIN, body, delta, MSGPACK, redeem, sale, setupStore, startCloud, terminalLog, upload, uploadBody } from './harness.ts';

const cred = { store: 's1', terminal: 't1' };

/** Everything applyUpload reads of a batch, as plain data. */
function facts(b: UploadBatch) {
  return Array.from({ length: b.length }, (_, i) => ({
    seq: b.seq(i), id: b.id(i), prev: b.prev(i), hash: b.hash(i), type: b.type(i), customer: b.customer(i),
    voucher: b.voucher(i), currency: b.currency(i), amount: b.amount(i), bytes: Buffer.from(b.bytes(i)).toString('hex'),
  }));
}

async function outcome(p: () => Promise<UploadBatch> | UploadBatch) {
  try {
    return { ok: facts(await p()) };
  } catch (err) {
    if (!isTillsyncError(err)) throw err;
    return { code: err.code, message: err.message, details: err.details };
  }
}

t.test('the pool answers exactly what the main thread answers, good batch or bad', async (t) => {
  const log = await terminalLog(t, 's1', 't1');
  const good = await log.append([sale(700, 'EUR', 'c1'), delta('c1', -700), redeem('GIFT-1', 100), sale(5)]);
  const ev = good[0]!.event as SaleCompleted;
  const bodies: Array<[string, Uint8Array]> = [
    ['good batch', uploadBody(good)],
    ['empty batch', encode({ v: 1, events: [] })],
    ['malformed msgpack', new Uint8Array([0xc1, 0x00])],
    ['events not an array', encode({ v: 1, events: 'x' })],
    ['unknown field inside an event', encode({ v: 1, events: [encodeCanonical({ ...ev, extra: 1 })] })],
    ['money as float', encode({ v: 1, events: [encodeCanonical({ ...ev, body: { ...ev.body, total: 5.5 } })] })],
    ['card number', encode({ v: 1, events: [encodeCanonical({ ...ev, body: { ...ev.body, lines: [{ ...ev.body.lines[0]!, name: '4111 1111 1111 1111' }] } })] })],
    ['seqs not ascending', uploadBody([good[1]!, good[0]!])],
    ['not canonical', encode({ v: 1, events: [encode({ ...ev })] })],
  ];
  const pool = new DecodePool(2);
  t.teardown(() => pool.close());
  for (const [name, b] of bodies) {
    const inline = await outcome(() => new UploadBatch(decodeUploadBody(b, cred)));
    const pooled = await outcome(() => pool.decode(b, cred));
    t.same(pooled, inline, name);
    if (name === 'good batch') t.equal(pooled.ok?.length, 4, 'good batch decoded');
    else if (name !== 'empty batch') t.ok(pooled.code, `${name}: refused (${pooled.code})`);
  }
  // Wrong terminal is judged against the credential passed along.
  const other = await outcome(() => pool.decode(uploadBody(good), { store: 's1', terminal: 't2' }));
  t.equal(other.code, 'WRONG_TERMINAL');
  t.ok(pool.started >= 1, 'workers were used');
});

t.test('a worker that dies loses nothing: pending bodies are decoded inline, a new worker takes over', async (t) => {
  const log = await terminalLog(t, 's1', 't1');
  const good = await log.append([sale(), sale(), sale()]);
  const b = uploadBody(good);
  const expected = facts(new UploadBatch(decodeUploadBody(b, cred)));
  const pool = new DecodePool(1);
  t.teardown(() => pool.close());
  t.same(facts(await pool.decode(b, cred)), expected, 'worker answer');
  const pending = [pool.decode(b, cred), pool.decode(b, cred), pool.decode(b, cred)];
  await pool.crash(0);
  for (const p of pending) t.same(facts(await p), expected, 'pending body answered after the crash');
  t.equal(pool.crashes, 1, 'the crash was counted');
  t.same(facts(await pool.decode(b, cred)), expected, 'later bodies go to a new worker');
  t.equal(pool.started, 1);
  await pool.close();
  t.equal(pool.started, 0, 'close terminates the workers');
  t.same(facts(await pool.decode(b, cred)), expected, 'after close, decoded inline');
});

t.test('through the cloud: a crash between uploads, bad input after it, and shutdown', async (t) => {
  const cloud = await startCloud(t);
  const { app } = cloud;
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  t.equal((await upload(app, tokens.t1!, await log.append([sale(), sale()]))).body.accepted, 2);
  const pool = decodePool(app)!;
  t.equal(pool.started, 1, 'the upload started a worker');
  await pool.crash(0);
  t.equal((await upload(app, tokens.t1!, await log.append([sale()]))).body.ackSeq, 3, 'uploads go on after a crash');
  const bad = await app.inject({
    method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${tokens.t1}`, 'content-type': MSGPACK }, payload: Buffer.from([0xc1]),
  });
  t.equal(bad.statusCode, 400);
  t.equal(body(bad).error.code, 'MSGPACK_MALFORMED', 'bad input: same 4xx code');
  t.equal((await cloud.storage.getHighWater('s1', 't1')).seq, 3, 'nothing more stored');
  await cloud.close();
  t.equal(pool.started, 0, 'closing the app ends the workers');
});

t.test('body budget: first come first served, a lone oversize body passes, release is idempotent', async (t) => {
  const budget = new BodyBudget(100);
  const order: string[] = [];
  const a = budget.acquire(60);
  const b = budget.acquire(60);
  const c = budget.acquire(10); // fits, but must not overtake b
  void a.admitted.then(() => order.push('a'));
  void b.admitted.then(() => order.push('b'));
  void c.admitted.then(() => order.push('c'));
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a'], 'only a is admitted');
  t.equal(budget.waiting, 2);
  a.release();
  a.release();
  await new Promise((r) => setImmediate(r));
  t.same(order, ['a', 'b', 'c'], 'b then c once a is released (twice: counted once)');
  t.equal(budget.inUse, 70);
  b.release();
  c.release();
  t.equal(budget.inUse, 0);
  const big = budget.acquire(1000);
  await big.admitted;
  t.pass('a body over the whole budget is admitted when nothing else is held');
  const queued = budget.acquire(1);
  queued.release(); // the connection closed while it waited
  t.equal(budget.waiting, 0, 'a cancelled wait leaves the queue');
  await queued.admitted;
  big.release();
  t.equal(budget.inUse, 0);
});

t.test('over real HTTP with a tiny budget: concurrent uploads wait, none fails, each stored once', async (t) => {
  const terminals = ['t1', 't2', 't3', 't4', 't5', 't6'];
  const cloud = await startCloud(t, { build: { uploadBytesInFlight: 1 } });
  const { app } = cloud;
  const { tokens } = await setupStore(t, app, 's1', terminals);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/events`;
  const logs = await Promise.all(terminals.map((id) => terminalLog(t, 's1', id)));
  const batches = await Promise.all(logs.map((l) => l.append(Array.from({ length: 50 }, () => sale()))));
  const answers = await Promise.all(
    terminals.map(async (id, i) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[id]}`, 'content-type': MSGPACK },
        body: uploadBody(batches[i]!),
      });
      return { status: res.status, ackSeq: (decode(new Uint8Array(await res.arrayBuffer())) as { ackSeq?: number }).ackSeq };
    }),
  );
  t.same(answers, terminals.map(() => ({ status: 200, ackSeq: 50 })), 'all answered 200 with their ackSeq');
  for (const id of terminals) t.equal((await cloud.storage.getHighWater('s1', id)).seq, 50, `${id} stored`);
});

/** A raw upload that declares 1000 bytes, sends 10 and stalls (the socket is returned, destroyed at teardown). */
async function stallUpload(t: Test, port: number, token: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  socket.write(
    `POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${MSGPACK}\r\nContent-Length: 1000\r\n\r\n` +
      '0123456789',
  );
  await new Promise((r) => setTimeout(r, 50));
  return socket;
}

t.test('a body that stalls after admission is cut off and frees the budget for the others', async (t) => {
  const cloud = await startCloud(t, { build: { uploadBytesInFlight: 1, uploadBodyReadMs: 200 } });
  const { app } = cloud;
  const { tokens } = await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  // t2 declares 1000 bytes, sends 10, and stalls: it is admitted (alone), then holds the whole budget.
  const stalled = await stallUpload(t, port, tokens.t2!);
  const closed = onceWithin(stalled, 'close', WAIT_MS, 'the cloud to close the stalled upload');
  const log = await terminalLog(t, 's1', 't1');
  const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.t1}`, 'content-type': MSGPACK },
    body: uploadBody(await log.append([sale(), sale()])),
  });
  t.equal(res.status, 200, 'the upload behind the stalled one goes through');
  t.equal((decode(new Uint8Array(await res.arrayBuffer())) as { ackSeq: number }).ackSeq, 2);
  await closed;
  t.pass('the stalled connection was closed by the cloud');
  t.equal((await cloud.storage.getHighWater('s1', 't2')).seq, 0, 'nothing of the stalled body stored');
});

t.test('an upload not admitted in time is answered 503 CLOUD_BUSY with Retry-After, stores nothing, and a retry passes', async (t) => {
  const cloud = await startCloud(t, { build: { uploadBytesInFlight: 1, uploadBodyReadMs: 60_000, uploadAdmitWaitMs: 200 } });
  const { app } = cloud;
  const { tokens } = await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  // t2's upload stalls: admitted alone, it holds the whole budget (no read timeout here).
  const stalled = await stallUpload(t, port, tokens.t2!);
  const log = await terminalLog(t, 's1', 't1');
  const body = uploadBody(await log.append([sale(), sale()]));
  const post = (payload: Buffer = body): Promise<Response> => fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.t1}`, 'content-type': MSGPACK },
    body: payload,
  });
  // Wait until t2 holds the budget: a probe that cannot be stored (not msgpack) is refused
  // with a 4xx once admitted, and answered 503 only while t2 holds the budget.
  let busyAnswers = 0;
  await waitFor(async () => {
    const probe = await post(Buffer.from('not msgpack'));
    await probe.arrayBuffer();
    if (probe.status === 503) busyAnswers++;
    return probe.status === 503;
  }, { what: 'the stalled upload to hold the budget' });
  const busy = await post();
  busyAnswers++;
  t.equal(busy.status, 503);
  t.equal(busy.headers.get('retry-after'), '2', 'Retry-After tells the terminal when to come back');
  t.equal((decode(new Uint8Array(await busy.arrayBuffer())) as { error: { code: string } }).error.code, 'CLOUD_BUSY');
  t.equal((await cloud.storage.getHighWater('s1', 't1')).seq, 0, 'nothing stored');
  const scraped = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
  const samples = parseExposition(scraped.payload);
  t.equal(sampleValue(samples, 'tillsync_cloud_upload_busy_total'), busyAnswers, 'every CLOUD_BUSY answer is counted');
  t.equal(sampleValue(samples, 'tillsync_cloud_upload_waiting'), 0, 'a refused upload leaves the queue');
  t.ok((sampleValue(samples, 'tillsync_cloud_upload_bytes_in_flight') ?? 0) > 0, 'the stalled upload holds the budget');
  stalled.destroy(); // frees the budget
  // As a terminal does: retry after a 503 (which stores nothing) until admitted.
  const retry = await waitFor(async () => {
    const r = await post();
    return r.status === 503 ? void (await r.arrayBuffer()) : r;
  }, { what: 'the budget to be freed for the retry' });
  t.equal(retry.status, 200, 'the retry goes through once the budget is free');
  t.equal((await cloud.storage.getHighWater('s1', 't1')).seq, 2);
});
