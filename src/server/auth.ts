/**
 * Credentials. A terminal token is 32 random bytes (base64url, prefixed
 * `tsk_`), shown once and stored only as its SHA-256; it is bound to one store
 * and one terminal and can be revoked. The admin token is compared in constant
 * time. Checking order: no or unknown token → UNAUTHORIZED, revoked →
 * CREDENTIAL_REVOKED, valid but not allowed here → FORBIDDEN.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
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

export class Auth {
  private readonly adminHash: Buffer | undefined;

  constructor(
    private readonly storage: CloudStorage,
    adminToken: string | undefined,
  ) {
    this.adminHash = adminToken ? createHash('sha256').update(adminToken).digest() : undefined;
  }

  private isAdmin(token: string): boolean {
    if (!this.adminHash) return false;
    return timingSafeEqual(createHash('sha256').update(token).digest(), this.adminHash);
  }

  /** A valid, unrevoked terminal credential, or throws. */
  async terminal(headers: IncomingHttpHeaders): Promise<CredentialRecord> {
    const token = bearerToken(headers);
    if (token === undefined) throw new TillsyncError('UNAUTHORIZED', 'missing or malformed bearer token');
    const cred = await this.storage.getCredential(hashToken(token));
    if (!cred) {
      if (this.isAdmin(token)) throw new TillsyncError('FORBIDDEN', 'the admin token is not a terminal credential');
      throw new TillsyncError('UNAUTHORIZED', 'unknown credential');
    }
    if (cred.revoked) throw new TillsyncError('CREDENTIAL_REVOKED', 'this terminal credential was revoked');
    return cred;
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
