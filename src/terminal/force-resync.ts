/**
 * F9 — force full resync of local transactions.
 *
 * The dry run sends (seq, id, hash) of every retained event to the cloud's check
 * endpoint and reports how many the cloud has, lacks, or holds with different
 * content. The real run re-uploads the whole retained log from its first event;
 * the cloud skips what it already has (identical bytes → duplicate) and says so,
 * so the report is uploaded vs skipped (vs conflicts). Nothing is ever counted
 * twice: upload is idempotent by event id.
 *
 * The real run does not move the upload cursor backwards; it only reads the log.
 */
import type { EventLog } from '../events/event-log.ts';
import type { CloudTransport } from '../replication/transport.ts';

export interface ForceResyncDryRun {
  total: number;
  have: number;
  lack: number;
  different: number;
  differentSeqs: number[];
}

export interface ForceResyncReport {
  total: number;
  uploaded: number;
  skipped: number;
  quarantined: number;
  conflicts: number;
  conflictSeqs: number[];
  ackSeq: number;
}

const BATCH = 1000;
const BATCH_BYTES = 1024 * 1024;

export async function forceResyncDryRun(log: EventLog, transport: CloudTransport, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<ForceResyncDryRun> {
  const total = log.head.seq - log.base.seq;
  const out: ForceResyncDryRun = { total, have: 0, lack: 0, different: 0, differentSeqs: [] };
  let done = 0;
  for await (const page of log.read(log.base.seq + 1, { to: log.head.seq, pageSize: BATCH })) {
    const r = await transport.check(page.map((p) => ({ seq: p.seq, id: p.event.id, hash: p.hash })), signal ? { signal } : {});
    out.have += r.have;
    out.lack += r.lack;
    out.different += r.different;
    for (const s of r.differentSeqs) if (out.differentSeqs.length < 100) out.differentSeqs.push(s);
    done += page.length;
    onProgress?.(done, total);
  }
  return out;
}

export async function forceResync(log: EventLog, transport: CloudTransport, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<ForceResyncReport> {
  const total = log.head.seq - log.base.seq;
  const out: ForceResyncReport = { total, uploaded: 0, skipped: 0, quarantined: 0, conflicts: 0, conflictSeqs: [], ackSeq: 0 };
  let done = 0;
  let batch: Uint8Array[] = [];
  let bytes = 0;
  const send = async (): Promise<void> => {
    if (batch.length === 0) return;
    const r = await transport.upload(batch, signal ? { signal } : {});
    out.uploaded += r.accepted;
    out.skipped += r.duplicates;
    out.quarantined += r.quarantined;
    out.conflicts += r.conflicts.length;
    for (const c of r.conflicts) if (out.conflictSeqs.length < 100) out.conflictSeqs.push(c.seq);
    out.ackSeq = r.ackSeq;
    done += batch.length;
    onProgress?.(done, total);
    batch = [];
    bytes = 0;
  };
  for await (const page of log.read(log.base.seq + 1, { to: log.head.seq, pageSize: BATCH })) {
    for (const rec of page) {
      if (batch.length >= BATCH || bytes + rec.bytes.byteLength > BATCH_BYTES) await send();
      batch.push(rec.bytes);
      bytes += rec.bytes.byteLength;
    }
  }
  await send();
  return out;
}
