/**
 * The peer of sync case (a), measured in the same run (bench/sync.ts case e):
 * the tool a team would otherwise pick for offline-first replication, PouchDB,
 * replicating the same events from a local database (pouchdb-node, LevelDB
 * adapter) to an express-pouchdb server on loopback, with PouchDB's default
 * settings and `batch_size: 1000` (the batch tillsync's worker sends).
 *
 * Same bytes: the terminal log of case (a) is exported to JSON lines (one
 * decoded event per line, its ULID as `_id`); the peer's client loads them
 * into its local database before the clock starts, as case (a)'s terminal has
 * its log on disk. The clock runs from `replicate.to` until it resolves; the
 * server's `doc_count` is then checked to equal the events sent.
 *
 * Not the same durability: tillsync's cloud commits every batch with a synced
 * LevelDB write before it answers; PouchDB's LevelDB adapter writes without
 * sync, so its figure is an upper bound of what a durable peer would do.
 *
 * PouchDB and express-pouchdb live in bench/peer/ with their own lock file (a
 * few hundred packages no test or user of tillsync needs); they are installed
 * there on first use (`npm ci`), and if that fails the case is skipped with a
 * line saying why, never silently.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from '@msgpack/msgpack';
import { BIG_READS, openLevel, type Sublevel } from '../src/events/level-util.ts';
import { ask, flushDirtyPages, peakRssMb, stopChild } from './children.ts';

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'peer');

export interface PeerRun {
  docs: number;
  ms: number;
  serverMb: number;
  clientMb: number;
}

/** Installs bench/peer's packages if they are missing; resolves to why not when that fails. */
export async function ensurePeer(log: (m: string) => void): Promise<string | undefined> {
  if (existsSync(join(PEER, 'node_modules', 'pouchdb-node', 'package.json'))) return undefined;
  log('peer: installing PouchDB into bench/peer (npm ci, once)');
  return new Promise((resolve) => {
    execFile('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: PEER, timeout: 10 * 60_000 }, (err, _out, stderr) => {
      resolve(err ? `npm ci in bench/peer failed: ${(stderr || err.message).trim().split('\n').at(-1)}` : undefined);
    });
  });
}

/** Writes a terminal folder's log as JSON lines (decoded events, in seq order); returns how many. */
export async function exportLog(dir: string, file: string): Promise<number> {
  const db = await openLevel(dir);
  const logDb = db.sublevel('log', { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
  const it = logDb.iterator({ ...BIG_READS });
  const out = createWriteStream(file);
  let n = 0;
  try {
    for (;;) {
      const page = await it.nextv(1000);
      if (page.length === 0) break;
      const text = page.map(([, v]) => JSON.stringify(decode(v as Uint8Array))).join('\n') + '\n';
      n += page.length;
      if (!out.write(text)) await once(out, 'drain');
    }
  } finally {
    await it.close();
    await db.close();
    out.end();
    await once(out, 'close');
  }
  return n;
}

function forkPeer(name: string, args: string[]): ChildProcess {
  return fork(join(PEER, `${name}.cjs`), args, { cwd: PEER, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** One replication of `jsonl` (written by exportLog) from a fresh local PouchDB to a fresh server, in `root`. */
export async function peerSync(root: string, jsonl: string): Promise<PeerRun> {
  const dir = join(root, 'peer');
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'server'), { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'client'), { recursive: true, mode: 0o700 });
  const server = forkPeer('pouch-server', [join(dir, 'server')]);
  let client: ChildProcess | undefined;
  try {
    const { port } = await ask<{ port: number }>(server, undefined, 'peer server start');
    const url = `http://127.0.0.1:${port}/cloud`;
    client = forkPeer('pouch-client', [join(dir, 'client'), jsonl, url]);
    const { ready } = await ask<{ ready: number }>(client, undefined, 'peer client fill');
    await flushDirtyPages();
    const { done } = await ask<{ done: { docs: number; ms: number } }>(client, { go: true }, 'peer replication');
    const info = (await (await fetch(url)).json()) as { doc_count?: number };
    if (done.docs !== ready || info.doc_count !== ready) {
      throw new Error(`peer: ${ready} docs loaded, ${done.docs} written, the server holds ${info.doc_count}`);
    }
    const [serverMb, clientMb] = await Promise.all([peakRssMb(server.pid!), peakRssMb(client.pid!)]);
    return { docs: done.docs, ms: done.ms, serverMb, clientMb };
  } finally {
    await Promise.all([stopChild(server), client ? stopChild(client) : undefined]);
    await rm(dir, { recursive: true, force: true });
  }
}
