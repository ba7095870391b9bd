/**
 * What a terminal's sync worker does after a night offline, without its local
 * disk: POST its backlog in batches until the cloud has acknowledged all of it
 * (retrying CLOUD_BUSY after the answer's Retry-After with jitter, RATE_LIMITED
 * after a second, and a failed request with exponential backoff), then page the
 * store's feed until its cursor reaches the head. Shared by `tillsync loadtest`
 * and the storm benchmark.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { Backlog } from './backlog.ts';

export interface SimTarget {
  baseUrl: string;
  token: string;
}

/** What the requests met, accumulated over every simulated terminal. */
export interface ReconnectStats {
  /** Called with the latency of every upload answered 200, ms. */
  onUploadMs(ms: number): void;
  /** Events acknowledged so far (for progress). */
  acked: number;
  busy: number;
  /** Requests sent again after a failure (a CLOUD_BUSY counts here too). */
  retries: number;
  /** Every answer that was not a success, by error code (`NETWORK` for no answer, `HTTP_<status>` for no code). */
  errors: Record<string, number>;
  feedPages: number;
}

export function emptyStats(onUploadMs: (ms: number) => void = () => {}): ReconnectStats {
  return { onUploadMs, acked: 0, busy: 0, retries: 0, errors: {}, feedPages: 0 };
}

const MAX_BATCH = 1000;
const REQUEST_TIMEOUT_MS = 60_000;
const encoder = new Encoder();
const decoder = new Decoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function count(stats: ReconnectStats, code: string): void {
  stats.errors[code] = (stats.errors[code] ?? 0) + 1;
}

async function answerOf(res: Response): Promise<{ ackSeq?: number; error?: { code?: string } } | undefined> {
  try {
    const buf = new Uint8Array(await res.arrayBuffer());
    const ct = res.headers.get('content-type') ?? '';
    return (ct.startsWith('application/msgpack') ? decoder.decode(buf) : JSON.parse(new TextDecoder().decode(buf))) as { ackSeq?: number };
  } catch {
    return undefined;
  }
}

/** Uploads `backlog` until the cloud's ackSeq reaches its last seq; `deadline` (Date.now() ms) ends the attempt with an error. */
export async function uploadBacklog(target: SimTarget, backlog: Backlog, stats: ReconnectStats, opts: { deadline?: number; maxBatch?: number } = {}): Promise<void> {
  const auth = { authorization: `Bearer ${target.token}` };
  const last = backlog.firstSeq + backlog.events.length - 1;
  let acked = backlog.firstSeq - 1;
  let failures = 0;
  const backoff = async (): Promise<void> => {
    failures++;
    stats.retries++;
    await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random()));
  };
  while (acked < last) {
    if (opts.deadline !== undefined && Date.now() > opts.deadline) throw new Error(`not acknowledged by the deadline (at seq ${acked} of ${last})`);
    const from = acked + 1 - backlog.firstSeq;
    const batch = backlog.events.slice(from, from + (opts.maxBatch ?? MAX_BATCH));
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(`${target.baseUrl}/v1/events`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/msgpack', accept: 'application/msgpack' },
        body: encoder.encode({ v: 1, events: batch }).slice(),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch {
      count(stats, 'NETWORK');
      await backoff();
      continue;
    }
    const answer = await answerOf(res);
    if (res.status === 200 && typeof answer?.ackSeq === 'number') {
      stats.onUploadMs(performance.now() - t0);
      stats.acked += Math.max(0, Math.min(answer.ackSeq, last) - acked);
      acked = answer.ackSeq;
      failures = 0;
      continue;
    }
    const code = answer?.error?.code ?? `HTTP_${res.status}`;
    count(stats, code);
    if (code === 'CLOUD_BUSY') {
      stats.busy++;
      stats.retries++;
      const after = Number(res.headers.get('retry-after') ?? '1');
      await sleep((Number.isFinite(after) ? after : 1) * 1000 * (0.5 + Math.random()));
    } else if (code === 'RATE_LIMITED') {
      stats.retries++;
      await sleep(1000);
    } else if (res.status === 401 || res.status === 403) {
      throw new Error(`the cloud refused the terminal: ${code}`);
    } else {
      await backoff();
    }
  }
}

/** Pages GET /v1/feed from 0 until the cursor reaches the head the cloud answers. */
export async function downloadFeed(target: SimTarget, stats: ReconnectStats, opts: { deadline?: number } = {}): Promise<void> {
  const auth = { authorization: `Bearer ${target.token}` };
  let since = 0;
  let head: number | undefined;
  let failures = 0;
  for (;;) {
    if (opts.deadline !== undefined && Date.now() > opts.deadline) throw new Error(`feed not downloaded by the deadline (at ${since} of head ${head ?? 'unknown'})`);
    let page: { cursor: number; head: number };
    try {
      const res = await fetch(`${target.baseUrl}/v1/feed?since=${since}&limit=1000`, { headers: { ...auth, accept: 'application/msgpack' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const buf = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) {
        count(stats, `HTTP_${res.status}`);
        throw new Error(`feed: ${res.status}`);
      }
      page = decoder.decode(buf) as typeof page;
    } catch {
      failures++;
      stats.retries++;
      await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random()));
      continue;
    }
    stats.feedPages++;
    since = page.cursor;
    head = page.head;
    if (since >= page.head) return;
  }
}
