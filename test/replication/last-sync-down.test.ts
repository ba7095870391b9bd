// Issue 24, item 4: "last sync down" is the last download pass that moved
// something; passes that found nothing new do not overwrite it (fake time).
import t from 'tap';
import { until } from './helpers/fake-time.ts';
import { rig } from './helpers/worker.ts';

t.test('a download pass that moved nothing keeps the last sync down', async (t) => {
  const { cloud, time, worker } = await rig(t, { stream: false, uploadPollMs: 3_600_000, download: { intervalMs: 60_000 } });
  cloud.feedChanges = [{ cursor: 1, type: 'item.removed', body: { id: 'i1' } }];
  await worker.start();
  await until(() => worker.status().lastDown?.changes === 1, 'the first pass applied the change');
  const first = worker.status().lastDown!;
  const feeds = cloud.count('feed');
  await time.advance(60_000); // the periodic pass: nothing new
  await until(() => cloud.count('feed') > feeds && worker.status().activity === null, 'a pass that found nothing');
  t.same(worker.status().lastDown, first, 'not overwritten by a pass that moved nothing');
  t.equal(worker.status().lastDownError, null);
  cloud.feedChanges.push({ cursor: 2, type: 'item.removed', body: { id: 'i2' } });
  await worker.syncDown();
  t.match(worker.status().lastDown, { changes: 1, cursor: 2 }, 'a pass that moved something is recorded');
});
