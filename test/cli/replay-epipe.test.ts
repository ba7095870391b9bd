// `tillsync replay … | head`: the reader closes the pipe early; the command must end quietly
// (no EPIPE stack trace, exit 0). A real child process and a real pipe whose read end we close.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { writeAgentConfig } from '../../src/terminal/agent.ts';
import { openSmallStore } from '../helpers/small-store.ts';
import { BIN } from './run-cli.ts';

t.test('replay into a pipe closed after the first bytes ends quietly with exit 0', async (t) => {
  const dir = t.testdir();
  await writeAgentConfig(dir, { store: 'store-1', terminal: 'till-1', cloudUrl: 'http://127.0.0.1:9', token: 'tsk_test-token-0123456789' });
  const term = await openSmallStore(join(dir, 'db'));
  // Enough history that replay's output is far larger than a pipe's buffer (64 KiB).
  for (let i = 0; i < 8; i++) {
    await Promise.all(Array.from({ length: 25 }, () => term.completeSale({ lines: [{ item: 'itm-cafe', qty: 1 }], payments: [{ tender: 'cash', tendered: 385 }] })));
  }
  await term.close();

  const child = spawn(process.execPath, [BIN, 'replay', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Read the first chunk, then close our read end, as `head -1` does.
  const first = await Promise.race([
    new Promise<Buffer>((resolve) => child.stdout.once('data', resolve)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('replay printed nothing within 60 s')), 60_000)),
  ]);
  t.ok(first.toString().startsWith('{'), 'replay printed a JSON line');
  const closedAt = Date.now();
  child.stdout.destroy();
  let killer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise<never>((_, reject) => { killer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('replay did not end within 60 s of its stdout closing')); }, 60_000); }),
  ]);
  clearTimeout(killer);
  t.comment(`ended ${Date.now() - closedAt} ms after its stdout closed`);
  t.equal(code, 0, 'exit code 0');
  t.notMatch(stderr, /EPIPE|Error|at /, `nothing on stderr (got: ${stderr.slice(0, 300)})`);
});
