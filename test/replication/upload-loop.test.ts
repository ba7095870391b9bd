import t from 'tap';
import { ACK_META_KEY, UploadLoop } from '../../src/replication/upload-loop.ts';
import { CloudError } from '../../src/replication/cloud-error.ts';
import type { PassContext } from '../../src/replication/retry-loop.ts';
import { FakeCloud, offline } from './helpers/fake-cloud.ts';
import { settle, until } from './helpers/fake-time.ts';
import { appendSales, openLog } from './helpers/logs.ts';

function ctx(signal = new AbortController().signal): PassContext {
  return { signal, progress: () => {} };
}

const gap = (expectedSeq: number) => () =>
  new CloudError('SEQ_GAP', 'gap', { kind: 'gap', expectedSeq, httpStatus: 409, remoteCode: 'SEQ_GAP' });

t.test('uploads the log in batches by count and persists the cursor', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 25); // 50 events
  const cloud = new FakeCloud();
  const loop = new UploadLoop(log, cloud, { maxEvents: 12, window: 2 });
  await loop.load();
  const r = await loop.run(ctx());
  t.same(r, { uploaded: 50, duplicates: 0, quarantined: 0, conflicts: 0, ackSeq: 50 });
  t.same(cloud.calls.map((c) => c.op === 'upload' && [c.from, c.to]), [[1, 12], [13, 24], [25, 36], [37, 48], [49, 50]]);
  t.equal(await log.readMeta(ACK_META_KEY), 50, 'cursor on disk');
  t.equal(cloud.stored.size, 50);
  const again = await loop.run(ctx());
  t.equal(again.uploaded, 0);
  t.equal(cloud.count('upload'), 5, 'nothing pending: no call at all');
});

t.test('batches by bytes', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 10);
  const first = await log.get(1);
  const cloud = new FakeCloud();
  // Room for about three events per batch.
  const loop = new UploadLoop(log, cloud, { maxEvents: 1000, maxBytes: first!.bytes.byteLength * 3 + 10 });
  await loop.load();
  await loop.run(ctx());
  const counts = cloud.calls.map((c) => (c.op === 'upload' ? c.count : 0));
  t.ok(counts.every((n) => n >= 1 && n <= 3), `batch sizes ${counts.join(',')}`);
  t.equal(counts.reduce((a, b) => a + b, 0), 20);
});

t.test('cursor advances only over the contiguous acknowledged prefix when answers come out of order', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 15); // 30 events → batches [1-10] [11-20] [21-30]
  const cloud = new FakeCloud();
  cloud.holdUploads = true;
  const acks: number[] = [];
  const loop = new UploadLoop(log, cloud, { maxEvents: 10, window: 3, initialWindow: 3 }, { onAck: (a) => acks.push(a) });
  await loop.load();
  const run = loop.run(ctx());
  await until(() => cloud.held.length === 3, 'three batches in flight');
  // The cloud stored all three in order, but the answers arrive last first.
  const [b1, b2, b3] = cloud.held;
  b3!.release();
  b2!.release();
  await settle(20);
  t.equal(loop.ackSeq, 0, 'no answer for batch 1 yet: the cursor has not moved');
  t.equal(await log.readMeta(ACK_META_KEY), undefined, 'nothing persisted');
  b1!.release();
  const r = await run;
  t.equal(r.ackSeq, 30);
  t.equal(await log.readMeta(ACK_META_KEY), 30);
  t.same(acks, [...acks].sort((a, b) => a - b), 'the cursor never moved backwards');
  t.equal(cloud.stored.size, 30, 'the cloud holds every event once');
});

t.test('a failure in the middle of the window keeps the acknowledged prefix and nothing after it', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 15);
  const cloud = new FakeCloud();
  // Second call fails: batch [11-20] is lost on the way; batch 3 then meets a gap.
  const real = cloud.upload.bind(cloud);
  let n = 0;
  cloud.upload = async (events, opts) => {
    n++;
    if (n === 2) throw offline();
    return real(events, opts);
  };
  const loop = new UploadLoop(log, cloud, { maxEvents: 10, window: 3, initialWindow: 3 });
  await loop.load();
  const err = await loop.run(ctx()).then(() => undefined, (e: unknown) => e);
  t.equal((err as CloudError).code, 'CLOUD_UNREACHABLE');
  t.equal((err as CloudError).kind, 'retry');
  t.equal(loop.ackSeq, 10, 'only the first batch counts');
  t.equal(await log.readMeta(ACK_META_KEY), 10);
  // Next pass: batch 3 had reached the cloud? It answered SEQ_GAP (gap after 10), so resend from 11.
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, 30);
  t.equal(cloud.stored.size, 30);
});

/** Wraps the fake cloud's upload: answers take `ms` (on the real clock and on `clock`), and each upload records [in flight, window allowed]. */
function timedUploads(cloud: FakeCloud, loop: () => UploadLoop, ms: number, clock = { now: 0 }) {
  const real = cloud.upload.bind(cloud);
  let inFlight = 0;
  const seen: Array<[number, number]> = [];
  cloud.upload = async (events, opts) => {
    inFlight++;
    seen.push([inFlight, loop().windowNow]);
    try {
      await new Promise((r) => setTimeout(r, 3)); // answers overlap
      clock.now += ms;
      return await real(events, opts);
    } finally {
      inFlight--;
    }
  };
  return seen;
}

t.test('the window starts at one batch and widens with quick answers, up to `window`', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 50); // 100 events → 25 batches of 4 (a batch never ends inside a 2-event sale)
  const cloud = new FakeCloud();
  const windows: number[] = [];
  const loop: UploadLoop = new UploadLoop(log, cloud, { maxEvents: 4, window: 4 }, { onAck: () => windows.push(loop.windowNow) });
  const seen = timedUploads(cloud, () => loop, 0);
  await loop.load();
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, 100);
  t.equal(seen[0]![0], 1, 'the pass starts with one batch');
  t.ok(seen.every(([n, allowed]) => n <= allowed), 'never more in flight than allowed');
  // Grows by one per window's worth of answers: 1 answer at 1, 2 at 2, 3 at 3, then 4.
  t.same(windows.slice(0, 8), [2, 2, 3, 3, 3, 4, 4, 4]);
  t.equal(Math.max(...seen.map(([n]) => n)), 4, 'up to four in flight');
  t.equal(cloud.stored.size, 100, 'every event stored once');

  await appendSales(log, 5);
  seen.length = 0;
  await loop.run(ctx());
  t.equal(seen[0]![0], 1, 'the next pass starts over at one');
});

t.test('slow answers (the cloud is queueing) keep the window at one', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 20); // 10 batches of 4
  const cloud = new FakeCloud();
  const clock = { now: 0 };
  const loop: UploadLoop = new UploadLoop(log, cloud, { maxEvents: 4, window: 4, widenBelowMs: 1000, now: () => clock.now });
  const seen = timedUploads(cloud, () => loop, 1500, clock);
  await loop.load();
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, 40);
  t.same(seen.map(([n]) => n), Array(10).fill(1), 'one batch at a time throughout');
  t.equal(loop.windowNow, 1);
});

t.test('a batch that overtook its predecessor at the cloud gets SEQ_GAP and is sent again', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 10); // [1-10] [11-20]
  const cloud = new FakeCloud();
  const real = cloud.upload.bind(cloud);
  let n = 0;
  // The second batch reaches the cloud before the first one.
  let releaseFirst!: () => void;
  const firstHeld = new Promise<void>((r) => { releaseFirst = r; });
  cloud.upload = async (events, opts) => {
    n++;
    if (n === 1) {
      await firstHeld;
      return real(events, opts);
    }
    if (n === 2) {
      try {
        return await real(events, opts);
      } finally {
        releaseFirst();
      }
    }
    return real(events, opts);
  };
  const loop = new UploadLoop(log, cloud, { maxEvents: 10, window: 2, initialWindow: 2 });
  await loop.load();
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, 20);
  const sent = cloud.calls.map((c) => (c.op === 'upload' ? `${c.from}-${c.to}` : '')).sort();
  t.same(sent, ['1-10', '11-20', '11-20'], 'the overtaking batch went twice');
  t.equal(cloud.stored.size, 20);
});

t.test('SEQ_GAP ahead of the cursor: the cloud already has it, the cursor advances', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 15);
  const cloud = new FakeCloud();
  // The cloud stored 1..20 earlier but its answers were lost.
  const all = [];
  for await (const page of log.read(1, { to: 20 })) all.push(...page);
  cloud.store(all.map((e) => e.bytes), all.map((e) => e.seq));
  cloud.failNext('upload', gap(21));
  const loop = new UploadLoop(log, cloud, { maxEvents: 10, window: 1 });
  await loop.load();
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, 30);
  t.same(cloud.calls.map((c) => c.op === 'upload' && [c.from, c.to]), [[1, 10], [21, 30]], 'resent from expectedSeq, not from 11');
  t.equal(r.uploaded, 10);
});

t.test('SEQ_GAP behind the cursor from a batch that overtook nothing: the cloud lost data, resend it', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 10); // 20 events
  const cloud = new FakeCloud();
  const loop = new UploadLoop(log, cloud, { maxEvents: 10, window: 1 });
  await loop.load();
  await loop.run(ctx());
  t.equal(loop.ackSeq, 20);
  // The cloud is restored from a backup that had only 1..10.
  for (let s = 11; s <= 20; s++) cloud.stored.delete(s);
  cloud.ackSeq = 10;
  await appendSales(log, 5);
  const r = await loop.run(ctx());
  t.equal(r.ackSeq, 30);
  t.equal(cloud.stored.size, 30, 'the lost events were sent again');
});

t.test('a cloud that holds more than the local log is a refusal (restored data folder)', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 2);
  const loop = new UploadLoop(log, new FakeCloud());
  await loop.load();
  const err = await loop.adoptCloudAck(99).then(() => undefined, (e: unknown) => e);
  t.equal((err as CloudError).code, 'SEQ_GAP');
  t.equal((err as CloudError).kind, 'refusal');
  t.equal(loop.ackSeq, 0);
});

t.test('abort stops the pass promptly and aborts the batches in flight', async (t) => {
  const log = await openLog(t);
  await appendSales(log, 15);
  const cloud = new FakeCloud();
  cloud.hang = true;
  const loop = new UploadLoop(log, cloud, { maxEvents: 10, window: 3, initialWindow: 3 });
  await loop.load();
  const ctl = new AbortController();
  const run = loop.run(ctx(ctl.signal)).then(() => undefined, (e: unknown) => e);
  await until(() => cloud.count('upload') === 3, 'window full');
  ctl.abort(new CloudError('SYNC_ABORTED', 'test', { kind: 'aborted' }));
  const err = await run;
  t.equal((err as CloudError).code, 'SYNC_ABORTED');
  t.equal(loop.ackSeq, 0);
});
