/**
 * A decode pool worker (decode-pool.ts): runs phase 1 of an upload
 * (`decodeUploadBody`) on the bodies it is sent and answers with the batch's
 * columns, or with the TillsyncError's code, message and details. Anything else
 * thrown is reported as `crash`, and the pool then decodes that body itself.
 */
import { parentPort } from 'node:worker_threads';
import { isTillsyncError } from '../errors.ts';
import { decodeUploadBody } from './upload.ts';
import type { UploadBatchData } from './upload-batch.ts';

export interface DecodeJob {
  id: number;
  body: Uint8Array;
  cred: { store: string; terminal: string };
}
export type DecodeAnswer =
  /** inBody: the batch's spans point into the body sent (its `data` is left out); else `data` holds the bytes. */
  | { id: number; batch: UploadBatchData; inBody: boolean }
  | { id: number; error: { code: string; message: string; details?: Record<string, unknown> } }
  | { id: number; crash: string };

const port = parentPort;
if (!port) throw new Error('decode-worker.ts runs in a worker thread (see decode-pool.ts)');

port.on('message', (job: DecodeJob) => {
  let answer: DecodeAnswer;
  let transfer: ArrayBuffer[] = [];
  try {
    const batch = decodeUploadBody(job.body, job.cred);
    // The bytes stay with the pool (its copy of the body): send the spans only.
    const inBody = batch.data === job.body;
    answer = { id: job.id, batch: inBody ? { ...batch, data: new Uint8Array(0) } : batch, inBody };
    transfer = [batch.seqs.buffer, batch.amounts.buffer, batch.spans.buffer, batch.hashBytes.buffer] as ArrayBuffer[];
  } catch (err) {
    answer = isTillsyncError(err)
      ? { id: job.id, error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }
      : { id: job.id, crash: err instanceof Error ? err.stack ?? err.message : String(err) };
  }
  try {
    port.postMessage(answer, transfer);
  } catch (err) {
    port.postMessage({ id: job.id, crash: `answer not sendable: ${err instanceof Error ? err.message : String(err)}` } satisfies DecodeAnswer);
  }
});
