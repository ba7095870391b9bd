/**
 * The agent's status stream through fastify (@fastify/websocket), on a real
 * agent (a real cloud on loopback behind it): the upgrade passes the agent's
 * hooks (a refusal is the contract's answer with its code; agent-access.test.ts
 * covers Host, Origin and the caller), a plain GET and an upgrade of another
 * route are refused with their codes, and stopping the agent closes the stream.
 */
import t from 'tap';
import WebSocket from 'ws';
import { rawRequest } from '../helpers/raw-http.ts';
import { WAIT_MS, onceWithin } from '../helpers/wait.ts';
import { api, pairingToken, smallEnvironment } from '../helpers/env.ts';

type Failure = { error: { code: string } };

t.test('the status stream is a fastify route, and closes with the agent', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const token = pairingToken(agent);
  const host = `127.0.0.1:${agent.port}`;

  t.equal((await api<Failure>(agent, 'GET', '/api/status/stream')).body.error.code, 'VALIDATION_FAILED', 'a plain GET: send an Upgrade');
  const other = (await rawRequest(agent.port, `GET /api/status HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n`
    + 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'))!;
  t.equal(other.status, 404);
  t.equal(JSON.parse(other.body.toString()).error.code, 'NOT_FOUND', 'an upgrade of a route that is no WebSocket endpoint');
  t.equal(other.headers['x-frame-options'], 'DENY', 'answered through the agent\'s hooks');

  const ws = new WebSocket(`ws://${host}/api/status/stream`, { headers: { authorization: `Bearer ${token}` } });
  const first = JSON.parse(String((await onceWithin<[WebSocket.RawData]>(ws, 'message', WAIT_MS, 'the first status'))[0]));
  t.equal(first.type, 'status');
  t.equal(first.status.terminal, 'till-1');
  t.equal(agent.app.websocketServer.clients.size, 1);
  const closed = onceWithin<[number]>(ws, 'close', WAIT_MS, 'the stream to close with the agent');
  await agent.stop();
  await closed;
  t.equal(agent.app.websocketServer.clients.size, 0, 'no socket left open');
});
