/**
 * Prometheus metrics both HTTP sides share (the cloud's `GET /metrics`, the
 * agent's `GET /api/metrics`), on prom-client.
 *
 * Each app has its own `Registry` (tests build many apps in one process; a
 * global registry would mix them and refuse a second registration). The
 * process metrics (CPU, memory, event-loop lag, GC, handles) are one registry
 * per process, created on the first scrape, and their text is put before the
 * app's: the standard names (`process_*`, `nodejs_*`) stay unprefixed so stock
 * Node dashboards read them.
 *
 * Label values never come from a request as sent: the route label is fastify's
 * route pattern (`/v1/admin/stores/:store`), `unmatched` for a path with no
 * route, and the method is one of the known ones or `OTHER`, so a hostile
 * client cannot grow the series count (or put a card number into it).
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Request counts and durations by method, route pattern and status, into `registry`. */
export function countRequests(app: FastifyInstance, registry: Registry, prefix: string): void {
  const requests = new Counter({
    name: `${prefix}_http_requests_total`,
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${prefix}_http_request_duration_seconds`,
    help: 'Time from request to answer, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    const method = METHODS.has(req.method) ? req.method : 'OTHER';
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method, route, status: String(reply.statusCode) });
    duration.observe({ method, route }, reply.elapsedTime / 1000);
  });
}

/** The Prometheus text exposition of the process metrics and then `registry`'s. */
export async function exposition(registry: Registry): Promise<{ contentType: string; text: string }> {
  const [proc, own] = await Promise.all([processMetrics().metrics(), registry.metrics()]);
  return { contentType: registry.contentType, text: `${proc}\n${own}` };
}
