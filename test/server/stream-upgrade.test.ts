/**
 * WebSocket upgrades through fastify (@fastify/websocket, http/websocket.ts),
 * on a real cloud on loopback: an upgrade passes the app's hooks (its answer
 * names its request id; a bad credential is closed with 4401 after the
 * handshake, as before), an upgrade of a path that is no WebSocket endpoint
 * is refused with NOT_FOUND in the contract's body, and `app.close()` closes
 * every open stream with 1001.
 */
import t from 'tap';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { WS_CLOSE } from '../../src/replication/protocol.ts';
import { streamHub } from '../../src/server/app.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { WAIT_MS, onceWithin } from '../helpers/wait.ts';
import { setupStore, startCloud } from './harness.ts';

const upgrade = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n`
  + `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

t.test('upgrades go through the app: refusals keep their codes, app.close() closes the streams', async (t) => {
  const { app } = await startCloud(t, { backend: 'memory' });
  const { tokens } = await setupStore(t, app, 's1', ['t1']);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;

  // Not a WebSocket endpoint, or no route at all: NOT_FOUND with the contract body, the socket not upgraded.
  for (const path of ['/healthz', '/v1/feed', '/nope']) {
    const res = (await rawRequest(port, upgrade(path, `Authorization: Bearer ${tokens.t1}\r\n`)))!;
    t.equal(res.status, 404, `upgrade of ${path}: 404`);
    t.equal(JSON.parse(res.body.toString()).error.code, 'NOT_FOUND', `upgrade of ${path}: NOT_FOUND`);
    t.ok(res.headers['x-request-id'], `upgrade of ${path}: answered by fastify (request id)`);
  }

  // A bad token: the handshake completes and the socket closes with 4401 (what the terminal's stream link reads).
  const bad = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { headers: { authorization: 'Bearer not-a-real-token' } });
  t.equal((await onceWithin<[number]>(bad, 'close', WAIT_MS, 'the refused stream to close'))[0], WS_CLOSE.unauthorized);

  // A good one is greeted; app.close() then closes it with 1001 and nothing stays open.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { headers: { authorization: `Bearer ${tokens.t1}` } });
  const hello = JSON.parse(String((await onceWithin<[WebSocket.RawData]>(ws, 'message', WAIT_MS, 'the hello'))[0]));
  t.equal(hello.type, 'hello');
  t.equal(streamHub(app)?.connections, 1);
  const closed = onceWithin<[number, Buffer]>(ws, 'close', WAIT_MS, 'the stream to close with the app');
  await app.close();
  const [code, reason] = await closed;
  t.equal(code, 1001, 'closed as going away');
  t.equal(reason.toString(), 'SHUTTING_DOWN');
  t.equal(streamHub(app)?.connections, 0);
  t.equal(app.websocketServer.clients.size, 0, 'no socket left open');
});
