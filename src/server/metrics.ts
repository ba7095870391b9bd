/**
 * The cloud's metrics (`GET /metrics`, admin token; Prometheus text format).
 *
 * Counted as they happen: requests by route and status (http/metrics.ts), the
 * events of every upload answer by outcome, uploads refused CLOUD_BUSY.
 * Read at scrape time: the upload body budget in use and waiting, open stream
 * connections, and per store its feed head, open exceptions and quarantined
 * events (from `getCounters`, the same numbers `/v1/sync-state` answers), so a
 * scrape costs one counters read per store and nothing between scrapes.
 * These are this process's view: with several cloud processes each counts its
 * own requests and uploads; the per-store gauges are the shared database's.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { UploadResponse } from '../replication/protocol.ts';
import { countRequests } from '../http/metrics.ts';
import type { CloudStorage } from './storage.ts';

export interface CloudMetricSources {
  storage: CloudStorage;
  /** Upload body bytes held now, and uploads waiting unread for the budget. */
  budget: { readonly inUse: number; readonly waiting: number };
  /** Open /v1/stream connections. */
  streams: () => number;
}

const PREFIX = 'tillsync_cloud';

export class CloudMetrics {
  readonly registry = new Registry();
  private readonly events: Counter<'outcome'>;
  private readonly batches: Counter;
  private readonly busy: Counter;

  constructor(app: FastifyInstance, sources: CloudMetricSources) {
    const registers = [this.registry];
    countRequests(app, this.registry, PREFIX);
    this.events = new Counter({
      name: `${PREFIX}_upload_events_total`,
      help: 'Events of answered uploads by outcome: accepted, duplicate, quarantined, conflict',
      labelNames: ['outcome'] as const,
      registers,
    });
    for (const outcome of ['accepted', 'duplicate', 'quarantined', 'conflict']) this.events.inc({ outcome }, 0);
    this.batches = new Counter({ name: `${PREFIX}_upload_batches_total`, help: 'Upload batches answered 200', registers });
    this.busy = new Counter({ name: `${PREFIX}_upload_busy_total`, help: 'Uploads refused 503 CLOUD_BUSY (not admitted in time)', registers });
    new Gauge({
      name: `${PREFIX}_upload_bytes_in_flight`, help: 'Upload body bytes admitted and not yet answered', registers,
      collect() { this.set(sources.budget.inUse); },
    });
    new Gauge({
      name: `${PREFIX}_upload_waiting`, help: 'Uploads waiting unread for the body budget', registers,
      collect() { this.set(sources.budget.waiting); },
    });
    new Gauge({
      name: `${PREFIX}_stream_connections`, help: 'Open /v1/stream WebSocket connections', registers,
      collect() { this.set(sources.streams()); },
    });
    // The store gauges are read together, once per scrape: prom-client collects every metric at once,
    // so each gauge's collect waits on the same read.
    let stores = 0;
    const values = { feed_head: new Map<string, number>(), open_exceptions: new Map<string, number>(), quarantined_events: new Map<string, number>() };
    let reading: Promise<void> | undefined;
    const read = (): Promise<void> => (reading ??= (async () => {
      try {
        const list = await sources.storage.listStores();
        const counters = await Promise.all(list.map((s) => sources.storage.getCounters(s.id)));
        for (const m of Object.values(values)) m.clear();
        list.forEach((s, i) => {
          const c = counters[i]!;
          values.feed_head.set(s.id, c.feedHead);
          values.open_exceptions.set(s.id, c.openExceptions);
          values.quarantined_events.set(s.id, c.quarantined);
        });
        stores = list.length;
      } finally {
        reading = undefined;
      }
    })());
    new Gauge({
      name: `${PREFIX}_stores`, help: 'Stores in the cloud', registers,
      async collect() { await read(); this.set(stores); },
    });
    const storeGauge = (name: keyof typeof values, help: string) => new Gauge({
      name: `${PREFIX}_store_${name}`, help, labelNames: ['store'] as const, registers,
      async collect() {
        await read();
        // A store removed since the last scrape must not keep its last values.
        this.reset();
        for (const [store, v] of values[name]) this.set({ store }, v);
      },
    });
    storeGauge('feed_head', 'Last feed cursor of the store');
    storeGauge('open_exceptions', 'Open exceptions of the store (overspends and others waiting for the back office)');
    storeGauge('quarantined_events', 'Events of the store held in quarantine');
  }

  /** An upload answered 200: each of its events counted under its outcome. */
  uploaded(res: UploadResponse): void {
    this.batches.inc();
    this.events.inc({ outcome: 'accepted' }, res.accepted);
    this.events.inc({ outcome: 'duplicate' }, res.duplicates);
    this.events.inc({ outcome: 'quarantined' }, res.quarantined);
    this.events.inc({ outcome: 'conflict' }, res.conflicts.length);
  }

  /** An upload refused CLOUD_BUSY. */
  refusedBusy(): void {
    this.busy.inc();
  }
}
