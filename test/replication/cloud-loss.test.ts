// Losing and regaining the cloud (issue 24, item 1), under fake time over the
// FakeCloud: a stream that drops stops "online" at once and probes; a single
// failed request while the stream is up is probed instead of shown offline;
// the stream reconnects within its capped backoff once the cloud is back.
import t from 'tap';
import type { ConnectionState } from '../../src/replication/sync-status.ts';
import { offline } from './helpers/fake-cloud.ts';
import { settle, until } from './helpers/fake-time.ts';
import { appendSales } from './helpers/logs.ts';
import { rig } from './helpers/worker.ts';

// Long polls, so nothing but the stream and the probe can notice anything.
const QUIET = { uploadPollMs: 3_600_000, download: { intervalMs: 3_600_000 } };

t.test('a stream that drops: not online in the same tick, probed at once, offline when the probe fails', async (t) => {
  const { cloud, worker } = await rig(t, QUIET);
  await worker.start();
  await until(() => worker.status().connection.state === 'online' && worker.status().streamConnected, 'online with the stream');
  const probesBefore = cloud.count('syncState');
  cloud.failNext('syncState', offline);
  cloud.failNext('subscribe', ...Array.from({ length: 20 }, () => offline));
  cloud.dropStreams();
  // Synchronously after the close: the policy probe (state !== 'online') already says offline.
  t.equal(worker.status().streamConnected, false);
  t.match(worker.status().connection, { state: 'offline', error: null }, 'not confirmed: offline until the cloud answers');
  await until(() => cloud.count('syncState') > probesBefore, 'a probe right after the drop (no time advanced)');
  await until(() => worker.status().connection.state === 'offline' && (worker.status().connection as { error: unknown }).error === 'CLOUD_UNREACHABLE', 'probe failure shown');
});

t.test('a stream that drops while the cloud is still there: the probe answers and it is online again', async (t) => {
  const { cloud, worker } = await rig(t, QUIET);
  await worker.start();
  await until(() => worker.status().connection.state === 'online' && worker.status().streamConnected, 'online with the stream');
  cloud.dropStreams();
  t.equal(worker.status().connection.state, 'offline');
  await until(() => worker.status().connection.state === 'online', 'online after the probe answered');
});

t.test('the stream reconnects within its capped backoff once the cloud is back', async (t) => {
  const { cloud, time, worker } = await rig(t, { ...QUIET, streamRetryMaxMs: 5_000 });
  await worker.start();
  await until(() => worker.status().streamConnected, 'stream up');
  // Down for a long while: 12 failed reconnects (an uncapped backoff would be at its 60 s cap by then).
  const fails = 12;
  cloud.failNext('subscribe', ...Array.from({ length: fails }, () => offline));
  cloud.failNext('syncState', ...Array.from({ length: 50 }, () => offline));
  const before = cloud.count('subscribe');
  cloud.dropStreams();
  for (let i = 0; i < 200 && cloud.count('subscribe') < before + fails; i++) await time.advance(1_000);
  t.equal(cloud.count('subscribe'), before + fails, 'all failing attempts made');
  await settle();
  t.equal(worker.status().streamConnected, false);
  cloud.clearFaults();
  // The cloud is back now: within one capped wait the stream is up and the worker online.
  await time.advance(5_000);
  await until(() => worker.status().streamConnected && worker.status().connection.state === 'online', 'reconnected within 5 s of fake time');
});

t.test('one lost request while the stream is up is probed, never shown as CLOUD_UNREACHABLE', async (t) => {
  const { log, cloud, time, worker } = await rig(t, { download: { intervalMs: 3_600_000 } });
  const seen: ConnectionState[] = [];
  worker.onStatus((s) => seen.push(s.connection));
  await worker.start();
  await until(() => worker.status().connection.state === 'online' && worker.status().streamConnected, 'online with the stream');
  cloud.failNext('upload', offline);
  await appendSales(log, 2);
  const probes = worker.probes;
  worker.notifyAppended();
  await until(() => worker.status().lastUpError?.code === 'CLOUD_UNREACHABLE', 'the upload failed');
  await time.advance(1_000); // the upload's first backoff (BACKOFF.initialMs)
  await until(() => worker.status().uploaded === log.head.seq, 'uploaded on the retry');
  t.notOk(seen.some((c) => c.state === 'offline' && c.error === 'CLOUD_UNREACHABLE'), 'never offline / CLOUD_UNREACHABLE while the cloud answers');
  t.ok(worker.probes > probes, 'the failure was probed');
});
