/**
 * On connect, the cloud's high-water mark for this terminal against the local
 * log (issue 15, 1.1 and 1.2). The cloud knows the highest seq it stored for
 * the terminal and that event's hash (`GET /v1/sync-state`: ackSeq, ackHash).
 *
 * - The cloud holds more than the log (a data folder restored from a backup, a
 *   write-ahead-log tail lost with acknowledged sales), or another event at a
 *   seq both hold (a restored copy that sold again before it connected): the
 *   log refuses appends (LOG_BEHIND_CLOUD, or its LOG_CORRUPTED refusal learns
 *   what the cloud holds), and the upload direction stops with that code, so no
 *   seq the cloud already has is ever reused (no EVENT_CONFLICT storm). The way
 *   out is `tillsync recover --from-cloud`.
 * - A cloud at or behind the log's head with the same event there: nothing to
 *   say, the upload resumes as usual.
 */
import type { EventLog } from '../events/event-log.ts';
import { CloudError } from './cloud-error.ts';
import type { SyncState } from './protocol.ts';

export async function compareWithCloud(log: EventLog, state: Pick<SyncState, 'ackSeq' | 'ackHash'>): Promise<void> {
  const refusal = await log.noteCloudHead({ seq: state.ackSeq, hash: state.ackHash });
  if (!refusal) return;
  const head = log.head.seq;
  // A corrupted log whose surviving prefix the cloud lacks still uploads it: those sales are safer there.
  if (refusal.code === 'LOG_CORRUPTED' && state.ackSeq <= head) return;
  const holds = state.ackSeq > head ? `; the cloud still holds seqs ${head + 1}..${state.ackSeq}, which recover --from-cloud restores` : '';
  throw new CloudError(refusal.code, `${refusal.reason}${holds}`, { kind: 'refusal', details: { ...refusal.details, head, cloudAckSeq: state.ackSeq } });
}
