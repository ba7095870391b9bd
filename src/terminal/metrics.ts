/**
 * The agent's metrics (`GET /api/metrics`, any signed-in caller, as the status;
 * Prometheus text format). A scraper sends the pairing token or a front-end
 * token as its bearer credential.
 *
 * Every value is read from the status at scrape time, in the store's language
 * first: unsynced sales, their amount in cents and the age of the oldest; then
 * the sync's own numbers (events pending, feed lag, quarantine, conflicts,
 * restarts). A number the agent does not know yet (the cloud's feed head
 * before the first contact) is NaN, not 0: "no open exceptions" and "not told
 * yet" must not read alike. Every series carries the `store` and `terminal` labels, so one
 * Prometheus can scrape a store's tills side by side.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import { countRequests, exposition } from '../http/metrics.ts';
import type { TerminalReportFields } from '../replication/terminal-report.ts';
import type { AgentStatus } from './agent-status.ts';

export interface AgentMetricSources {
  status(): AgentStatus;
  /** Sales the cloud has not acknowledged (replication/unsynced-sales.ts). */
  unsynced(): TerminalReportFields;
  now?: () => number;
}

const PREFIX = 'tillsync_terminal';
const CONNECTION_STATES = ['online', 'offline', 'local', 'stuck', 'revoked'] as const;

/** Counts the app's requests and serves `GET /api/metrics` (its permission is in permissions.ts). */
export function registerMetricsRoute(app: FastifyInstance, labels: { store: string; terminal: string }, sources: AgentMetricSources): Registry {
  const registry = agentMetrics(app, labels, sources);
  app.get('/api/metrics', { schema: { summary: 'Prometheus metrics (text exposition)', tags: ['meta'] } }, async (_req, reply) => {
    const { contentType, text } = await exposition(registry);
    return reply.type(contentType).send(text);
  });
  return registry;
}

function agentMetrics(app: FastifyInstance, labels: { store: string; terminal: string }, sources: AgentMetricSources): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  countRequests(app, registry, PREFIX);
  const now = sources.now ?? Date.now;
  const registers = [registry];
  // One status per scrape: prom-client calls every gauge's collect in one synchronous pass,
  // so they all read the snapshot taken by the first, which is dropped once that pass is over.
  let snapshot: { at: number; status: AgentStatus; unsynced: TerminalReportFields } | undefined;
  const read = () => {
    if (!snapshot) {
      snapshot = { at: now(), status: sources.status(), unsynced: sources.unsynced() };
      queueMicrotask(() => { snapshot = undefined; });
    }
    return snapshot;
  };
  const gauge = (name: string, help: string, value: (s: NonNullable<typeof snapshot>) => number | null) => new Gauge({
    name: `${PREFIX}_${name}`, help, registers,
    collect() {
      const v = value(read());
      this.set(v === null ? Number.NaN : v);
    },
  });

  gauge('unsynced_sales', 'Completed sales the cloud has not acknowledged', (s) => s.unsynced.sales);
  gauge('unsynced_amount_cents', 'Total of the sales the cloud has not acknowledged, cents', (s) => s.unsynced.amount);
  gauge('oldest_unsynced_sale_age_seconds', 'Age of the oldest sale the cloud has not acknowledged (0 when none)',
    (s) => (s.unsynced.oldest === undefined ? 0 : Math.max(0, (s.at - s.unsynced.oldest) / 1000)));
  gauge('oldest_unsynced_payment_age_seconds', 'Age of the oldest payment the cloud has not acknowledged (0 when none)',
    (s) => (s.status.sync.oldestUnsyncedPayment ? Math.max(0, (s.at - s.status.sync.oldestUnsyncedPayment.time) / 1000) : 0));
  gauge('log_head_seq', 'Last seq in the local event log', (s) => s.status.log.head);
  gauge('uploaded_seq', 'Last seq the cloud acknowledged', (s) => s.status.sync.uploaded);
  gauge('pending_events', 'Events not yet acknowledged by the cloud', (s) => s.status.sync.pending);
  gauge('feed_lag', 'Cloud feed changes not yet applied here (NaN while the cloud head is unknown)',
    (s) => (s.status.sync.feedHead === null ? null : Math.max(0, s.status.sync.feedHead - s.status.sync.feedCursor)));
  gauge('quarantined_events', "This terminal's events the cloud holds in quarantine", (s) => s.status.sync.quarantined);
  gauge('conflicts', 'Events the cloud refused as conflicts since start', (s) => s.status.sync.conflicts);
  gauge('open_exceptions', 'Open exceptions of the store, as last told by the cloud (NaN while unknown)', (s) => s.status.sync.openExceptions);
  gauge('log_bytes', 'Size of the data folder, bytes (NaN until measured)', (s) => s.status.sync.logBytes);
  gauge('stream_connected', '1 while the live stream to the cloud is connected', (s) => (s.status.sync.streamConnected ? 1 : 0));
  gauge('restarts', 'Sync restarts since start (restore and watchdog)', (s) => s.status.sync.restarts);
  gauge('watchdog_restarts', 'Sync restarts by the stall watchdog since start', (s) => s.status.sync.watchdogRestarts);
  gauge('log_healthy', '1 while the event log accepts writes (0: corrupted, disk full)', (s) => (s.status.log.health === 'ok' ? 1 : 0));
  new Gauge({
    name: `${PREFIX}_connection_state`, help: 'The sync connection state: 1 for the current one', labelNames: ['state'] as const, registers,
    collect() {
      const state = read().status.sync.connection.state;
      for (const c of CONNECTION_STATES) this.set({ state: c }, c === state ? 1 : 0);
    },
  });
  return registry;
}
