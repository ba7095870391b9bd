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
import { generateCatalog } from '../../src/fixtures/catalog.ts';
import { createRng } from '../../src/fixtures/prng.ts';
import { buildBacklog, type Backlog } from '../../src/loadtest/backlog.ts';
import { downloadFeed, emptyStats, uploadBacklog } from '../../src/loadtest/reconnect.ts';

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

interface Sim {
  t: StormJob['terminals'][number];
  backlog: Backlog;
  offsetMs: number;
}

function buildLogs(job: StormJob): Sim[] {
  const catalog = generateCatalog({ seed: job.seed, items: 500 });
  const rng = createRng(job.seed + 7);
  const now = Date.now();
  return job.terminals.map((t) => ({
    t,
    backlog: buildBacklog({ store: t.store, terminal: t.terminal, seed: job.seed * 31 + t.index, catalog, currency: 'USD', maxEvents: job.events, offlineMs: job.offlineMs, now }),
    offsetMs: Math.floor(rng.next() * job.windowMs),
  }));
}

/** How long one simulated terminal may take from its moment until done, before it gives up and reports why. */
const GIVE_UP_MS = 8 * 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOne(sim: Sim, at: number, out: StormDone): Promise<void> {
  const wait = at + sim.offsetMs - Date.now();
  if (wait > 0) await sleep(wait);
  const target = { baseUrl: sim.t.baseUrl, token: sim.t.token };
  const stats = emptyStats((ms) => out.uploadMs.push(ms));
  // A terminal that cannot finish says why (its last answers by code) instead of leaving the bench to time out.
  const deadline = at + sim.offsetMs + GIVE_UP_MS;
  try {
    await uploadBacklog(target, sim.backlog, stats, { deadline });
    await downloadFeed(target, stats, { deadline });
  } catch (err) {
    throw new Error(`${sim.t.store}/${sim.t.terminal} at ${sim.t.baseUrl}: ${err instanceof Error ? err.message : String(err)}; answers by code ${JSON.stringify(stats.errors)}`);
  }
  out.busy += stats.busy;
  out.failures += stats.retries - stats.busy;
  out.feedPages += stats.feedPages;
  out.doneMs.push(Date.now() - at);
  out.events += sim.backlog.events.length;
}

let sims: Sim[] = [];
process.on('message', (msg: { open?: StormJob; go?: { at: number }; stop?: boolean }) => {
  if (msg.open) {
    try {
      sims = buildLogs(msg.open);
      reply({ ready: true, events: sims.reduce((a, s) => a + s.backlog.events.length, 0) });
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
