// What scripts/test-deps.sh (npm test's pretest) promises the tests: Chromium at
// /usr/bin/chromium, strace on PATH, a PostgreSQL that accepts a login at pgUrl().
import { accessSync, constants } from 'node:fs';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import t from 'tap';
import { pgUrl } from './pg-url.ts';
import { within, WAIT_MS } from './wait.ts';

const FIX = 'run scripts/test-deps.sh (npm test runs it first)';

t.test('chromium and strace are there', async (t) => {
  t.doesNotThrow(() => accessSync('/usr/bin/chromium', constants.X_OK), `/usr/bin/chromium is executable; else ${FIX}`);
  t.doesNotThrow(() => execFileSync('strace', ['-V'], { stdio: 'ignore', timeout: WAIT_MS }), `strace runs; else ${FIX}`);
});

t.test('PostgreSQL accepts a login at the URL the setup settled on', async (t) => {
  const url = pgUrl();
  t.comment(`PostgreSQL at ${url.replace(/:[^:@/]*@/, ':***@')}`);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: WAIT_MS });
  t.teardown(() => client.end().catch(() => undefined));
  await within(client.connect(), WAIT_MS + 5_000, `a connection to ${url}; ${FIX}`);
  const res = await within(client.query<{ one: number }>('select 1 as one'), WAIT_MS, 'select 1');
  t.same(res.rows, [{ one: 1 }], 'it answers a query');
});
