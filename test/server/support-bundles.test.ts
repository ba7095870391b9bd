/**
 * Support bundles on the cloud (issue 22 item 4, support-bundles.ts), through
 * the real routes: a terminal sends one with its credential; the cloud keeps
 * it under that terminal (never one a bundle names), scrubs it again (a card
 * number or a token sent by a hostile or older terminal is not kept), refuses
 * what is not a bundle, keeps the newest five; only the admin reads them.
 */
import t from 'tap';
import { SUPPORT_BUNDLE_KIND, TOKEN_REMOVED } from '../../src/events/support-scrub.ts';
import { KEEP_PER_TERMINAL, MAX_BUNDLE_BYTES } from '../../src/server/support-bundles.ts';
import { admin, body, setupStore, startCloud } from './harness.ts';

t.test('send, keep, scrub, refuse, read', async (t) => {
  const { app } = await startCloud(t);
  const a = await setupStore(t, app, 's1', ['t1', 't2']);
  await setupStore(t, app, 's2', ['t1']);
  const sendAs = (token: string, payload: unknown) => app.inject({
    method: 'POST', url: '/v1/support-bundles', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload),
  });
  const protoKey = await app.inject({
    method: 'POST', url: '/v1/support-bundles', headers: { authorization: `Bearer ${a.tokens.t1}`, 'content-type': 'application/json' },
    payload: `{"bundle":{"kind":"${SUPPORT_BUNDLE_KIND}","__proto__":{"polluted":1}}}`,
  });
  t.equal(body(protoKey).error.code, 'FORBIDDEN_KEY', 'a __proto__ key is refused');
  const bundle = (extra: Record<string, unknown> = {}) => ({ kind: SUPPORT_BUNDLE_KIND, format: 1, store: 's1', terminal: 't1', status: { pending: 0, since: 1_796_357_806_429 }, ...extra });

  // A card number anywhere in a body is refused before anything is read into storage.
  const withCard = await sendAs(a.tokens.t1!, { v: 1, bundle: bundle({ note: 'card 4111 1111 1111 1111 on the counter' }) });
  t.equal(body(withCard).error.code, 'FULL_CARD_NUMBER');
  const first = await sendAs(a.tokens.t1!, { v: 1, bundle: bundle({ line: 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789', token: 'tsk_secret' }) });
  t.equal(first.statusCode, 201, first.payload);
  const sent = body(first) as { id: string; received: number; bytes: number };
  t.match(sent.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);

  const list = await admin(app, 'GET', '/v1/admin/stores/s1/terminals/t1/support-bundles');
  t.same(list.body.bundles.map((b: { id: string }) => b.id), [sent.id]);
  const one = await admin(app, 'GET', `/v1/admin/stores/s1/terminals/t1/support-bundles/${sent.id}`);
  t.equal(one.status, 200);
  t.equal(one.res.headers['content-disposition'], `attachment; filename="support-s1-t1-${sent.id}.json"`);
  const kept = JSON.parse(one.res.payload) as Record<string, string>;
  t.equal(kept.line, `Authorization: ${TOKEN_REMOVED}`, 'a token in the text is not kept');
  t.notOk('token' in kept || one.res.payload.includes('tsk_secret'), 'nor a field named like a secret');
  t.equal(kept.kind, SUPPORT_BUNDLE_KIND);
  t.equal((kept.status as unknown as { since: number }).since, 1_796_357_806_429, 'a 13-digit timestamp is a number, not a card number');
  t.same((await admin(app, 'GET', '/v1/admin/stores/s1/terminals/t2/support-bundles')).body, { bundles: [] }, "another terminal's list is its own");

  // Refused, nothing kept.
  const deep: Record<string, unknown> = bundle();
  let at = deep;
  for (let i = 0; i < 200; i++) at = (at.x = {}) as Record<string, unknown>;
  const refusals: Array<[unknown, string]> = [
    [{ bundle: { kind: 'something-else' } }, 'VALIDATION_FAILED'],
    [{ bundle: [1, 2] }, 'VALIDATION_FAILED'],
    [{ bundle: '{"kind":"tillsync-support-bundle"}' }, 'VALIDATION_FAILED'],
    [{ bundle: deep }, 'NESTING_TOO_DEEP'],
    [{ bundle: bundle({ terminal: 't2' }) }, 'WRONG_TERMINAL'],
    [{ bundle: bundle({ store: 's2' }) }, 'WRONG_TERMINAL'],
    [{ bundle: bundle({ big: 'a few words '.repeat(MAX_BUNDLE_BYTES / 12 + 1) }) }, 'PAYLOAD_TOO_LARGE'],
    [{ bundle: bundle(), extra: 1 }, 'UNKNOWN_FIELD'],
    [{ bundle: 5 }, 'VALIDATION_FAILED'],
    [{ bundle: bundle({ cvv: '123' }) }, 'CVV_REJECTED'],
  ];
  for (const [payload, code] of refusals) {
    const r = await sendAs(a.tokens.t1!, payload);
    t.equal(body(r)?.error?.code, code, `${JSON.stringify(payload).slice(0, 60)} → ${code}`);
  }
  const anon = await app.inject({ method: 'POST', url: '/v1/support-bundles', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ bundle: bundle() }) });
  t.equal(body(anon).error.code, 'UNAUTHORIZED', 'no credential, no bundle');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/terminals/t1/support-bundles')).body.bundles.length, 1, 'nothing refused was kept');

  // The newest five stay.
  for (let i = 0; i < KEEP_PER_TERMINAL + 2; i++) t.equal((await sendAs(a.tokens.t1!, { bundle: bundle({ n: i }) })).statusCode, 201);
  const after = (await admin(app, 'GET', '/v1/admin/stores/s1/terminals/t1/support-bundles')).body.bundles as Array<{ id: string }>;
  t.equal(after.length, KEEP_PER_TERMINAL, 'at most five per terminal');
  t.notOk(after.some((b) => b.id === sent.id), 'the oldest went');
  const newest = await admin(app, 'GET', `/v1/admin/stores/s1/terminals/t1/support-bundles/${after[0]!.id}`);
  t.equal(JSON.parse(newest.res.payload).n, KEEP_PER_TERMINAL + 1, 'newest first');

  // Only the admin reads them; a terminal's own credential cannot.
  const asTerminal = await app.inject({ method: 'GET', url: '/v1/admin/stores/s1/terminals/t1/support-bundles', headers: { authorization: `Bearer ${a.tokens.t1}` } });
  t.equal(body(asTerminal).error.code, 'FORBIDDEN');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/terminals/t1/support-bundles/01J0000000000000000000ZZZZ')).body.error.code, 'NOT_FOUND');
  t.equal((await admin(app, 'GET', '/v1/admin/stores/s1/terminals/t1/support-bundles/..%2F..')).body.error.code, 'VALIDATION_FAILED');
});
