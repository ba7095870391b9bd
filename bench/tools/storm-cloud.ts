/**
 * Child process for bench/storm.ts: one cloud process, so its CPU and peak RSS
 * are its own.
 *
 *   fork('dist/bench/tools/storm-cloud.js', ['level', dir] | ['pg', url])
 *
 * build() from src/server/app.ts with its default options over LevelStorage
 * in `dir` or PostgresStorage at `url` (several of these may share one
 * database), listening on 127.0.0.1:0; answers `{ port }`. `{ stop: true }`
 * closes everything and the process exits.
 */
import { build } from '../../src/server/app.ts';
import { LevelStorage } from '../../src/server/level-storage.ts';
import { PostgresStorage } from '../../src/server/postgres/postgres-storage.ts';

export const STORM_ADMIN = 'storm-admin-token-0123456789abcdef';
const [mode, where] = process.argv.slice(2);
if ((mode !== 'level' && mode !== 'pg') || !where || !process.send) {
  console.error('usage: fork storm-cloud.ts level <dir> | pg <url> (with an IPC channel)');
  process.exit(2);
}

const storage = mode === 'pg' ? await PostgresStorage.open(where) : await LevelStorage.open(where);
const app = build({ storage, adminToken: STORM_ADMIN });
await app.listen({ host: '127.0.0.1', port: 0 });
process.send({ port: (app.server.address() as { port: number }).port });
process.on('message', (msg: { stop?: boolean }) => {
  if (!msg.stop) return;
  void app.close().then(() => storage.close()).finally(() => process.exit(0));
});
