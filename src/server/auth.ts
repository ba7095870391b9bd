/**
 * Credentials. A terminal token is 32 random bytes (base64url, prefixed
 * `tsk_`), shown once and stored only as its SHA-256; it is bound to one store
 * and one terminal and can be revoked. The admin token is compared in constant
 * time. Checking order: no or unknown token → UNAUTHORIZED, revoked →
 * CREDENTIAL_REVOKED, valid but not allowed here → FORBIDDEN.
 *
 * Valid terminal credentials are remembered (every request of every terminal
 * checks one: with 50 terminals syncing, a storage read each was ~5% of the
 * cloud's CPU). Any commit that writes a credential calls
 * `credentialsChanged()` right after it is durable (StoreTx), which forgets
 * them all; a read that was in flight across such a commit is not remembered
 * (the epoch moved), so a revoked credential is refused from the next request
 * on, as without the cache. Like the store locks, this assumes the process is
 * the only writer of its storage.
 *
 * Rate limit: each terminal credential has a token bucket (`RateLimit`:
 * `perSecond` sustained, `burst` at once; default 100/s, burst 500, well above
 * what a syncing terminal sends). A request past it is refused with
 * RATE_LIMITED (429) and `details.retryAfterSeconds` (sent as Retry-After),
 * before its body is read. Unknown tokens get no bucket (they are refused anyway).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { LRUCache } from 'lru-cache';
import { TillsyncError } from '../errors.ts';
import type { CloudStorage, CredentialRecord } from './storage.ts';

const TOKEN_SHAPE = /^[A-Za-z0-9_\-.~+/=]{8,256}$/;

export function newToken(): string {
  return `tsk_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The bearer token of a request, or undefined when absent or malformed. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const h = headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer ([^\s]+)$/i.exec(h.trim());
  return m && TOKEN_SHAPE.test(m[1]!) ? m[1] : undefined;
}

/** Valid credentials (and rate-limit buckets) remembered at most: the least recently used goes first (lru-cache). */
const MAX_REMEMBERED = 10_000;

export interface RateLimit {
  /** Requests per second a credential may make, sustained. */
  perSecond: number;
  /** Requests it may make at once (the bucket's size). */
  burst: number;
}
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 100, burst: 500 };

/** Token buckets by credential (token hash). */
class Buckets {
  private readonly buckets = new LRUCache<string, { tokens: number; at: number }>({ max: MAX_REMEMBERED });
  constructor(private readonly limit: RateLimit) {}

  /** Takes one request's token; throws RATE_LIMITED when there is none. */
  take(key: string): void {
    const now = performance.now();
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.limit.burst, at: now }));
    b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - b.tokens) / this.limit.perSecond));
    throw new TillsyncError('RATE_LIMITED', `more than ${this.limit.perSecond} requests per second from this credential`, {
      details: { retryAfterSeconds },
    });
  }
}

export class Auth {
  private readonly adminHash: Buffer | undefined;
  private readonly valid = new LRUCache<string, Readonly<CredentialRecord>>({ max: MAX_REMEMBERED });
  private epoch = 0;
  private readonly buckets: Buckets;

  constructor(
    private readonly storage: CloudStorage,
    adminToken: string | undefined,
    rateLimit: RateLimit = DEFAULT_RATE_LIMIT,
  ) {
    this.adminHash = adminToken ? createHash('sha256').update(adminToken).digest() : undefined;
    this.buckets = new Buckets(rateLimit);
  }

  /** Whether `token` is the admin token (constant time). */
  isAdmin(token: string): boolean {
    if (!this.adminHash) return false;
    return timingSafeEqual(createHash('sha256').update(token).digest(), this.adminHash);
  }

  /** A valid, unrevoked terminal credential, or throws. */
  async terminal(headers: IncomingHttpHeaders): Promise<CredentialRecord> {
    const token = bearerToken(headers);
    if (token === undefined) throw new TillsyncError('UNAUTHORIZED', 'missing or malformed bearer token');
    const tokenHash = hashToken(token);
    const known = this.valid.get(tokenHash);
    if (known) {
      this.buckets.take(tokenHash);
      return known;
    }
    const epoch = this.epoch;
    const cred = await this.storage.getCredential(tokenHash);
    if (!cred) {
      if (this.isAdmin(token)) throw new TillsyncError('FORBIDDEN', 'the admin token is not a terminal credential');
      throw new TillsyncError('UNAUTHORIZED', 'unknown credential');
    }
    if (cred.revoked) throw new TillsyncError('CREDENTIAL_REVOKED', 'this terminal credential was revoked');
    this.buckets.take(tokenHash);
    if (epoch === this.epoch) this.valid.set(tokenHash, Object.freeze(cred));
    return cred;
  }

  /** Credentials were written (created, revoked, reissued): forget every remembered one. */
  credentialsChanged(): void {
    this.epoch++;
    this.valid.clear();
  }

  /** Passes only for the admin token. */
  async admin(headers: IncomingHttpHeaders): Promise<void> {
    const token = bearerToken(headers);
    if (token === undefined) throw new TillsyncError('UNAUTHORIZED', 'missing or malformed bearer token');
    if (this.isAdmin(token)) return;
    const cred = await this.storage.getCredential(hashToken(token));
    if (!cred) throw new TillsyncError('UNAUTHORIZED', 'unknown credential');
    if (cred.revoked) throw new TillsyncError('CREDENTIAL_REVOKED', 'this terminal credential was revoked');
    throw new TillsyncError('FORBIDDEN', 'a terminal credential cannot use the admin API');
  }
}
