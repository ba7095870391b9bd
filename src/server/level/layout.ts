/**
 * The cloud LevelDB's layout version and the steps between versions, run when
 * a database is opened, before anything is read.
 *
 * - Version 1: events under `1events` (one entry per event), the id index
 *   under `2ids` with ids as they are (ascending).
 * - Version 2 (LAYOUT_VERSION): KEY_ORDER in keys.ts: the id index first
 *   (`0ids`, flipped keys: newest first), the events last (`9events`, a
 *   commit's consecutive events of a terminal in one entry: event-run.ts).
 *
 * The version is kept under `!5meta!layout` (decimal text) and written only
 * after every step up to it is done. A database with no version number is
 * empty, version 1, or version 2 from before versions were recorded; the
 * 1 → 2 step moves nothing in the last two cases. A database of a newer
 * version than this code knows is refused (DB_SCHEMA_TOO_NEW), untouched.
 */
import { TillsyncError } from '../../errors.ts';
import { BIG_READS, type LevelDb, type Sublevel } from '../../events/level-util.ts';
import { flipIdKey, type Kind } from './keys.ts';

export const LAYOUT_VERSION = 2;
const META = '5meta';
const VERSION_KEY = 'layout';
/** Entries moved per batch by a step. */
const MIGRATE_PAGE = 4096;
const SYNC_WRITE = { sync: true } as object;

type Step = (db: LevelDb, subs: Record<Kind, Sublevel>, onMigrate?: (moved: number) => void) => Promise<void>;

/** STEPS[v] takes a database from version v to v + 1. */
const STEPS: Record<number, Step> = { 1: moveToVersion2 };

/** The database's layout version (1 when none is recorded). */
export async function layoutVersion(db: LevelDb): Promise<number> {
  const raw = await meta(db).get(VERSION_KEY);
  if (raw === undefined) return 1;
  const v = Number(Buffer.from(raw).toString('utf8'));
  if (!Number.isSafeInteger(v) || v < 1) throw new TillsyncError('STORAGE_FAILED', `the cloud database's layout version ${JSON.stringify(Buffer.from(raw).toString('utf8'))} is not a number`);
  return v;
}

/** Brings the database to LAYOUT_VERSION (see the file comment); `onMigrate` gets entries moved so far. */
export async function upgradeLayout(db: LevelDb, subs: Record<Kind, Sublevel>, onMigrate?: (moved: number) => void): Promise<void> {
  let v = await layoutVersion(db);
  if (v > LAYOUT_VERSION) {
    throw new TillsyncError('DB_SCHEMA_TOO_NEW', `the cloud database has layout version ${v}; this tillsync knows up to ${LAYOUT_VERSION}: upgrade tillsync`);
  }
  if (v === LAYOUT_VERSION) return;
  for (; v < LAYOUT_VERSION; v++) await STEPS[v]!(db, subs, onMigrate);
  await meta(db).put(VERSION_KEY, Buffer.from(String(LAYOUT_VERSION)), SYNC_WRITE);
}

function meta(db: LevelDb): Sublevel {
  return db.sublevel(META, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
}

/**
 * Version 1 → 2: each page of entries is put under its new key and deleted
 * under its old one in one atomic batch, so a crash at any point leaves every
 * entry in exactly one place, and the next open goes on where this one stopped.
 */
async function moveToVersion2(db: LevelDb, subs: Record<Kind, Sublevel>, onMigrate?: (moved: number) => void): Promise<void> {
  let moved = 0;
  for (const [old, kind] of [['1events', 'events'], ['2ids', 'ids']] as const) {
    const from = db.sublevel(old, { keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as Sublevel;
    // One iterator (a snapshot) for the whole move: a new one per page would step over every deleted key before it.
    const it = from.iterator(BIG_READS);
    try {
      for (;;) {
        const page = await it.nextv(MIGRATE_PAGE);
        if (page.length === 0) break;
        const batch = db.batch();
        for (const [k, v] of page) {
          batch.put(subs[kind].prefix + (kind === 'ids' ? flipIdKey(k) : k), v);
          batch.del(from.prefix + k);
        }
        await batch.write(SYNC_WRITE);
        moved += page.length;
        onMigrate?.(moved);
      }
    } finally {
      await it.close();
    }
  }
}
