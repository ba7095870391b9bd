/**
 * What the cloud's OpenAPI document says of itself (served at GET /v1/openapi.json,
 * built from the route schemas by http/route-schemas.ts).
 *
 * The document is open, like /healthz: it describes shapes the README already
 * publishes, and nothing of a deployment. It is built from route schemas only,
 * so it holds no token, no store or terminal name, no host or setting; the
 * security schemes name how to authenticate, never a credential. A client
 * (a terminal integrator, a generated SDK) can read it before it has one.
 */
import type { OpenApiOptions } from '../http/route-schemas.ts';
import { PROTOCOL_VERSION } from '../replication/protocol.ts';

export const OPENAPI_PATH = '/v1/openapi.json';

/** Security requirement of routes guarded by a terminal credential. */
export const TERMINAL_SECURITY = [{ terminal: [] }];
/** Security requirement of admin routes: the admin token, or a dashboard session. */
export const ADMIN_SECURITY = [{ admin: [] }, { dashboardSession: [] }];

export const CLOUD_OPENAPI: OpenApiOptions = {
  path: OPENAPI_PATH,
  title: 'tillsync cloud',
  version: String(PROTOCOL_VERSION),
  description: 'The cloud\'s HTTP API. Every answer is JSON, or msgpack when the request body was msgpack or its Accept header '
    + 'prefers application/msgpack. Every error is `{ error: { code, message, details? } }` with a stable code (README, Errors); '
    + 'a request that breaks a schema is refused with VALIDATION_FAILED (UNKNOWN_FIELD for an unknown field) and changes nothing.',
  include: (url) => url.startsWith('/v1/') || url === '/healthz' || url === '/metrics',
  config: { auth: 'none' },
  securitySchemes: {
    terminal: { type: 'http', scheme: 'bearer', description: 'A terminal credential (tsk_…), bound to one store and terminal.' },
    admin: { type: 'http', scheme: 'bearer', description: 'The admin token the cloud was started with.' },
    dashboardSession: { type: 'apiKey', in: 'cookie', name: 'tillsync_admin', description: 'A dashboard session (POST /dashboard/session).' },
  },
};
