/**
 * The terminal agent's Sync Manager API (F1, F2, F5–F10, F12). Every operation
 * the page and the CLI offer goes through here.
 *
 *   GET  /api/status                      AgentStatus (also pushed on /api/status/stream)
 *   GET  /api/errors                      error code → what to do (for the pages)
 *   POST /api/local-mode                  { on: boolean, hours?: number }
 *   POST /api/sync/up                     run an upload pass now
 *   POST /api/sync/down                   run a download pass now
 *   POST /api/resync/full                 { exportUnsynced?: true | exportUnsyncedTo?: path } (F7)
 *   GET  /api/exports                     the export folder's files, newest first (exports.ts)
 *   GET  /api/exports/:name               one of them, as a download
 *   POST /api/restore                     abort in-flight sync and restart both directions (F8)
 *   POST /api/resync/force                { dryRun: boolean } (F9)
 *   POST /api/cleanup                     { olderThanDays: number } (F10)
 *   POST /api/audit                       verify chain + rebuild and diff views (F12)
 *   GET  /api/replay?from=N               this terminal's events as JSON lines (F12)
 *   POST /api/credential                  { token } re-enrollment after a revocation
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ERRORS } from '../errors.ts';
import { parseWith } from '../events/validate.ts';
import { LOCAL_MODE_HOURS } from '../replication/local-mode.ts';
import { replayTerminal } from './audit.ts';
import { listExports, openExport } from './exports.ts';
import type { AgentOperations } from './agent-status.ts';
import { credentialToken } from './agent-config.ts';

const localModeBody = z.strictObject({ on: z.boolean(), hours: z.number().min(LOCAL_MODE_HOURS.min).max(LOCAL_MODE_HOURS.max).optional() });
const fullResyncBody = z.strictObject({ exportUnsyncedTo: z.string().min(1).max(1024).optional(), exportUnsynced: z.literal(true).optional() })
  .refine((b) => !(b.exportUnsynced && b.exportUnsyncedTo !== undefined), { params: { code: 'VALIDATION_FAILED' }, message: 'give exportUnsynced or exportUnsyncedTo, not both' });
const exportParam = z.strictObject({ name: z.string().max(100) });
const forceBody = z.strictObject({ dryRun: z.boolean() });
const cleanupBody = z.strictObject({ olderThanDays: z.number().nonnegative().max(3650) });
const replayQuery = z.strictObject({ from: z.string().regex(/^\d{1,15}$/).transform(Number).optional() });
const credentialBody = z.strictObject({ token: credentialToken });
const empty = z.strictObject({});

const bodyOf = (b: unknown): unknown => (b === undefined || b === null ? {} : b);

export function registerOpsRoutes(app: FastifyInstance, agent: AgentOperations): void {
  app.get('/api/status', async () => agent.status());
  // The pages show a refusal in plain words: code → what to do.
  app.get('/api/errors', async () => Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.hint])));
  app.post('/api/local-mode', async (req) => {
    const b = parseWith(localModeBody, bodyOf(req.body), 'body');
    await agent.setLocalMode(b.hours !== undefined ? { on: b.on, hours: b.hours } : { on: b.on });
    return agent.status();
  });
  app.post('/api/sync/up', async (req) => {
    parseWith(empty, bodyOf(req.body), 'body');
    return agent.syncUp();
  });
  app.post('/api/sync/down', async (req) => {
    parseWith(empty, bodyOf(req.body), 'body');
    return agent.syncDown();
  });
  app.post('/api/resync/full', async (req) => {
    const b = parseWith(fullResyncBody, bodyOf(req.body), 'body');
    return agent.fullResync(b.exportUnsynced ? { exportUnsynced: true } : b.exportUnsyncedTo !== undefined ? { exportUnsyncedTo: b.exportUnsyncedTo } : {});
  });
  app.get('/api/exports', async () => ({ exports: await listExports(agent.dataDir) }));
  app.get('/api/exports/:name', async (req, reply) => {
    const p = parseWith(exportParam, req.params, 'params');
    const file = await openExport(agent.dataDir, p.name);
    return reply.type('application/x-ndjson').header('content-disposition', `attachment; filename="${p.name}"`)
      .header('content-length', String(file.bytes)).send(file.stream);
  });
  app.post('/api/restore', async (req) => {
    parseWith(empty, bodyOf(req.body), 'body');
    await agent.restore();
    return agent.status();
  });
  app.post('/api/resync/force', async (req) => {
    const b = parseWith(forceBody, bodyOf(req.body), 'body');
    return agent.forceResync(b);
  });
  app.post('/api/cleanup', async (req) => {
    const b = parseWith(cleanupBody, bodyOf(req.body), 'body');
    return agent.cleanup(b);
  });
  app.post('/api/audit', async (req) => {
    parseWith(empty, bodyOf(req.body), 'body');
    return agent.audit();
  });
  app.get('/api/replay', async (req, reply) => {
    const q = parseWith(replayQuery, req.query, 'query');
    const lines: string[] = [];
    for await (const line of replayTerminal(agent.terminal.log, q.from ?? 1)) lines.push(line);
    return reply.type('application/x-ndjson').send(lines.length ? `${lines.join('\n')}\n` : '');
  });
  app.post('/api/credential', async (req) => {
    const b = parseWith(credentialBody, bodyOf(req.body), 'body');
    await agent.setCredential(b.token);
    return agent.status();
  });
}
