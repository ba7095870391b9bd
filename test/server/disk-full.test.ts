/**
 * The cloud on a full disk, on a real small tmpfs (mounted by the test; it
 * skips, saying so, where `mount -t tmpfs` is not allowed). An upload that
 * fails for lack of space is refused with DISK_FULL; once space is freed the
 * uploads acknowledged after it survive a restart of the cloud: no commit
 * lands behind a write-ahead-log record the failed one left torn (the fault
 * the simulator found on terminals, seed 200; level-util.ts sealWriteAheadLog).
 */
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import type { CloudError } from '../../src/replication/cloud-error.ts';
import { cloudEvents, setupStore, startCloud } from '../replication/helpers/cloud.ts';
import { appendSales, openLog } from '../replication/helpers/logs.ts';
import { mountSmallDisk } from '../helpers/small-disk.ts';

const disk = mountSmallDisk(24);
if (!disk.mounted) t.comment(`${disk.why}: skipping the cloud disk-full test`);
t.teardown(() => disk.remove());

t.test('uploads acknowledged after a full disk was freed survive a restart of the cloud', { skip: !disk.mounted && 'no tmpfs' }, async (t) => {
  const dir = join(disk.path, 'cloud');
  let cloud = await startCloud(t, dir);
  const tokens = await setupStore(t, cloud, ['t1']);
  const log = await openLog(t, { store: 's1', terminal: 't1' });
  await appendSales(log, 600); // 1,200 events
  const bytes: Uint8Array[] = [];
  for await (const page of log.read(1)) bytes.push(...page.map((e) => e.bytes));
  const transport = new HttpTransport({ baseUrl: cloud.url, token: tokens.t1!, timeoutMs: 60_000 });
  t.equal((await transport.upload(bytes.slice(0, 100))).ackSeq, 100);

  const filler = disk.fill();
  const err = await transport.upload(bytes.slice(100, 600)).then(() => undefined, (e: unknown) => e as CloudError);
  t.equal(err?.code, 'DISK_FULL', 'the upload on the full disk is refused DISK_FULL');
  t.equal((await cloud.storage.getHighWater('s1', 't1')).seq, 100, 'and nothing of it is stored');
  rmSync(filler);

  let acked = 100;
  for (let from = 100; from < bytes.length; from += 100) acked = (await transport.upload(bytes.slice(from, from + 100))).ackSeq;
  t.equal(acked, 1_200, 'every event acknowledged after the space was freed');
  await cloud.close();

  cloud = await startCloud(t, dir);
  const dropped = readFileSync(join(dir, 'LOG'), 'utf8').split('\n').filter((l) => /dropping|corrupt/i.test(l));
  t.same(dropped, [], 'LevelDB dropped nothing on open');
  const stored = await cloudEvents(cloud, 't1');
  t.equal(stored.length, 1_200, 'every acknowledged event is there after the restart');
  t.equal((await cloud.storage.getHighWater('s1', 't1')).seq, 1_200);
});
