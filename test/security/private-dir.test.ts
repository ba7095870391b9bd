// Data folders are private: folders 0700, files 0600 on the cloud and the terminal, LevelDB's
// own files included (also those it creates later), and a folder left open is made private on start.
import t from 'tap';
import { chmod, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LevelStorage } from '../../src/server/level-storage.ts';
import { TerminalAgent, writeAgentConfig } from '../../src/terminal/agent.ts';

/** Every folder and file under `dir` whose mode lets group or world in, as "path mode". */
async function openEntries(dir: string): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    const ds = await stat(d);
    if ((ds.mode & 0o777) !== 0o700) out.push(`${d} ${(ds.mode & 0o777).toString(8)}`);
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        const m = (await stat(p)).mode & 0o777;
        if (m !== 0o600) out.push(`${p} ${m.toString(8)}`);
      }
    }
  }
  return out;
}

t.test('a new cloud data folder and every LevelDB file in it are private, also after writes and compaction', async (t) => {
  const dir = join(t.testdir(), 'cloud');
  const storage = await LevelStorage.open(dir);
  t.teardown(() => storage.close());
  const db = (storage as unknown as { db: { put(k: string, v: Uint8Array): Promise<void>; compactRange(a: string, b: string): Promise<void> } }).db;
  for (let i = 0; i < 2000; i++) await db.put(`zz-test-${String(i).padStart(6, '0')}`, new Uint8Array(512));
  await db.compactRange('\x00', '\xff');
  t.ok((await readdir(dir)).some((f) => f.endsWith('.ldb')), 'LevelDB wrote table files');
  t.same(await openEntries(dir), [], 'folders 0700, files 0600');
});

t.test('a terminal data folder left open (0755 / 0644) is made private on start, with a DATA_DIR_NOT_PRIVATE warning', async (t) => {
  const dir = join(t.testdir(), 'till');
  await mkdir(join(dir, 'db'), { recursive: true });
  await writeAgentConfig(dir, { store: 's1', terminal: 't1', cloudUrl: 'http://127.0.0.1:9', token: 'tsk_test-token-0123456789' });
  await writeFile(join(dir, 'notes.txt'), 'x');
  await chmod(dir, 0o755);
  await chmod(join(dir, 'db'), 0o755);
  await chmod(join(dir, 'notes.txt'), 0o644);
  await chmod(join(dir, 'agent.json'), 0o644);
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => { if (w.code) warnings.push(w.code); };
  process.on('warning', onWarning);
  t.teardown(() => { process.off('warning', onWarning); });
  const agent = await TerminalAgent.start({ dataDir: dir, store: 's1', terminal: 't1', cloudUrl: 'http://127.0.0.1:9', token: 'tsk_test-token-0123456789', worker: { uploadPollMs: 60_000 } });
  t.teardown(() => agent.stop());
  // 'warning' is emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  t.same(await openEntries(dir), [], 'folders 0700, files 0600');
  t.ok(warnings.includes('DATA_DIR_NOT_PRIVATE'), 'warned with DATA_DIR_NOT_PRIVATE');
});

t.test('a data folder named through a symbolic link (systemd StateDirectory with DynamicUser) is checked where it points', async (t) => {
  const root = t.testdir();
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => { if (w.code) warnings.push(w.code); };
  process.on('warning', onWarning);
  t.teardown(() => { process.off('warning', onWarning); });
  // Private where it points: opened without a word (the link's own mode, 0777, does not count).
  await mkdir(join(root, 'private', 'cloud'), { recursive: true, mode: 0o700 });
  await symlink(join(root, 'private', 'cloud'), join(root, 'cloud'));
  let storage = await LevelStorage.open(join(root, 'cloud'));
  await storage.close();
  await new Promise((r) => setImmediate(r));
  t.same(warnings, [], 'no DATA_DIR_NOT_PRIVATE warning');
  t.same(await openEntries(join(root, 'private', 'cloud')), [], 'folders 0700, files 0600');
  // Open where it points: that folder is made private, with the warning.
  await mkdir(join(root, 'open'), { mode: 0o755 });
  await chmod(join(root, 'open'), 0o755);
  await symlink(join(root, 'open'), join(root, 'cloud-2'));
  storage = await LevelStorage.open(join(root, 'cloud-2'));
  await storage.close();
  await new Promise((r) => setImmediate(r));
  t.equal((await stat(join(root, 'open'))).mode & 0o777, 0o700, 'the folder it points to is made 0700');
  t.ok(warnings.includes('DATA_DIR_NOT_PRIVATE'), 'warned with DATA_DIR_NOT_PRIVATE');
});
