/**
 * A digest of downloaded data that the cloud and a terminal compute the same
 * way, so a full resync can check the terminal's views against the cloud before
 * it reports success: per kind, the count and a SHA-256 over the records in id
 * order (`id NUL canonical-msgpack NL`).
 */
import { createHash } from 'node:crypto';
import { encodeCanonical } from './codec.ts';

export interface DigestPart {
  count: number;
  sha256: string;
}

export interface CatalogDigest {
  items: DigestPart;
  customers: DigestPart;
  /** Customer balances as the cloud last sent them (the confirmed part). */
  balances: DigestPart;
  vouchers: DigestPart;
}

export function digestRecords(records: Iterable<[string, unknown]>): DigestPart {
  const sorted = [...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const h = createHash('sha256');
  for (const [id, value] of sorted) h.update(id).update('\u0000').update(encodeCanonical(value)).update('\n');
  return { count: sorted.length, sha256: h.digest('hex') };
}
