// Faults between a real terminal and a real cloud on loopback: a lost
// acknowledgement, a connection cut mid-body, a cloud restarted mid-upload.
import t, { type Test } from 'tap';
import type { CloudError } from '../../src/replication/cloud-error.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import { FaultProxy } from './helpers/fault-proxy.ts';
import { cloudEvents, localEvents, setupStore, startCloud, startTerminal, until, type RealCloud, type RealTerminal } from './helpers/cloud.ts';
import { appendSales, openLog } from './helpers/logs.ts';

async function assertExactlyOnce(t: Test, cloud: RealCloud, term: RealTerminal): Promise<void> {
  const local = await localEvents(term.log);
  const stored = await cloudEvents(cloud, term.id);
  t.equal(stored.length, local.length, 'as many events in the cloud as in the log');
  t.same(stored.map((e) => e.hash), local.map((e) => e.hash), 'byte for byte, in order');
  t.equal(new Set(stored.map((e) => e.id)).size, stored.length, 'no id twice');
}

t.test('lost acknowledgement: the resend is answered as duplicates, nothing stored twice', async (t) => {
  const cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1']);
  const log = await openLog(t, { store: 's1', terminal: 't1' });
  await appendSales(log, 3);
  const proxy = await FaultProxy.start(cloud.port);
  t.teardown(() => proxy.close());
  // A generous timeout: the dropped answer is seen as a cut connection, never as a timeout.
  const transport = new HttpTransport({ baseUrl: proxy.url, token: tokens.t1!, timeoutMs: 60_000 });
  const bytes: Uint8Array[] = [];
  for await (const page of log.read(1)) bytes.push(...page.map((e) => e.bytes));

  proxy.dropUploadResponses = 1;
  const err = await transport.upload(bytes).then(() => undefined, (e: unknown) => e as CloudError);
  t.equal(proxy.dropped, 1, 'the answer was dropped');
  t.equal(err?.code, 'CLOUD_UNREACHABLE');
  t.equal(err?.kind, 'retry', 'a lost answer is retryable');
  t.equal((await cloudEvents(cloud, 't1')).length, 6, 'but the cloud committed the batch');

  const again = await transport.upload(bytes);
  t.same(again, { ackSeq: 6, accepted: 0, duplicates: 6, quarantined: 0, conflicts: [] }, 'the retry is all duplicates');
  t.equal((await cloudEvents(cloud, 't1')).length, 6);
});

t.test('lost acknowledgement through the worker: converges, counted once', async (t) => {
  const cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1']);
  const a = await startTerminal(t, cloud, 't1', tokens.t1!, { upload: { maxEvents: 20, window: 2 } });
  await appendSales(a.log, 30); // 60 events, 3 batches
  a.proxy.dropUploadResponses = 1;
  await a.worker.start();
  await until(() => a.worker.status().pending === 0 && a.worker.status().uploaded === 60, 'synced');
  t.equal(a.proxy.dropped, 1);
  t.equal(a.worker.status().lastUpError?.code ?? null, null, 'the last pass succeeded');
  await assertExactlyOnce(t, cloud, a);
  const state = await cloud.storage.getHighWater('s1', 't1');
  t.equal(state.seq, 60);
});

t.test('connection dropped mid-body: nothing half-stored, the retry stores it once', async (t) => {
  const cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1']);
  const a = await startTerminal(t, cloud, 't1', tokens.t1!);
  await appendSales(a.log, 20);
  a.proxy.cutUploadBodies = 1;
  a.proxy.cutAfterBytes = 300;
  await a.worker.start();
  await until(() => a.worker.status().pending === 0, 'synced');
  t.equal(a.proxy.cut, 1, 'one body was cut');
  await assertExactlyOnce(t, cloud, a);
});

t.test('cloud restarted mid-upload: resumes against the restarted cloud, each event once', async (t) => {
  let cloud = await startCloud(t);
  const tokens = await setupStore(t, cloud, ['t1']);
  const a = await startTerminal(t, cloud, 't1', tokens.t1!, { upload: { maxEvents: 25, window: 2 } });
  await appendSales(a.log, 400); // 800 events, 32 batches
  await a.worker.start();
  await until(() => a.worker.status().uploaded > 0, 'upload under way');
  const dir = cloud.dir;
  // Requests in flight run into the closing server; new connections find nobody
  // (and never a stranger that took the freed port: that one would answer 401).
  a.proxy.refuseNew = true;
  await cloud.close();
  const at = a.worker.status().uploaded;
  t.ok(at < 800, `the cloud went down mid-upload (at ${at})`);
  cloud = await startCloud(t, dir);
  a.proxy.setTarget(cloud.port);
  a.proxy.refuseNew = false;
  await until(() => a.worker.status().pending === 0, 'synced after the restart');
  await assertExactlyOnce(t, cloud, a);
  t.equal(a.worker.status().connection.state, 'online');
});
