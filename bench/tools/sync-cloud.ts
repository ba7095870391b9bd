/**
 * Child process for bench/sync.ts: one cloud, so its CPU and peak RSS are its own.
 *
 *   fork('dist/bench/tools/sync-cloud.js', [mode, dir, dbUrl?]) (compiled by scripts/build.ts; or the .ts with --import tsx)
 *
 * mode `real`: build() from src/server/app.ts over LevelStorage in `dir`, or
 *   over PostgresStorage at `dbUrl` when given (an empty database).
 *   The parent sends `{ setup: CloudSetup }`; the child creates the store, its
 *   terminals, customers and vouchers through the admin API (inject, before
 *   listening), listens on 127.0.0.1:0 and answers `{ port, tokens }`.
 * mode `raw`: the baseline. A bare fastify route `POST /raw/events` that decodes
 *   only the batch envelope and writes each event's bytes as received into ONE
 *   chained LevelDB batch (`write({ sync: true })`) under `<x-terminal>/<seqKey>`:
 *   no per-event decode, validation, hashing or lookup. Answers `{ port }`.
 * Then `{ stop: true }` closes everything and the process exits (cpu profiles,
 * when started with --cpu-prof, are written on that exit).
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import fastify from 'fastify';
import { seqKey, openLevel } from '../../src/events/level-util.ts';
import { build } from '../../src/server/app.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';

export interface CloudSetup {
  store: string;
  currency: string;
  terminals: string[];
  customers: Array<{ id: string; name: string; openingBalance: number }>;
  vouchers: Array<{ code: string; amount: number }>;
}
export type CloudReply = { port: number; tokens: Record<string, string> } | { error: string };

const ADMIN = 'bench-admin-token-0123456789abcdef';
const [mode, dir, dbUrl] = process.argv.slice(2);
if ((mode !== 'real' && mode !== 'raw') || !dir || !process.send) {
  console.error('usage: fork sync-cloud.ts real|raw <dir> (with an IPC channel)');
  process.exit(2);
}
const reply = (m: CloudReply): void => void process.send!(m);

let stop: () => Promise<void> = async () => {};

async function startReal(setup: CloudSetup): Promise<void> {
  const storage = dbUrl ? await PostgresStorage.open(dbUrl) : await LevelStorage.open(dir!);
  const app = build({ storage, adminToken: ADMIN });
  await app.ready();
  const admin = async (url: string, payload: unknown): Promise<any> => {
    const res = await app.inject({
      method: 'POST', url, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload),
    });
    if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${res.payload}`);
    return JSON.parse(res.payload);
  };
  const s = setup.store;
  await admin('/v1/admin/stores', { id: s, name: `Bench ${s}`, currency: setup.currency });
  const tokens: Record<string, string> = {};
  for (const t of setup.terminals) tokens[t] = (await admin(`/v1/admin/stores/${s}/terminals`, { id: t })).token;
  if (setup.customers.length > 0) await admin(`/v1/admin/stores/${s}/customers`, setup.customers);
  for (const v of setup.vouchers) await admin(`/v1/admin/stores/${s}/vouchers`, v);
  await app.listen({ host: '127.0.0.1', port: 0 });
  stop = async () => {
    await app.close();
    await storage.close();
  };
  reply({ port: (app.server.address() as { port: number }).port, tokens });
}

async function startRaw(): Promise<void> {
  const db = await openLevel(dir!, {}); // LevelDB's defaults
  const app = fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
  const decoder = new Decoder();
  const encoder = new Encoder();
  const next = new Map<string, number>();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/msgpack', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, decoder.decode(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.post('/raw/events', async (req, res) => {
    const terminal = String(req.headers['x-terminal'] ?? 't');
    const events = (req.body as { events: Uint8Array[] }).events;
    let seq = next.get(terminal) ?? 0;
    const batch = db.batch();
    for (const bytes of events) batch.put(`${terminal}/${seqKey(++seq)}`, bytes);
    await batch.write({ sync: true });
    next.set(terminal, seq);
    return res.type('application/msgpack').send(Buffer.from(encoder.encode({ ackSeq: seq })));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  stop = async () => {
    await app.close();
    await db.close();
  };
  reply({ port: (app.server.address() as { port: number }).port, tokens: {} });
}

process.on('message', (msg: { setup?: CloudSetup; stop?: boolean }) => {
  if (msg.stop) {
    void stop().finally(() => process.exit(0));
    return;
  }
  const started = mode === 'real' ? startReal(msg.setup!) : startRaw();
  started.catch((err: unknown) => reply({ error: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
