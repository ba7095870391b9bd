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
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ERRORS } from '../errors.ts';
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

const S = <T extends object>(summary: string, parts: T = {} as T) => ({ summary, tags: ['sync-manager'], ...parts });

export const opsRoutes: FastifyPluginAsync<{ agent: AgentOperations }> = async (plain, { agent }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  app.get('/api/status', { schema: S('The agent\'s status (also pushed on /api/status/stream)') }, async () => agent.status());
  // The pages show a refusal in plain words: code → what to do.
  app.get('/api/errors', { schema: S('Error code → what to do') }, async () => Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.hint])));
  app.post('/api/local-mode', { schema: S('Turn local mode on (for some hours) or off', { body: localModeBody }) }, async (req) => {
    const b = req.body;
    await agent.setLocalMode(b.hours !== undefined ? { on: b.on, hours: b.hours } : { on: b.on });
    return agent.status();
  });
  app.post('/api/sync/up', { schema: S('Run an upload pass now', { body: empty }) }, async () => agent.syncUp());
  app.post('/api/sync/down', { schema: S('Run a download pass now', { body: empty }) }, async () => agent.syncDown());
  app.post('/api/resync/full', { schema: S('Full resync (F7)', { body: fullResyncBody }) }, async (req) => {
    const b = req.body;
    return agent.fullResync(b.exportUnsynced ? { exportUnsynced: true } : b.exportUnsyncedTo !== undefined ? { exportUnsyncedTo: b.exportUnsyncedTo } : {});
  });
  app.get('/api/exports', { schema: S('The export folder\'s files, newest first') }, async () => ({ exports: await listExports(agent.dataDir) }));
  app.get('/api/exports/:name', { schema: S('One export, as a download (JSON lines)', { params: exportParam }) }, async (req, reply) => {
    const p = req.params;
    const file = await openExport(agent.dataDir, p.name);
    return reply.type('application/x-ndjson').header('content-disposition', `attachment; filename="${p.name}"`)
      .header('content-length', String(file.bytes)).send(file.stream);
  });
  app.post('/api/restore', { schema: S('Abort in-flight sync and restart both directions (F8)', { body: empty }) }, async () => {
    await agent.restore();
    return agent.status();
  });
  app.post('/api/resync/force', { schema: S('Force resync, or its dry run (F9)', { body: forceBody }) }, async (req) => agent.forceResync(req.body));
  app.post('/api/cleanup', { schema: S('Remove acknowledged events older than some days (F10)', { body: cleanupBody }) }, async (req) => agent.cleanup(req.body));
  app.post('/api/audit', { schema: S('Verify the chain, rebuild and diff the views (F12)', { body: empty }) }, async () => agent.audit());
  app.get('/api/replay', { schema: S('This terminal\'s events as JSON lines (F12)', { querystring: replayQuery }) }, async (req, reply) => {
    const lines: string[] = [];
    for await (const line of replayTerminal(agent.terminal.log, req.query.from ?? 1)) lines.push(line);
    return reply.type('application/x-ndjson').send(lines.length ? `${lines.join('\n')}\n` : '');
  });
  app.post('/api/credential', { schema: S('Store a new cloud credential (re-enrolment)', { body: credentialBody }) }, async (req) => {
    await agent.setCredential(req.body.token);
    return agent.status();
  });
};
