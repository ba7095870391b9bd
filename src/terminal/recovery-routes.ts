/**
 * The agent's recovery routes (issue 15, 1.1 / 1.2):
 *
 *   GET  /api/recovery            what is wrong: the log's refusal (lost seqs,
 *                                 the cloud's ackSeq once known), head, health
 *   POST /api/recover             { fromCloud: true } → RecoveryReport
 *
 * The recovery runs as a maintenance operation (one at a time, progress in the
 * status) with the sync worker stopped, and restarts it afterwards, so the
 * next handshake compares with the cloud again.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseWith } from '../events/validate.ts';
import type { TerminalAgent } from './agent.ts';
import { recoverFromCloud, type RecoveryReport } from './recovery.ts';

const recoverBody = z.strictObject({ fromCloud: z.literal(true) });

export async function recoverAgent(agent: TerminalAgent): Promise<RecoveryReport> {
  return agent.run('recover', async () => {
    await agent.worker.stop();
    try {
      return await recoverFromCloud({
        log: agent.terminal.log, views: agent.terminal.views, source: agent.transport, exportDir: agent.dataDir,
      });
    } finally {
      await agent.worker.start();
      await agent.worker.restart();
    }
  });
}

export function registerRecoveryRoutes(app: FastifyInstance, agent: TerminalAgent): void {
  app.get('/api/recovery', async () => {
    const log = agent.terminal.log;
    return { head: log.head.seq, health: log.health, refused: log.refused ?? null, droppedOnOpen: log.droppedOnOpen };
  });
  app.post('/api/recover', async (req) => {
    parseWith(recoverBody, req.body ?? {}, 'body');
    return recoverAgent(agent);
  });
}
