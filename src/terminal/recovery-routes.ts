/**
 * The agent's recovery routes (issue 15, 1.1 / 1.2):
 *
 *   GET  /api/recovery            what is wrong: the log's refusal (lost seqs,
 *                                 the cloud's ackSeq once known), head, health
 *   POST /api/recover             { fromCloud: true } → RecoveryReport
 *   GET  /api/support-bundle      the support bundle (support-bundle.ts), as a download
 *   POST /api/support-bundle/send the same, sent to the cloud (support reads it on the dashboard)
 *
 * The recovery runs as a maintenance operation (one at a time, progress in the
 * status) with the sync worker stopped, and restarts it afterwards, so the
 * next handshake compares with the cloud again.
 */
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EventLog } from '../events/event-log.ts';
import type { TerminalViews } from '../projections/terminal-views.ts';
import type { AgentStatus, OperationName } from './agent-status.ts';
import type { AuditEntry } from './audit-log.ts';
import { recoverFromCloud, type OwnEventsSource, type RecoveryReport } from './recovery.ts';
import type { SyncHistoryEntry } from './support-bundle.ts';
import { listExports } from './exports.ts';
import { supportBundle, supportBundleName } from './support-bundle.ts';

const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** The cloud's address without any user or password in it. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

const recoverBody = z.strictObject({ fromCloud: z.literal(true) });
const emptyBody = z.strictObject({});

/** What these routes need of the agent (TerminalAgent is one; no import of it, so no circle). */
export interface RecoveryHost {
  readonly terminal: { readonly log: EventLog; readonly views: TerminalViews };
  readonly worker: { stop(): Promise<void>; start(): Promise<void>; restart(): Promise<void> };
  readonly transport: OwnEventsSource & { sendSupportBundle(bundle: Record<string, unknown>): Promise<{ id: string; received: number; bytes: number }> };
  readonly dataDir: string;
  readonly logging: boolean;
  readonly syncHistory: { list(): SyncHistoryEntry[] };
  readonly recentLog: { list(): string[] };
  readonly auditLog: { read(limit?: number): Promise<AuditEntry[]> };
  status(): AgentStatus;
  run<T>(name: OperationName, task: () => Promise<T>): Promise<T>;
}

export async function recoverAgent(agent: RecoveryHost): Promise<RecoveryReport> {
  return agent.run('recover', async () => {
    await agent.worker.stop();
    try {
      return await recoverFromCloud({
        log: agent.terminal.log, views: agent.terminal.views, source: agent.transport, dataDir: agent.dataDir,
      });
    } finally {
      await agent.worker.start();
      await agent.worker.restart();
    }
  });
}

export const recoveryRoutes: FastifyPluginAsync<{ agent: RecoveryHost }> = async (plain, { agent }) => {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const recovery = () => {
    const log = agent.terminal.log;
    return { head: log.head.seq, health: log.health, refused: log.refused ?? null, droppedOnOpen: log.droppedOnOpen };
  };
  app.get('/api/recovery', { schema: { summary: 'The event log\'s health (what the recovery box shows)', tags: ['recovery'] } }, async () => recovery());
  const bundle = async (now: number) => {
    const status = agent.status();
    return supportBundle({
      generatedAt: now, version: VERSION, store: status.store, terminal: status.terminal, cloudUrl: safeUrl(status.cloudUrl),
      status: { ...status, cloudUrl: safeUrl(status.cloudUrl) }, recovery: recovery(), syncHistory: agent.syncHistory.list(),
      log: { enabled: agent.logging, lines: agent.recentLog.list() },
      auditLog: await agent.auditLog.read(100),
      exports: await listExports(agent.dataDir),
    });
  };
  app.get('/api/support-bundle', { schema: { summary: 'The support bundle, as a JSON attachment', tags: ['recovery'] } }, async (_req, reply) => {
    const now = Date.now();
    const status = agent.status();
    return reply.type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="${supportBundleName(status.store, status.terminal, now)}"`)
      .send(JSON.stringify(await bundle(now), null, 2));
  });
  // The same bundle, sent to the cloud for support to read on the dashboard.
  app.post('/api/support-bundle/send', { schema: { summary: 'Send the support bundle to the cloud', tags: ['recovery'], body: emptyBody } }, async () => {
    const sent = await agent.transport.sendSupportBundle(await bundle(Date.now()));
    return { sent: true, ...sent };
  });
  app.post('/api/recover', { schema: { summary: 'Recover the log from the cloud', tags: ['recovery'], body: recoverBody } }, async () => recoverAgent(agent));
};
