/**
 * The PostgreSQL schema of the cloud and its migrations, applied on start.
 *
 * Versioned (table `tillsync_schema`: one row per applied version), idempotent
 * (a version already recorded is skipped), each migration in its own
 * transaction together with its version row, and serialized across processes
 * that start at once by a transaction-level advisory lock. A database at a
 * newer version than this code knows is refused with DB_SCHEMA_TOO_NEW and
 * left untouched.
 *
 * Every table's primary key starts with the store id (Citus-ready:
 * `create_distributed_table(t, 'store')`), except `stores` (keyed by the store
 * id itself) and `credentials` (looked up by token hash before the store is
 * known: small, a reference table under Citus; see docs/design.md). Keys use
 * the "C" collation so ordered reads come back in byte order, as LevelDB's do.
 * Records are the canonical msgpack of the value (bytea), like LevelDB's.
 */
import type { PoolClient } from 'pg';
import { TillsyncError } from '../../errors.ts';

export const SCHEMA_VERSION = 2;
/** Any constant: the advisory lock that serializes migrations across processes. */
const MIGRATION_LOCK = 0x7111_5e7c;

const K = 'text COLLATE "C" NOT NULL';
const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE stores (store ${K} PRIMARY KEY, record bytea NOT NULL);
    CREATE TABLE counters (
      store ${K} PRIMARY KEY,
      feed_head bigint NOT NULL DEFAULT 0, open_exceptions bigint NOT NULL DEFAULT 0,
      last_exception bigint NOT NULL DEFAULT 0, quarantined bigint NOT NULL DEFAULT 0);
    CREATE TABLE terminals (store ${K}, terminal ${K}, record bytea NOT NULL, PRIMARY KEY (store, terminal));
    CREATE TABLE credentials (token_hash ${K} PRIMARY KEY, store ${K}, record bytea NOT NULL);
    CREATE TABLE high_water (
      store ${K}, terminal ${K}, seq bigint NOT NULL, hash text NOT NULL, quarantined bigint NOT NULL,
      PRIMARY KEY (store, terminal));
    CREATE TABLE events (
      store ${K}, terminal ${K}, seq bigint NOT NULL, id text NOT NULL, hash text NOT NULL, bytes bytea NOT NULL,
      type text NOT NULL, index_by_id boolean NOT NULL, q_code text, q_message text,
      PRIMARY KEY (store, terminal, seq),
      CHECK (index_by_id OR q_code IS NOT NULL));
    CREATE INDEX events_quarantine ON events (store, terminal, seq) WHERE q_code IS NOT NULL;
    CREATE TABLE event_ids (
      store ${K}, id ${K}, terminal ${K}, seq bigint NOT NULL, hash text NOT NULL,
      PRIMARY KEY (store, id));
    CREATE TABLE feed (store ${K}, cursor bigint NOT NULL, change bytea NOT NULL, PRIMARY KEY (store, cursor));
    CREATE TABLE balances (store ${K}, customer ${K}, view bytea NOT NULL, PRIMARY KEY (store, customer));
    CREATE TABLE vouchers (store ${K}, voucher ${K}, view bytea NOT NULL, PRIMARY KEY (store, voucher));
    CREATE TABLE items (store ${K}, id ${K}, record bytea NOT NULL, PRIMARY KEY (store, id));
    CREATE TABLE customers (store ${K}, id ${K}, record bytea NOT NULL, PRIMARY KEY (store, id));
    CREATE TABLE exceptions (store ${K}, n bigint NOT NULL, record bytea NOT NULL, PRIMARY KEY (store, n));
  `,
  // Support bundles terminals send (issue 22 item 4).
  2: `
    CREATE TABLE support_bundles (store ${K}, terminal ${K}, id ${K}, record bytea NOT NULL, PRIMARY KEY (store, terminal, id));
  `,
};

/** Applies the migrations this database lacks (see the file comment); `schema` (a checked name) is created first if given. */
export async function migrate(client: PoolClient, schema?: string): Promise<void> {
  await inTx(client, async () => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    // Under the lock: two processes creating the same schema at once would otherwise race (a unique violation).
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query('CREATE TABLE IF NOT EXISTS tillsync_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  });
  for (;;) {
    const done = await inTx(client, async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM tillsync_schema');
      const v = rows[0]?.v ?? 0;
      if (v > SCHEMA_VERSION) {
        throw new TillsyncError('DB_SCHEMA_TOO_NEW', `the cloud database has schema version ${v}; this tillsync knows up to ${SCHEMA_VERSION}: upgrade tillsync`);
      }
      if (v === SCHEMA_VERSION) return true;
      await client.query(MIGRATIONS[v + 1]!);
      await client.query('INSERT INTO tillsync_schema (version) VALUES ($1)', [v + 1]);
      return false;
    });
    if (done) return;
  }
}

export async function inTx<T>(client: PoolClient, f: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await f();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
