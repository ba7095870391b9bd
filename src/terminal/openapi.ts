/**
 * What the agent's OpenAPI document says of itself (served at GET /api/openapi.json,
 * built from the route schemas by http/route-schemas.ts).
 *
 * Like every /api route it is behind the agent's Host and Origin checks and
 * needs a caller (any signed-in role: it describes, it does nothing). It is
 * built from route schemas only: no token, PIN, staff name or data of the till.
 */
import type { OpenApiOptions } from '../http/route-schemas.ts';
import { PROTOCOL_VERSION } from '../replication/protocol.ts';

export const AGENT_OPENAPI_PATH = '/api/openapi.json';

export const AGENT_OPENAPI: OpenApiOptions = {
  path: AGENT_OPENAPI_PATH,
  title: 'tillsync terminal agent',
  version: String(PROTOCOL_VERSION),
  description: 'The terminal agent\'s local API for POS front ends and the Sync Manager. JSON in, JSON out. Every /api route needs '
    + 'a caller (the pairing token or a front-end token as a bearer token, or a staff session cookie; POST /api/session signs in) '
    + 'and its role (permissions.ts). Every error is `{ error: { code, message, details? } }` with a stable code; a request that '
    + 'breaks a schema is refused with VALIDATION_FAILED (UNKNOWN_FIELD for an unknown field) and changes nothing.',
  security: [{ bearer: [] }, { session: [] }],
  include: (url) => url.startsWith('/api/'),
  securitySchemes: {
    bearer: { type: 'http', scheme: 'bearer', description: 'The pairing token file\'s content, or a front-end token.' },
    session: { type: 'apiKey', in: 'cookie', name: 'tillsync_session_<port>', description: 'A staff session (POST /api/session).' },
  },
};
