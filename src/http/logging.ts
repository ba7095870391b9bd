/**
 * Logging of both HTTP sides: fastify's pino, one JSON line per event, each
 * with the request's id (`reqId`). The same id is answered in the
 * `x-request-id` header of every response and in the body of every 5xx
 * (`error.requestId`), so a user quoting an INTERNAL_ERROR finds its log lines.
 *
 * Ids are this process's random prefix and a counter: unique across restarts
 * and across cloud processes, cheap, and never taken from the request (a client
 * could otherwise forge another request's id into the log).
 *
 * What reaches the log is what the serializers below let through: method, the
 * path (withheld when it holds a card-number-like digit run: a hostile path is
 * still logged as a request), the peer address, and the status. No header is
 * logged, so no bearer token, cookie or PIN can be.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyServerOptions } from 'fastify';
import { holdsCardNumber } from '../events/card-data.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggingOptions {
  /** Default `info`. */
  level?: LogLevel;
  /** Where the lines go (default stdout): a test passes a stream to read them. */
  stream?: { write(line: string): void };
}

/** The level named by `LOG_LEVEL`, or `fallback`; an unknown name is refused with the known ones. */
export function logLevelFromEnv(fallback: LogLevel, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = env.LOG_LEVEL;
  if (v === undefined || v === '') return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(v)})`);
  return v as LogLevel;
}

const WITHHELD = '(path withheld: it held a card-number-like digit run)';

/** fastify options for a logging server named `name` ('cloud', 'terminal'); `false` logs nothing. */
export function serverLogging(name: string, opts: LoggingOptions | false): Pick<FastifyServerOptions, 'logger' | 'genReqId'> {
  const prefix = randomBytes(4).toString('hex');
  let n = 0;
  const genReqId = () => `${prefix}-${(++n).toString(36)}`;
  if (opts === false) return { logger: false, genReqId };
  return {
    genReqId, // fastify labels it reqId in every line
    logger: {
      level: opts.level ?? 'info',
      name,
      ...(opts.stream ? { stream: opts.stream } : {}),
      serializers: {
        req: (req) => ({
          method: req.method,
          url: holdsCardNumber(req.url) ? WITHHELD : req.url,
          remoteAddress: req.ip,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
