// A SyncWorker over a FakeCloud, a real log and fake time.
import type { Test } from 'tap';
import type { EventLog } from '../../../src/events/event-log.ts';
import { seededRandom } from '../../../src/replication/backoff.ts';
import { SyncWorker, type SyncWorkerOptions } from '../../../src/replication/sync-worker.ts';
import { FakeCloud } from './fake-cloud.ts';
import { FakeTime } from './fake-time.ts';
import { openLog } from './logs.ts';

export const SEED = 7;
export const BACKOFF = { initialMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.5 };

export interface Rig {
  log: EventLog;
  cloud: FakeCloud;
  time: FakeTime;
  worker: SyncWorker;
  newWorker(extra?: Partial<SyncWorkerOptions>): SyncWorker;
}

export async function rig(t: Test, extra: Partial<SyncWorkerOptions> = {}, opts: { time?: FakeTime; cloud?: FakeCloud; log?: EventLog } = {}): Promise<Rig> {
  const time = opts.time ?? new FakeTime();
  const log = opts.log ?? (await openLog(t, { clock: time }));
  const cloud = opts.cloud ?? new FakeCloud();
  const newWorker = (more: Partial<SyncWorkerOptions> = {}): SyncWorker => {
    const w = new SyncWorker({
      log, transport: cloud, clock: time, timers: time, random: seededRandom(SEED),
      backoff: BACKOFF, stallMs: 30_000, upload: { maxEvents: 10, window: 2, initialWindow: 2 }, ...extra, ...more,
    });
    t.teardown(() => w.stop());
    return w;
  };
  return { log, cloud, time, worker: newWorker(), newWorker };
}
