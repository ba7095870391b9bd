// The cloud's GET /metrics: admin only, counts what uploads did, per-store gauges from storage,
// process metrics, and no label value taken from a request as sent.
import t from 'tap';
import { encodeCanonical } from '../../src/events/codec.ts';
import { parseExposition, sampleValue, type Sample } from '../helpers/prometheus.ts';
import { ADMIN, admin, delta, redeem, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';
import type { FastifyInstance } from 'fastify';

async function scrape(app: FastifyInstance): Promise<Sample[]> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
  if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}: ${res.payload}`);
  if (!String(res.headers['content-type']).startsWith('text/plain')) throw new Error(`content-type ${res.headers['content-type']}`);
  return parseExposition(res.payload);
}

t.test('only the admin credential reads /metrics', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app);
  const none = await app.inject({ method: 'GET', url: '/metrics' });
  t.equal(none.statusCode, 401);
  t.equal(JSON.parse(none.payload).error.code, 'UNAUTHORIZED');
  const terminal = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${tokens.t1}` } });
  t.equal(terminal.statusCode, 403, "a terminal's credential is not the admin's");
  t.equal(JSON.parse(terminal.payload).error.code, 'FORBIDDEN');
  const query = await app.inject({ method: 'GET', url: '/metrics?x=1', headers: { authorization: `Bearer ${ADMIN}` } });
  t.equal(JSON.parse(query.payload).error.code, 'UNKNOWN_FIELD', 'an unknown query parameter is refused');
});

t.test('uploads counted by outcome; per-store feed head, exceptions and quarantine read from storage', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app, 's1', ['t1', 't2']);
  const l1 = await terminalLog(t, 's1', 't1');
  const l2 = await terminalLog(t, 's1', 't2');
  const before = await scrape(app);
  t.equal(sampleValue(before, 'tillsync_cloud_upload_events_total', { outcome: 'accepted' }), 0, 'every outcome is exported from the start');

  // t1 and t2 overspend c1 (10000) together: one exception.
  const e1 = await l1.append([sale(8000), delta('c1', -8000)]);
  const e2 = await l2.append([sale(7000), delta('c1', -7000), redeem('GIFT-1', 100)]);
  t.equal((await upload(app, tokens.t1!, e1)).body.accepted, 2);
  t.equal((await upload(app, tokens.t1!, e1)).body.duplicates, 2);
  t.equal((await upload(app, tokens.t2!, e2)).body.accepted, 3);
  // A resent seq with other content: a conflict (not stored). A new seq reusing a stored id: quarantined.
  const forged = { ...e2[0]!.event, time: e2[0]!.event.time + 1 };
  t.equal((await upload(app, tokens.t2!, [encodeCanonical(forged)])).body.conflicts.length, 1);
  const last = e2[2]!;
  const reused = { ...last.event, seq: 4, prev: last.hash, id: e2[0]!.event.id };
  t.equal((await upload(app, tokens.t2!, [encodeCanonical(reused)])).body.quarantined, 1);

  const m = await scrape(app);
  t.equal(sampleValue(m, 'tillsync_cloud_upload_events_total', { outcome: 'accepted' }), 5);
  t.equal(sampleValue(m, 'tillsync_cloud_upload_events_total', { outcome: 'duplicate' }), 2);
  t.equal(sampleValue(m, 'tillsync_cloud_upload_events_total', { outcome: 'conflict' }), 1);
  t.equal(sampleValue(m, 'tillsync_cloud_upload_events_total', { outcome: 'quarantined' }), 1);
  t.equal(sampleValue(m, 'tillsync_cloud_upload_batches_total'), 5);
  t.equal(sampleValue(m, 'tillsync_cloud_http_requests_total', { method: 'POST', route: '/v1/events', status: '200' }), 5,
    'requests by route pattern and status');
  const counters = await storage.getCounters('s1');
  t.ok(counters.feedHead > 0);
  t.equal(sampleValue(m, 'tillsync_cloud_store_feed_head', { store: 's1' }), counters.feedHead, "the store's feed head as stored");
  t.equal(sampleValue(m, 'tillsync_cloud_store_open_exceptions', { store: 's1' }), 1, 'the overspend is one open exception');
  t.equal(counters.quarantined, 1);
  t.equal(sampleValue(m, 'tillsync_cloud_store_quarantined_events', { store: 's1' }), 1);
  t.equal(sampleValue(m, 'tillsync_cloud_stores'), 1);
  t.ok((sampleValue(m, 'process_cpu_user_seconds_total') ?? -1) >= 0, 'process metrics come with them');
  t.ok(m.some((s) => s.name === 'tillsync_cloud_http_request_duration_seconds_count' && s.labels.route === '/v1/events'), 'durations by route');

  // Resolving the exception shows at the next scrape.
  const ex = await admin(app, 'GET', '/v1/admin/stores/s1/exceptions');
  await admin(app, 'POST', `/v1/admin/stores/s1/exceptions/${ex.body.exceptions[0].id}/resolve`, {});
  t.equal(sampleValue(await scrape(app), 'tillsync_cloud_store_open_exceptions', { store: 's1' }), 0);
});

t.test('a path with no route is counted as unmatched: nothing a client sends becomes a label', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const hostile = '/v1/x-' + 'a'.repeat(50);
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'GET', url: `${hostile}${i}` })).statusCode, 404);
  const card = await app.inject({ method: 'GET', url: '/v1/x-4111111111111111' });
  t.equal(JSON.parse(card.payload).error.code, 'FULL_CARD_NUMBER');
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
  t.notMatch(res.payload, /4111/, 'no card-number-like digits from a path');
  t.notMatch(res.payload, /aaaa/, 'no part of an unrouted path');
  const m = parseExposition(res.payload);
  t.equal(sampleValue(m, 'tillsync_cloud_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 3);
  t.equal(sampleValue(m, 'tillsync_cloud_http_requests_total', { method: 'GET', route: 'unmatched', status: '400' }), 1);
});
