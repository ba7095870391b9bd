/**
 * Child process for bench/sync.ts: the terminal side of a sync-up, so its CPU
 * and peak RSS are its own. One process hosts one or many terminals.
 *
 *   fork('dist/bench/tools/sync-terminal.js', []) (compiled by scripts/build.ts; or the .ts with --import tsx)
 *
 * Messages from the parent:
 *   { open: TerminalJob }  opens every terminal's data folder; answers { ready: true }
 *   { go: true }           starts them all at once; answers { done: { ms, events } }
 *                          when every cursor is acknowledged (or { error }). The
 *                          bench times the sync itself, from telling every
 *                          terminal process to go until the last one is done.
 *   { stop: true }         closes everything and exits
 *
 * mode `worker`: the real thing. `Terminal.open` + `SyncWorker` + `HttpTransport`
 *   with default options (batches of 1000 events / 1 MiB, 4 in flight, WebSocket
 *   stream on). Time = from `worker.start()` until every worker's `uploaded`
 *   (the cursor, on disk) equals its log's head.
 * mode `raw`: the baseline sender. Reads the same log folders raw (no decode,
 *   no hash), cuts the same batches (1000 events, at most 1 MiB), and POSTs
 *   `{ v: 1, events: [bin...] }` to the raw cloud's /raw/events, 4 in flight
 *   per terminal.
 */
import { Encoder } from '@msgpack/msgpack';
import { BIG_READS, openLevel, type LevelDb, type Sublevel } from '../../src/events/level-util.ts';
import { HttpTransport } from '../../src/replication/http-transport.ts';
import { SyncWorker } from '../../src/replication/sync-worker.ts';
import { Terminal } from '../../src/terminal/terminal.ts';

export interface TerminalJob {
  mode: 'worker' | 'raw';
  baseUrl: string;
  terminals: Array<{ dir: string; store: string; terminal: string; token: string }>;
}
export type TerminalReply = { ready: true } | { done: { ms: number; events: number } } | { error: string };

if (!process.send) {
  console.error('sync-terminal.ts must be forked with an IPC channel');
  process.exit(2);
}
const reply = (m: TerminalReply): void => void process.send!(m);
const MAX_EVENTS = 1000;
const MAX_BYTES = 1024 * 1024;
const WINDOW = 4;

interface Opened {
  go(): Promise<number>;
  close(): Promise<void>;
}

async function openWorker(job: TerminalJob, t: TerminalJob['terminals'][number]): Promise<Opened> {
  const term = await Terminal.open(t.dir, { store: t.store, terminal: t.terminal });
  const head = term.log.head.seq;
  const worker = new SyncWorker({ log: term.log, transport: new HttpTransport({ baseUrl: job.baseUrl, token: t.token }) });
  let lastError = '';
  return {
    go: () =>
      new Promise<number>((resolve, reject) => {
        const off = worker.onStatus((s) => {
          if (s.lastUpError && s.lastUpError.code !== lastError) {
            lastError = s.lastUpError.code;
            process.stderr.write(`  ${t.terminal}: upload error ${s.lastUpError.code}: ${s.lastUpError.message}\n`);
          }
          if (s.connection.state === 'stuck' || s.connection.state === 'revoked') reject(new Error(`${t.terminal}: ${s.connection.state}`));
          if (s.uploaded >= head) {
            off();
            resolve(head);
          }
        });
        worker.start().catch(reject);
      }),
    close: async () => {
      await worker.stop();
      await term.close();
    },
  };
}

async function openRaw(job: TerminalJob, t: TerminalJob['terminals'][number]): Promise<Opened> {
  const db: LevelDb = await openLevel(t.dir);
  const logDb = db.sublevel('log', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
  const encoder = new Encoder();
  const url = `${job.baseUrl}/raw/events`;
  const post = async (events: Uint8Array[]): Promise<void> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack', 'x-terminal': t.terminal },
      body: encoder.encode({ v: 1, events }).slice(),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`raw upload: HTTP ${res.status}`);
  };
  return {
    go: async () => {
      const it = logDb.iterator({ ...BIG_READS });
      let pending: Uint8Array[] = [];
      const inFlight = new Set<Promise<void>>();
      let sent = 0;
      const send = async (events: Uint8Array[]): Promise<void> => {
        while (inFlight.size >= WINDOW) await Promise.race(inFlight);
        const p = post(events).finally(() => inFlight.delete(p));
        inFlight.add(p);
        sent += events.length;
      };
      try {
        let bytes = 0;
        for (;;) {
          const page = await it.nextv(MAX_EVENTS);
          if (page.length === 0) break;
          for (const [, v] of page) {
            if (pending.length >= MAX_EVENTS || (pending.length > 0 && bytes + v.byteLength > MAX_BYTES)) {
              await send(pending);
              pending = [];
              bytes = 0;
            }
            pending.push(v);
            bytes += v.byteLength;
          }
        }
        if (pending.length > 0) await send(pending);
        await Promise.all(inFlight);
      } finally {
        await it.close();
      }
      return sent;
    },
    close: () => db.close(),
  };
}

let opened: Opened[] = [];
process.on('message', (msg: { open?: TerminalJob; go?: boolean; stop?: boolean }) => {
  if (msg.open) {
    const job = msg.open;
    Promise.all(job.terminals.map((t) => (job.mode === 'worker' ? openWorker(job, t) : openRaw(job, t)))).then(
      (o) => {
        opened = o;
        reply({ ready: true });
      },
      (err: unknown) => reply({ error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  } else if (msg.go) {
    const t0 = performance.now();
    Promise.all(opened.map((o) => o.go())).then(
      (counts) => reply({ done: { ms: performance.now() - t0, events: counts.reduce((a, b) => a + b, 0) } }),
      (err: unknown) => reply({ error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  } else if (msg.stop) {
    void Promise.all(opened.map((o) => o.close())).finally(() => process.exit(0));
  }
});
