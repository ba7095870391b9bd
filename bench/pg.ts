/**
 * The PostgreSQL server the benchmarks use (PG_URL, else the test-deps
 * cluster's URL in .test-deps/pg-url, else postgres://postgres@127.0.0.1:5432),
 * and a fresh database in it per measured run, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';

export function benchPgUrl(): string {
  if (process.env.PG_URL) return process.env.PG_URL;
  try {
    const written = readFileSync(new URL('../.test-deps/pg-url', import.meta.url), 'utf8').trim();
    if (written) return written;
  } catch {
    // none written: the local default
  }
  return 'postgres://postgres@127.0.0.1:5432/postgres';
}

export async function createBenchDatabase(server: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tillsync_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: server, connectionTimeoutMillis: 10_000 });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(server);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
