/**
 * The PostgreSQL server the tests use, and a database of their own in it.
 *
 * The server: PG_URL when set; else the URL the test-deps script wrote to
 * `.test-deps/pg-url` at the repo root (a cluster it started on a fresh
 * machine); else the local default. Each test file makes its own database
 * (`createTestDatabase`) and drops it when done, so test files running in
 * parallel never share state.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Test } from 'tap';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function pgUrl(): string {
  if (process.env.PG_URL) return process.env.PG_URL;
  try {
    const written = readFileSync(new URL('../../.test-deps/pg-url', import.meta.url), 'utf8').trim();
    if (written) return written;
  } catch {
    // no test-deps cluster: the local default
  }
  return DEFAULT_URL;
}

/** `url` with its database name replaced. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server, dropped at `t`'s teardown (or by `drop()`). */
export async function createTestDatabase(t?: Test): Promise<TestDatabase> {
  const base = pgUrl();
  const name = `tillsync_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    const c = new pg.Client({ connectionString: base, connectionTimeoutMillis: 10_000 });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  t?.teardown(drop);
  return { name, url: withDatabase(base, name), drop };
}
