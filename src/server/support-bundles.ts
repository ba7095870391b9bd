/**
 * Support bundles terminals send from their Sync Manager (issue 22 item 4),
 * kept for support to read on the dashboard:
 *
 *   POST /v1/support-bundles                                             terminal  { bundle: {…} } → 201 { id, received, bytes }
 *   GET  /v1/admin/stores/:store/terminals/:terminal/support-bundles     admin     { bundles: [{ id, received, bytes }] }, newest first
 *   GET  /v1/admin/stores/:store/terminals/:terminal/support-bundles/:id admin     the bundle, as a JSON attachment
 *
 * The store and terminal come from the credential, never from the bundle (one
 * naming another terminal is refused). The bundle arrives as a value (the
 * wire's depth, shape and card-data checks apply to it like to any body; as
 * text its timestamps would read as digit runs), must be a support bundle, is
 * at most MAX_BUNDLE_BYTES as JSON, and is scrubbed again here
 * (a terminal of an older version, or a hostile one, cannot make the cloud
 * keep a card number or a token). The newest KEEP per terminal are kept; an
 * older one goes in the same commit.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { monotonicFactory } from 'ulid';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { entityId, ulidString } from '../events/event-types.ts';
import { scrub, SUPPORT_BUNDLE_KIND } from '../events/support-scrub.ts';
import type { Clock } from '../events/event-log.ts';
import { MSGPACK, send } from '../http/wire.ts';
import { ADMIN_SECURITY, TERMINAL_SECURITY } from './openapi.ts';
import type { CloudStorage, CredentialRecord, SupportBundleRecord } from './storage.ts';

export const MAX_BUNDLE_BYTES = 512 * 1024;
export const KEEP_PER_TERMINAL = 5;

const sendBody = z.strictObject({ v: z.literal(1).optional(), bundle: z.record(z.string(), z.unknown()) });
const terminalParams = z.strictObject({ store: entityId, terminal: entityId });
const bundleParams = z.strictObject({ store: entityId, terminal: entityId, id: ulidString });
const noQuery = z.strictObject({});

export interface SupportBundleDeps {
  storage: CloudStorage;
  clock: Clock;
  credentialOf: (req: FastifyRequest) => CredentialRecord;
  /** Runs `task` holding the store's lock (the retention's read and commit are one step). */
  withStore<T>(store: string, task: () => Promise<T>): Promise<T>;
}

function summary(b: SupportBundleRecord): { id: string; received: number; bytes: number } {
  return { id: b.id, received: b.received, bytes: Buffer.byteLength(b.json) };
}

export const supportBundleRoutes: FastifyPluginAsync<SupportBundleDeps> = async (plain, deps) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const ulid = monotonicFactory();
  app.post('/v1/support-bundles', {
    config: { auth: 'terminal' },
    schema: { summary: 'Send a support bundle (kept for support, newest 5 per terminal)', tags: ['support'], security: TERMINAL_SECURITY, querystring: noQuery, body: sendBody, consumes: [MSGPACK, 'application/json'] },
  }, async (req, reply) => {
    const cred = deps.credentialOf(req);
    const parsed = req.body.bundle;
    if (parsed.kind !== SUPPORT_BUNDLE_KIND) throw new TillsyncError('VALIDATION_FAILED', `bundle: not a ${SUPPORT_BUNDLE_KIND}`);
    if ((parsed.store !== undefined && parsed.store !== cred.store) || (parsed.terminal !== undefined && parsed.terminal !== cred.terminal)) {
      throw new TillsyncError('WRONG_TERMINAL', "the bundle names another store or terminal than the credential's");
    }
    const json = JSON.stringify(scrub(parsed), null, 2);
    if (Buffer.byteLength(json) > MAX_BUNDLE_BYTES) {
      throw new TillsyncError('PAYLOAD_TOO_LARGE', `a support bundle is at most ${MAX_BUNDLE_BYTES} bytes as JSON`);
    }
    const received = deps.clock.now();
    const record: SupportBundleRecord = { store: cred.store, terminal: cred.terminal, id: ulid(received), received, json };
    await deps.withStore(cred.store, async () => {
      const kept = await deps.storage.listSupportBundles(cred.store, cred.terminal);
      const drop = kept.slice(0, Math.max(0, kept.length - (KEEP_PER_TERMINAL - 1)));
      await deps.storage.commit([
        ...drop.map((d) => ({ kind: 'supportBundleRemoved' as const, store: d.store, terminal: d.terminal, id: d.id })),
        { kind: 'supportBundle', bundle: record },
      ]);
    });
    return send(req, reply, summary(record), 201);
  });

  app.get('/v1/admin/stores/:store/terminals/:terminal/support-bundles', {
    config: { auth: 'admin' },
    schema: { summary: 'A terminal\'s support bundles, newest first', tags: ['support', 'admin'], security: ADMIN_SECURITY, querystring: noQuery, params: terminalParams },
  }, async (req, reply) => {
    const p = req.params;
    const list = await deps.storage.listSupportBundles(p.store, p.terminal);
    return send(req, reply, { bundles: list.map(summary).reverse() });
  });

  app.get('/v1/admin/stores/:store/terminals/:terminal/support-bundles/:id', {
    config: { auth: 'admin' },
    schema: { summary: 'One support bundle, as a JSON attachment', tags: ['support', 'admin'], security: ADMIN_SECURITY, querystring: noQuery, params: bundleParams },
  }, async (req, reply) => {
    const p = req.params;
    const found = (await deps.storage.listSupportBundles(p.store, p.terminal)).find((b) => b.id === p.id);
    if (!found) throw new TillsyncError('NOT_FOUND', `no support bundle ${p.id} of ${p.store}/${p.terminal}`);
    return reply.type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="support-${p.store}-${p.terminal}-${p.id}.json"`)
      .send(found.json);
  });
};
