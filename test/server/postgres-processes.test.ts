/**
 * Two real `tillsync cloud --db` processes over one PostgreSQL database, on
 * different ports: what one process commits the other's terminals hear of
 * (LISTEN/NOTIFY: a feed notification on the stream), read (the feed) and are
 * refused by (a credential revoked through the other process is refused at
 * once, although the process had remembered it as valid).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { BIN } from '../cli/run-cli.ts';
import { createTestDatabase } from '../helpers/pg.ts';

const ADMIN = 'admin-token-for-tests-0123456789';
const db = await createTestDatabase(t);

async function startCloud(t: Test, name: string): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'cloud', '--port', '0', '--admin-token', ADMIN, '--db', db.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloud ${name} did not say it listens within 90 s: ${out}`)), 90_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => reject(new Error(`cloud ${name} exited with ${code}: ${out}`)));
  });
}

async function call(base: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Polls `check` every 50 ms until it answers true, for at most `ms`; fails with `what` otherwise. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`within ${ms} ms: ${what}`);
}

t.test('two cloud processes, one database: feed notifications, feed reads and revocations cross processes', async (t) => {
  const [a, b] = await Promise.all([startCloud(t, 'A'), startCloud(t, 'B')]);
  t.equal((await call(a, 'POST', '/v1/admin/stores', ADMIN, { id: 's1', name: 'S1', currency: 'EUR' })).status, 201, 'store created through A');
  const term = await call(b, 'POST', '/v1/admin/stores/s1/terminals', ADMIN, { id: 't1' });
  t.equal(term.status, 201, 'terminal created through B');
  const token = term.body.token as string;
  const feed0 = await call(b, 'GET', '/v1/feed?since=0', token);
  t.equal(feed0.status, 200, 'B knows the credential (and now remembers it as valid)');
  const head0 = Number(feed0.body.head ?? 0);

  // A terminal on B's stream hears of a change committed through A.
  const ws = new WebSocket(`${b.replace('http', 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
  t.teardown(() => ws.terminate());
  const heads: number[] = [];
  ws.on('message', (m) => {
    const msg = JSON.parse(String(m)) as { type: string; head?: number };
    if (msg.type === 'feed' && typeof msg.head === 'number') heads.push(msg.head);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the stream to B did not open within 10 s')), 10_000);
    ws.once('open', () => { clearTimeout(timer); resolve(); });
    ws.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
  const item = await call(a, 'POST', '/v1/admin/stores/s1/items', ADMIN, [{ id: 'i1', sku: 'SKU-1', name: 'Tea', barcodes: [], price: 250, taxRate: 0 }]);
  t.ok(item.status < 300, `item created through A (${item.status})`);
  await until('B\'s terminal heard of the change committed through A', 10_000, async () => heads.some((h) => h > head0));
  const feed = await call(b, 'GET', `/v1/feed?since=${head0}`, token);
  t.ok((feed.body.changes as Array<{ type: string }>).some((c) => c.type === 'item.upserted'), 'and reads it from B\'s feed');

  // Revoked through A: refused by B, which had remembered the credential.
  t.equal((await call(a, 'POST', '/v1/admin/stores/s1/terminals/t1/revoke', ADMIN)).status, 200, 'revoked through A');
  await until('B refuses the credential revoked through A', 10_000, async () => (await call(b, 'GET', '/v1/feed?since=0', token)).body?.error?.code === 'CREDENTIAL_REVOKED');
  t.pass('B refuses the revoked credential');
});
