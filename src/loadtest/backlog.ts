/**
 * A terminal's offline backlog, built in memory the way a terminal logs it:
 * seeded sales from the fixtures (each sale and its payments), canonical bytes,
 * a hash chain, times spread over the offline hours before now. Used by
 * `tillsync loadtest` and the storm benchmark (bench/tools/storm-terminal.ts).
 *
 * A backlog may continue a terminal the cloud already holds events of
 * (`after`: its acknowledged seq and hash), so a load test can be run again
 * against the same test terminals.
 */
import { monotonicFactory } from 'ulid';
import { encodeCanonical, GENESIS_HASH, sha256Hex } from '../events/codec.ts';
import { EVENT_SCHEMA_VERSION, type EventDraft } from '../events/event-types.ts';
import type { ItemRecord } from '../events/event-types.ts';
import { generateSales, saleToDrafts } from '../fixtures/sales.ts';

export interface BacklogSpec {
  store: string;
  terminal: string;
  seed: number;
  catalog: readonly ItemRecord[];
  currency: string;
  /** Stop at the first whole sale that reaches this many events… */
  maxEvents?: number;
  /** …or after this many sales (whichever comes first; at least one is given). */
  sales?: number;
  /** Event times run from `now - offlineMs` to `now`. */
  offlineMs: number;
  now: number;
  /** The terminal's acknowledged seq and hash at the cloud; default: a new terminal. */
  after?: { seq: number; hash: string };
}

export interface Backlog {
  /** Canonical bytes of each event, in seq order. */
  events: Uint8Array[];
  /** sha256 of each event's bytes (its chain hash). */
  hashes: string[];
  firstSeq: number;
  sales: number;
}

export function buildBacklog(spec: BacklogSpec): Backlog {
  if (spec.maxEvents === undefined && spec.sales === undefined) throw new RangeError('buildBacklog needs maxEvents or sales');
  const ulid = monotonicFactory();
  const base = spec.now - spec.offlineMs;
  const drafts: EventDraft[] = [];
  const maxEvents = spec.maxEvents ?? Number.MAX_SAFE_INTEGER;
  const maxSales = spec.sales ?? Number.MAX_SAFE_INTEGER;
  const planned = spec.sales ?? Math.max(1, Math.ceil(maxEvents / 2));
  let sales = 0;
  for (const sale of generateSales({ seed: spec.seed, catalog: spec.catalog, count: Number.MAX_SAFE_INTEGER })) {
    if (drafts.length >= maxEvents || sales >= maxSales) break;
    drafts.push(...saleToDrafts(sale, ulid(base + Math.floor((sales / planned) * spec.offlineMs)), { currency: spec.currency }));
    sales++;
  }
  let prev = spec.after?.hash ?? GENESIS_HASH;
  const firstSeq = (spec.after?.seq ?? 0) + 1;
  const events: Uint8Array[] = [];
  const hashes: string[] = [];
  drafts.forEach((d, i) => {
    const time = base + Math.floor((i / drafts.length) * spec.offlineMs);
    const bytes = encodeCanonical({
      id: d.id ?? ulid(time), type: d.type, v: EVENT_SCHEMA_VERSION, store: spec.store, terminal: spec.terminal, seq: firstSeq + i, time, prev, body: d.body,
    });
    prev = sha256Hex(bytes);
    events.push(bytes);
    hashes.push(prev);
  });
  return { events, hashes, firstSeq, sales };
}
