/**
 * Child process for bench/storm.ts: many simulated terminals in one process.
 *
 * A simulated terminal holds its log in memory: the events of one shift of a
 * small shop (sales from the fixtures, as a terminal logs them: canonical
 * bytes, hash chain), built here before the clock starts. When its moment
 * comes (a seeded offset within the reconnect window) it does what a
 * terminal's sync worker does after a night offline, without the worker's
 * local disk: POSTs its events in batches of up to 1000 (one request for a
 * shift of ~200), retrying on CLOUD_BUSY after the answer's Retry-After (with
 * jitter) and on a failed request with backoff, then pages the store's feed
 * (GET /v1/feed) until its cursor reaches the head the cloud answers. It is
 * done when both are.
 *
 * Messages: `{ open: StormJob }` builds the logs, answers `{ ready: true }`;
 * `{ go: { at } }` (at = Date.now() of the window's start) runs them all,
 * answers `{ done: StormDone }`; `{ stop: true }` exits.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { monotonicFactory } from 'ulid';
import { encodeCanonical, GENESIS_HASH, sha256Hex } from '../../src/events/codec.ts';
import { EVENT_SCHEMA_VERSION, type EventDraft } from '../../src/events/event-types.ts';
import { createRng } from '../../src/fixtures/prng.ts';
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { generateSales, saleToDrafts } from '../../src/fixtures/sales.ts';

export interface StormJob {
  seed: number;
  /** Events per terminal (a shift; sales are whole, so a little more). */
  events: number;
  /** Reconnect window, ms: each terminal starts at a seeded offset within it. */
  windowMs: number;
  /** Over 8 offline hours: event times spread over this much before the window. */
  offlineMs: number;
  terminals: Array<{ store: string; terminal: string; token: string; baseUrl: string; index: number }>;
}
export interface StormDone {
  events: number;
  /** Per terminal: ms from the window's start until acknowledged and downloaded. */
  doneMs: number[];
  /** Latency of every upload request answered 200, ms. */
  uploadMs: number[];
  busy: number;
  failures: number;
  feedPages: number;
}

if (!process.send) {
  console.error('storm-terminal.ts must be forked with an IPC channel');
  process.exit(2);
}
const reply = (m: unknown): void => void process.send!(m);
const MAX_BATCH = 1000;
const encoder = new Encoder();
const decoder = new Decoder();

interface Sim {
  t: StormJob['terminals'][number];
  events: Uint8Array[];
  offsetMs: number;
}

function buildLogs(job: StormJob): Sim[] {
  const catalog = generateCatalog({ seed: job.seed, items: 500 });
  const rng = createRng(job.seed + 7);
  const base = Date.now() - job.offlineMs;
  return job.terminals.map((t) => {
    const ulid = monotonicFactory();
    const sales = generateSales({ seed: job.seed * 31 + t.index, catalog, count: Number.MAX_SAFE_INTEGER });
    const drafts: EventDraft[] = [];
    for (const sale of sales) {
      if (drafts.length >= job.events) break;
      drafts.push(...saleToDrafts(sale, ulid(base + Math.floor((drafts.length / job.events) * job.offlineMs)), { currency: 'USD' }));
    }
    let prev = GENESIS_HASH;
    const events = drafts.map((d, i) => {
      const time = base + Math.floor((i / drafts.length) * job.offlineMs);
      const bytes = encodeCanonical({ id: d.id ?? ulid(time), type: d.type, v: EVENT_SCHEMA_VERSION, store: t.store, terminal: t.terminal, seq: i + 1, time, prev, body: d.body });
      prev = sha256Hex(bytes);
      return bytes;
    });
    return { t, events, offsetMs: Math.floor(rng.next() * job.windowMs) };
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOne(sim: Sim, at: number, out: StormDone): Promise<void> {
  const wait = at + sim.offsetMs - Date.now();
  if (wait > 0) await sleep(wait);
  const auth = { authorization: `Bearer ${sim.t.token}` };
  let acked = 0;
  let failures = 0;
  const backoff = async (): Promise<void> => {
    failures++;
    out.failures++;
    await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random()));
  };
  while (acked < sim.events.length) {
    const batch = sim.events.slice(acked, acked + MAX_BATCH);
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(`${sim.t.baseUrl}/v1/events`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/msgpack', accept: 'application/msgpack' },
        body: encoder.encode({ v: 1, events: batch }).slice(),
        signal: AbortSignal.timeout(60_000),
      });
    } catch {
      await backoff();
      continue;
    }
    let answer: { ackSeq?: number; error?: { code?: string } } | undefined;
    try {
      const buf = new Uint8Array(await res.arrayBuffer());
      answer = (res.headers.get('content-type') ?? '').startsWith('application/msgpack') ? (decoder.decode(buf) as typeof answer) : JSON.parse(new TextDecoder().decode(buf));
    } catch {
      answer = undefined;
    }
    if (res.status === 200 && typeof answer?.ackSeq === 'number') {
      out.uploadMs.push(performance.now() - t0);
      acked = answer.ackSeq;
      failures = 0;
      continue;
    }
    const code = answer?.error?.code;
    if (code === 'CLOUD_BUSY') {
      out.busy++;
      const after = Number(res.headers.get('retry-after') ?? '1');
      await sleep((Number.isFinite(after) ? after : 1) * 1000 * (0.5 + Math.random()));
      continue;
    }
    if (code === 'RATE_LIMITED') {
      await sleep(1000);
      continue;
    }
    await backoff();
  }
  let since = 0;
  for (;;) {
    let page: { cursor: number; head: number; changes: unknown[] };
    try {
      const res = await fetch(`${sim.t.baseUrl}/v1/feed?since=${since}&limit=1000`, { headers: { ...auth, accept: 'application/msgpack' }, signal: AbortSignal.timeout(60_000) });
      const buf = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`feed: ${res.status}`);
      page = decoder.decode(buf) as typeof page;
    } catch {
      await backoff();
      continue;
    }
    out.feedPages++;
    since = page.cursor;
    if (since >= page.head) break;
  }
  out.doneMs.push(Date.now() - at);
  out.events += sim.events.length;
}

let sims: Sim[] = [];
process.on('message', (msg: { open?: StormJob; go?: { at: number }; stop?: boolean }) => {
  if (msg.open) {
    try {
      sims = buildLogs(msg.open);
      reply({ ready: true, events: sims.reduce((a, s) => a + s.events.length, 0) });
    } catch (err) {
      reply({ error: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
  } else if (msg.go) {
    const out: StormDone = { events: 0, doneMs: [], uploadMs: [], busy: 0, failures: 0, feedPages: 0 };
    Promise.all(sims.map((s) => runOne(s, msg.go!.at, out))).then(
      () => reply({ done: out }),
      (err: unknown) => reply({ error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  } else if (msg.stop) {
    process.exit(0);
  }
});
