/**
 * Route schemas and the OpenAPI document, shared by the cloud (src/server/app.ts)
 * and the terminal agent (src/terminal/agent.ts).
 *
 * Routes declare their input as zod schemas in fastify's `schema` option
 * (`querystring`, `params`, `body`): the same zod schemas the code validates
 * with elsewhere (event-types.ts, sale-input.ts, admin-ops.ts, ...), never a
 * second copy in JSON Schema. fastify-type-provider-zod types the handlers
 * (`app.withTypeProvider<ZodTypeProvider>()`) and turns the schemas into JSON
 * Schema for @fastify/swagger, which builds the OpenAPI 3 document.
 *
 * Validation itself is `parseWith` (events/validate.ts), not fastify's: a bad
 * request is refused with the project's error contract, the same code and
 * shape as before (`VALIDATION_FAILED`, `UNKNOWN_FIELD`, ... with
 * `details.path` such as `query.limit`), never fastify's FST_ERR_VALIDATION
 * body. fastify keeps a TillsyncError returned by a validator as it is
 * (validation.js `wrapValidationError`), so the wire's error handler answers it.
 * Validation runs after the preValidation hooks (the card-data guard) and
 * before any handler: a refused request changes nothing.
 *
 * A missing or `null` body validates as `{}` (the routes always treated it so):
 * a body-less POST to a route whose body is all optional still passes.
 *
 * Every route of the JSON APIs carries a schema, at least a `summary`: the
 * OpenAPI tests compare the document with fastify's route list, and an
 * operation without a summary is a route someone added without a schema.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { parseWith } from '../events/validate.ts';

const PART_NAMES: Record<string, string> = { querystring: 'query', params: 'params', body: 'body', headers: 'headers' };

/** Schemas that only document a part a route parses itself (the raw upload body): not validated by fastify. */
const documentedOnly = new WeakSet<object>();

/** Marks `schema` as documentation only: the route validates that part itself (e.g. a raw msgpack body). */
export function docOnly<S extends z.ZodType>(schema: S): S {
  documentedOnly.add(schema);
  return schema;
}

const zodValidator: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  if (documentedOnly.has(schema)) return (data) => ({ value: data });
  const where = PART_NAMES[httpPart ?? ''] ?? httpPart ?? '';
  return (data) => {
    try {
      return { value: parseWith(schema, where === 'body' && (data === undefined || data === null) ? {} : data, where) };
    } catch (err) {
      return { error: err as Error };
    }
  };
};

export interface OpenApiOptions {
  /** Where the document is served (GET), e.g. `/v1/openapi.json`. */
  path: string;
  title: string;
  version: string;
  description: string;
  /** The routes of the API the document describes (pages and assets are left out). */
  include: (url: string) => boolean;
  /** Security requirement of every operation (the agent's: any caller); the cloud names it per route. */
  security?: Array<Record<string, string[]>>;
  /** Route config of the document's own route (the cloud's `auth`). */
  config?: Record<string, unknown>;
  /** Security schemes named in the document (no values: the document holds no secret). */
  securitySchemes?: Record<string, { type: 'http'; scheme: 'bearer'; description?: string } | { type: 'apiKey'; in: 'cookie'; name: string; description?: string }>;
}

/**
 * Zod validation for every route of `app`, and the OpenAPI 3 document of its
 * routes at `opts.path`. `declare` registers the app's hooks and routes: it
 * runs on `app` itself (not an encapsulated child: its hooks apply to every
 * route) once swagger is loaded, since swagger collects routes as they are
 * added and a route declared before it loads would be missing from the document.
 * Call before any route is declared; `declare`'s errors surface at `ready()`.
 */
export function registerRouteSchemas(app: FastifyInstance, opts: OpenApiOptions, declare: (app: FastifyInstance) => void): void {
  app.setValidatorCompiler(zodValidator);
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: opts.title, version: opts.version, description: opts.description },
      ...(opts.securitySchemes ? { components: { securitySchemes: opts.securitySchemes } } : {}),
      ...(opts.security ? { security: opts.security } : {}),
    },
    transform: (route) => (opts.include(route.url) ? jsonSchemaTransform(route) : { schema: { hide: true }, url: route.url }),
  });
  void app.register(fp(async (root: FastifyInstance) => {
    root.get(opts.path, {
      ...(opts.config ? { config: opts.config } : {}),
      schema: { summary: 'This OpenAPI 3 document', tags: ['meta'] },
    }, async (_req, reply) => reply.type('application/json; charset=utf-8').header('cache-control', 'no-store').send(JSON.stringify(root.swagger())));
    declare(root);
  }));
}
