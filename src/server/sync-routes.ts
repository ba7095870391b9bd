/**
 * The terminal-facing sync routes (terminal credential, `config.auth: 'terminal'`):
 *
 *   POST /v1/events/check      F9 dry run: which of these events the cloud has, lacks, holds differently
 *   GET  /v1/feed?since=&limit=  a page of the store's feed
 *   GET  /v1/digest            feed digest for a full resync (store-digest.ts)
 *   GET  /v1/sync-state        the terminal's high-water mark and the store's counters
 *
 * The upload itself (POST /v1/events) stays in app.ts: its body is admitted by
 * the byte budget and parsed by hand. Answers are msgpack or JSON per request (wire.ts).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Change } from '../events/event-types.ts';
import { MSGPACK, send } from '../http/wire.ts';
import { checkRequest, LIMITS, type CheckResponse, type FeedPage, type SyncState } from '../replication/protocol.ts';
import { BodyBudget } from './body-budget.ts';
import type { FeedTail } from './feed-tail.ts';
import { TERMINAL_SECURITY } from './openapi.ts';
import type { CloudStorage, CredentialRecord } from './storage.ts';
import { storeDigest } from './store-digest.ts';

const FEED_READS_AT_ONCE = 4;

const digits = z.string().regex(/^\d{1,15}$/);
const feedQuery = z.strictObject({ since: digits.optional(), limit: digits.optional() });
const emptyQuery = z.strictObject({});

/**
 * A feed change as one terminal receives it: a `*.state` change keeps only that
 * terminal's entry of `includes` (the only one it reads: its balance is the
 * cloud's plus its own deltas past that seq). With every terminal's entry, each
 * change grows with the store's terminal count and every terminal decodes,
 * validates and stores all of them: O(terminals²) work across the store.
 */
function forTerminal(change: Change, terminal: string): Change {
  if (change.type !== 'balance.state' && change.type !== 'voucher.state') return change;
  // Own keys only: includes[terminal] of a terminal named `hasOwnProperty` is otherwise a function (a 500).
  const own = Object.hasOwn(change.body.includes, terminal) ? change.body.includes[terminal] : undefined;
  return { ...change, body: { ...change.body, includes: own === undefined ? {} : { [terminal]: own } } } as Change;
}

export interface SyncRouteDeps {
  storage: CloudStorage;
  feedTail: FeedTail;
  credentialOf: (req: FastifyRequest) => CredentialRecord;
  check: (cred: CredentialRecord, body: unknown) => Promise<CheckResponse>;
}

const T = { auth: 'terminal' as const };

export const syncRoutes: FastifyPluginAsync<SyncRouteDeps> = async (plain, deps) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const { storage, feedTail, credentialOf } = deps;

  app.post('/v1/events/check', {
    config: T,
    schema: { summary: 'Dry run (F9): which events the cloud has, lacks or holds differently', tags: ['sync'], security: TERMINAL_SECURITY, consumes: [MSGPACK, 'application/json'], body: checkRequest },
  }, async (req, reply) => send(req, reply, await deps.check(credentialOf(req), req.body)));

  // Feed pages are read, decoded and encoded a few at a time: 50 terminals asking
  // at once otherwise hold 50 decoded pages (the cloud's peak memory).
  const feedReads = new BodyBudget(FEED_READS_AT_ONCE);
  app.get('/v1/feed', {
    config: T,
    schema: { summary: 'A page of the store\'s feed after a cursor', tags: ['sync'], security: TERMINAL_SECURITY, querystring: feedQuery },
  }, async (req, reply) => {
    const cred = credentialOf(req);
    const q = req.query;
    const since = q.since === undefined ? 0 : Number(q.since);
    const limit = Math.min(LIMITS.maxFeedPage, Math.max(1, q.limit === undefined ? 1000 : Number(q.limit)));
    // A terminal nearly caught up is served from the changes committed last (no storage read).
    let read = feedTail.read(cred.store, since, limit);
    if (!read) {
      const ticket = feedReads.acquire(1);
      reply.raw.once('close', ticket.release);
      await ticket.admitted;
      const [changes, counters] = await Promise.all([storage.readFeed(cred.store, since, limit), storage.getCounters(cred.store)]);
      read = { changes, head: counters.feedHead };
    }
    const { changes, head } = read;
    const cursor = changes.length > 0 ? changes[changes.length - 1]!.cursor : since;
    const page: FeedPage = { changes: changes.map((c) => forTerminal(c, cred.terminal)), cursor, head };
    return send(req, reply, page);
  });

  app.get('/v1/digest', {
    config: T,
    schema: { summary: 'The store feed\'s digest (full resync)', tags: ['sync'], security: TERMINAL_SECURITY, querystring: emptyQuery },
  }, async (req, reply) => send(req, reply, await storeDigest(storage, credentialOf(req).store)));

  app.get('/v1/sync-state', {
    config: T,
    schema: { summary: 'The terminal\'s high-water mark and the store\'s counters', tags: ['sync'], security: TERMINAL_SECURITY, querystring: emptyQuery },
  }, async (req, reply) => {
    const cred = credentialOf(req);
    const [hw, counters] = await Promise.all([storage.getHighWater(cred.store, cred.terminal), storage.getCounters(cred.store)]);
    const state: SyncState = {
      store: cred.store, terminal: cred.terminal, ackSeq: hw.seq, ackHash: hw.hash, feedHead: counters.feedHead,
      openExceptions: counters.openExceptions, quarantined: hw.quarantined,
    };
    return send(req, reply, state);
  });
};
