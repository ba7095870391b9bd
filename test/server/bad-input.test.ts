// Bad input at every entry point: 4xx with a stable code, nothing stored, never a 5xx, server keeps serving.
import t from 'tap';
import { encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { encodeCanonical } from '../../src/events/codec.ts';
import type { SaleCompleted } from '../../src/events/event-types.ts';
import { LIMITS, WS_CLOSE } from '../../src/replication/protocol.ts';
import { onceWithin, WAIT_MS } from '../helpers/wait.ts';
import { admin, body, get, MSGPACK, sale, setupStore, startCloud, terminalLog, upload } from './harness.ts';
import type { Cloud } from './harness.ts';

async function snapshot(cloud: Cloud) {
  const s = cloud.storage;
  return {
    hw: [await s.getHighWater('s1', 't1'), await s.getHighWater('s1', 't2')],
    counters: await s.getCounters('s1'),
    events: (await s.readEvents('s1', 't1', 1, 100)).map((e) => e.hash),
    feed: (await s.readFeed('s1', 0, 5000)).length,
    stores: (await s.listStores()).map((x) => x.id),
    terminals: (await s.listTerminals('s1')).map((x) => x.id),
    items: await s.getItems('s1', ['i1', 'i2']),
    quarantine: await s.listQuarantine('s1', 100),
  };
}

function nested(depth: number): Uint8Array {
  const b = new Uint8Array(depth + 1).fill(0x91);
  b[depth] = 0xc0;
  return b;
}

t.test('upload endpoint', async (t) => {
  const cloud = await startCloud(t);
  const { app } = cloud;
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const [good] = await log.append([sale()]);
  const before = await snapshot(cloud);
  const auth = { authorization: `Bearer ${tokens.t1}` };
  const post = (payload: string | Buffer | Uint8Array, contentType = MSGPACK) =>
    app.inject({ method: 'POST', url: '/v1/events', headers: { ...auth, 'content-type': contentType }, payload: Buffer.from(payload) });
  const protoMap = Buffer.concat([Buffer.from([0x82, 0xa1, 0x76, 0x01, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x01])]);
  const ev = good!.event as SaleCompleted;
  const cases: Array<[string, () => Promise<{ statusCode: number; payload: string; rawPayload: Buffer; headers: Record<string, unknown> }>, string]> = [
    ['malformed msgpack', () => post(Buffer.from([0xc1, 0x00])), 'MSGPACK_MALFORMED'],
    ['truncated msgpack', () => post(Buffer.from(encode({ v: 1, events: [good!.bytes] })).subarray(0, 20)), 'MSGPACK_MALFORMED'],
    ['events not an array', () => post(encode({ v: 1, events: 'x' })), 'VALIDATION_FAILED'],
    ['version as string (no coercion)', () => post(encode({ v: '1', events: [] })), 'VALIDATION_FAILED'],
    ['unknown top-level field', () => post(encode({ v: 1, events: [], extra: true })), 'UNKNOWN_FIELD'],
    ['event is not bytes in msgpack', () => post(encode({ v: 1, events: [ev] })), 'VALIDATION_FAILED'],
    ['event bytes are garbage', () => post(encode({ v: 1, events: [new Uint8Array([0xc1])] })), 'MSGPACK_MALFORMED'],
    ['unknown field inside an event', () => post(encode({ v: 1, events: [encodeCanonical({ ...ev, extra: 1 })] })), 'UNKNOWN_FIELD'],
    ['money as float', () => post(encode({ v: 1, events: [encodeCanonical({ ...ev, body: { ...ev.body, total: 5.5 } })] })), 'MONEY_NOT_INTEGER'],
    ['card number in an event', () => post(encode({ v: 1, events: [encodeCanonical({ ...ev, body: { ...ev.body, lines: [{ ...ev.body.lines[0]!, name: '4111 1111 1111 1111' }] } })] })), 'FULL_CARD_NUMBER'],
    ['deep nesting msgpack', () => post(nested(5000)), 'NESTING_TOO_DEEP'],
    ['deep nesting inside an event', () => post(encode({ v: 1, events: [nested(100)] })), 'NESTING_TOO_DEEP'],
    ['__proto__ key msgpack', () => post(protoMap), 'FORBIDDEN_KEY'],
    ['__proto__ key JSON', () => post('{"v":1,"events":[],"__proto__":{"x":1}}', 'application/json'), 'FORBIDDEN_KEY'],
    ['constructor key JSON', () => post('{"v":1,"events":[{"constructor":{}}]}', 'application/json'), 'FORBIDDEN_KEY'],
    ['deep nesting JSON', () => post(`{"v":1,"events":${'['.repeat(100000)}${']'.repeat(100000)}}`, 'application/json'), 'NESTING_TOO_DEEP'],
    ['malformed JSON', () => post('{"v":1,', 'application/json'), 'JSON_MALFORMED'],
    ['empty JSON body', () => post('', 'application/json'), 'JSON_MALFORMED'],
    ['wrong content type', () => post('v=1', 'text/plain'), 'UNSUPPORTED_MEDIA_TYPE'],
    ['oversized body', () => post(Buffer.alloc(LIMITS.maxBodyBytes + 10, 0x90)), 'PAYLOAD_TOO_LARGE'],
    ['oversized event', () => post(encode({ v: 1, events: [new Uint8Array(LIMITS.maxEventBytes + 1)] })), 'PAYLOAD_TOO_LARGE'],
    ['too many events', () => post(encode({ v: 1, events: Array.from({ length: LIMITS.maxBatchEvents + 1 }, () => good!.bytes) })), 'BATCH_TOO_LARGE'],
    ['JSON event with wrong types', () => post(JSON.stringify({ v: 1, events: [{ ...ev, seq: '1' }] }), 'application/json'), 'VALIDATION_FAILED'],
    ['no body at all', () => app.inject({ method: 'POST', url: '/v1/events', headers: auth }), 'VALIDATION_FAILED'],
  ];
  for (const [name, run, code] of cases) {
    const res = await run();
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: 4xx (got ${res.statusCode})`);
    const b = String(res.headers['content-type']).startsWith(MSGPACK) ? body(res as never) : JSON.parse(res.payload);
    t.equal(b?.error?.code, code, name);
  }
  t.same(await snapshot(cloud), before, 'nothing stored');
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still serving');
  t.equal((await upload(app, tokens.t1!, [good!])).body.accepted, 1, 'a good batch still goes in');
});

t.test('queries, params and admin bodies', async (t) => {
  const cloud = await startCloud(t);
  const { app } = cloud;
  const { tokens } = await setupStore(t, app);
  const before = await snapshot(cloud);
  const term = (url: string) => get(app, tokens.t1!, url);
  const cases: Array<[string, () => Promise<{ status: number; body: any }>, string]> = [
    ['since not a number', () => term('/v1/feed?since=abc'), 'VALIDATION_FAILED'],
    ['since repeated', () => term('/v1/feed?since=1&since=2'), 'VALIDATION_FAILED'],
    ['unknown query field', () => term('/v1/feed?since=1&x=1'), 'UNKNOWN_FIELD'],
    ['negative since', () => term('/v1/feed?since=-1'), 'VALIDATION_FAILED'],
    ['unknown route', () => term('/v1/nope'), 'NOT_FOUND'],
    ['plain GET of the stream', () => term('/v1/stream'), 'VALIDATION_FAILED'],
    ['store currency lowercase', () => admin(app, 'POST', '/v1/admin/stores', { id: 's9', name: 'x', currency: 'eur' }), 'VALIDATION_FAILED'],
    ['store unknown field', () => admin(app, 'POST', '/v1/admin/stores', { id: 's9', name: 'x', currency: 'EUR', owner: 'me' }), 'UNKNOWN_FIELD'],
    ['store cap as string', () => admin(app, 'POST', '/v1/admin/stores', { id: 's9', name: 'x', currency: 'EUR', offlineCap: '100' }), 'VALIDATION_FAILED'],
    ['testStore false', () => admin(app, 'POST', '/v1/admin/stores', { id: 's9', name: 'x', currency: 'EUR', testStore: false }), 'VALIDATION_FAILED'],
    ['testStore as string', () => admin(app, 'POST', '/v1/admin/stores', { id: 's9', name: 'x', currency: 'EUR', testStore: 'true' }), 'VALIDATION_FAILED'],
    ['testStore set later', () => admin(app, 'PATCH', '/v1/admin/stores/s1/settings', { testStore: true }), 'UNKNOWN_FIELD'],
    ['store name with a card number', () => admin(app, 'POST', '/v1/admin/stores', { id: 's9', name: 'x 4111 1111 1111 1111', currency: 'EUR', testStore: true }), 'FULL_CARD_NUMBER'],
    ['store id __proto__', () => admin(app, 'POST', '/v1/admin/stores', { id: '__proto__', name: 'x', currency: 'EUR', testStore: true }), 'VALIDATION_FAILED'],
    ['metrics with a query', () => admin(app, 'GET', '/metrics?store=s1'), 'UNKNOWN_FIELD'],
    ['store id with slash', () => admin(app, 'POST', '/v1/admin/stores', { id: 'a/b', name: 'x', currency: 'EUR' }), 'VALIDATION_FAILED'],
    ['existing store', () => admin(app, 'POST', '/v1/admin/stores', { id: 's1', name: 'x', currency: 'EUR' }), 'ALREADY_EXISTS'],
    ['terminal of unknown store', () => admin(app, 'POST', '/v1/admin/stores/zz/terminals', { id: 't9' }), 'STORE_NOT_FOUND'],
    ['existing terminal', () => admin(app, 'POST', '/v1/admin/stores/s1/terminals', { id: 't1' }), 'ALREADY_EXISTS'],
    ['revoke unknown terminal', () => admin(app, 'POST', '/v1/admin/stores/s1/terminals/t9/revoke'), 'TERMINAL_NOT_FOUND'],
    ['voucher amount float', () => admin(app, 'POST', '/v1/admin/stores/s1/vouchers', { code: 'GIFT-2', amount: 1.5 }), 'MONEY_NOT_INTEGER'],
    ['voucher exists', () => admin(app, 'POST', '/v1/admin/stores/s1/vouchers', { code: 'GIFT-1', amount: 100 }), 'ALREADY_EXISTS'],
    ['resolve unknown exception', () => admin(app, 'POST', '/v1/admin/stores/s1/exceptions/exc-99/resolve', {}), 'EXCEPTION_NOT_FOUND'],
    ['bad exception id', () => admin(app, 'POST', '/v1/admin/stores/s1/exceptions/__proto__/resolve', {}), 'VALIDATION_FAILED'],
    ['events without terminal', () => admin(app, 'GET', '/v1/admin/stores/s1/events'), 'VALIDATION_FAILED'],
    ['settings bad policy', () => admin(app, 'PATCH', '/v1/admin/stores/s1/settings', { offlineStoredValue: 'sometimes' }), 'VALIDATION_FAILED'],
    ['import not an array', () => admin(app, 'POST', '/v1/admin/stores/s1/items', { id: 'i2' }), 'VALIDATION_FAILED'],
    ['import __proto__', () => admin(app, 'POST', '/v1/admin/stores/s1/items', '[{"__proto__":{"admin":true}}]'), 'FORBIDDEN_KEY'],
  ];
  for (const [name, run, code] of cases) {
    const res = await run();
    t.ok(res.status >= 400 && res.status < 500, `${name}: 4xx (got ${res.status})`);
    t.equal(res.body?.error?.code, code, name);
  }
  t.same(await snapshot(cloud), before, 'nothing changed');
});

t.test('WebSocket: oversized frame and client frames are refused, server keeps serving', async (t) => {
  const cloud = await startCloud(t);
  const { app } = cloud;
  const { tokens } = await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const open = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { headers: { authorization: `Bearer ${tokens.t1}` } });
    const first = onceWithin<[WebSocket.RawData]>(ws, 'message', WAIT_MS, 'the hello');
    first.catch(() => undefined); // awaited below; a failed open is the error to report
    await onceWithin(ws, 'open', WAIT_MS, 'the socket to open');
    t.equal((JSON.parse(String((await first)[0])) as { type: string }).type, 'hello');
    return ws;
  };
  const closed = async (ws: WebSocket) => (await onceWithin<[number]>(ws, 'close', WAIT_MS, 'the server to close the socket'))[0];

  const big = await open();
  const bigClosed = closed(big);
  big.send(Buffer.alloc(LIMITS.maxFrameBytes + 1));
  t.equal(await bigClosed, WS_CLOSE.tooLarge, 'oversized frame closes with 1009');

  const chatty = await open();
  const chattyClosed = closed(chatty);
  chatty.send('{"type":"hello"}');
  t.equal(await chattyClosed, WS_CLOSE.badFrame, 'client frames are a protocol error');

  const bad = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { headers: { authorization: 'Bearer not-a-real-token' } });
  t.equal(await closed(bad), WS_CLOSE.unauthorized, 'unknown token closes with 4401');

  const raw = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(raw.status, 200, 'still serving');
  t.equal((await open()).readyState, WebSocket.OPEN, 'still accepting sockets');
});
