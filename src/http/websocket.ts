/**
 * WebSocket endpoints through fastify (@fastify/websocket), shared by the
 * cloud (/v1/stream, src/server/stream.ts) and the agent (/api/status/stream,
 * src/terminal/status-stream.ts).
 *
 * An upgrade is routed like any request: it passes the app's onRequest hooks
 * (the cloud's terminal auth, the agent's Host, Origin and caller checks), and
 * a hook's refusal is answered on the socket like any HTTP refusal, with the
 * error contract's body and status (the socket then closes). The endpoint is a
 * GET route with a `wsHandler` (the upgraded socket) and a `handler` (a plain
 * GET, answered with a clear VALIDATION_FAILED). `app.close()` closes every
 * open socket (the plugin's preClose; the apps' own preClose hooks, added
 * earlier, first close theirs with 1001 SHUTTING_DOWN).
 *
 * An upgrade to a route that is not a WebSocket endpoint (`config.websocket`
 * unset) is refused with NOT_FOUND before any other hook, as before the plugin;
 * it would otherwise be accepted and closed at once.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { TillsyncError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route is a WebSocket endpoint (it has a `wsHandler`). */
    websocket?: boolean;
  }
}

/** Registers the plugin (one ws server for the app); call before the hooks that must see upgrades. */
export function registerWebSocket(app: FastifyInstance, opts: { maxPayload: number }): void {
  void app.register(websocket, {
    options: { maxPayload: opts.maxPayload, perMessageDeflate: false },
    // A socket error (a client gone uncleanly) ends that socket; it is no server error.
    errorHandler: (_err, socket) => socket.terminate(),
  });
  app.addHook('onRequest', async (req) => {
    // IncomingMessage.upgrade: Node saw Connection: upgrade and handed the request to the 'upgrade' listener.
    if (isUpgrade(req.raw) && req.routeOptions.config.websocket !== true) throw new TillsyncError('NOT_FOUND', 'no WebSocket endpoint at this path');
  });
}

/** Node set `upgrade` on a request it handed to the server's 'upgrade' listener (not in @types/node 20). */
export function isUpgrade(raw: object): boolean {
  return (raw as { upgrade?: unknown }).upgrade === true;
}

/** The answer of a plain GET (no Upgrade header) of a WebSocket endpoint. */
export function notAnUpgrade(path: string): TillsyncError {
  return new TillsyncError('VALIDATION_FAILED', `${path} is a WebSocket endpoint: send an Upgrade request`);
}
