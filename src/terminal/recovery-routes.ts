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
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseWith } from '../events/validate.ts';
import type { TerminalAgent } from './agent.ts';
import { recoverFromCloud, type RecoveryReport } from './recovery.ts';
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

export async function recoverAgent(agent: TerminalAgent): Promise<RecoveryReport> {
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

export function registerRecoveryRoutes(app: FastifyInstance, agent: TerminalAgent): void {
  const recovery = () => {
    const log = agent.terminal.log;
    return { head: log.head.seq, health: log.health, refused: log.refused ?? null, droppedOnOpen: log.droppedOnOpen };
  };
  app.get('/api/recovery', async () => recovery());
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
  app.get('/api/support-bundle', async (_req, reply) => {
    const now = Date.now();
    const status = agent.status();
    return reply.type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="${supportBundleName(status.store, status.terminal, now)}"`)
      .send(JSON.stringify(await bundle(now), null, 2));
  });
  // The same bundle, sent to the cloud for support to read on the dashboard.
  app.post('/api/support-bundle/send', async (req) => {
    parseWith(emptyBody, req.body ?? {}, 'body');
    const sent = await agent.transport.sendSupportBundle(await bundle(Date.now()));
    return { sent: true, ...sent };
  });
  app.post('/api/recover', async (req) => {
    parseWith(recoverBody, req.body ?? {}, 'body');
    return recoverAgent(agent);
  });
}
