/**
 * The staff who may sign in on this terminal's pages, kept locally in
 * `staff.json` in the agent's data folder (0600, written atomically).
 *
 * A PIN (or longer password) is never stored: only a per-account random salt
 * and its scrypt hash, compared in constant time. Unknown staff ids cost the
 * same scrypt run as known ones, so timing does not tell which ids exist.
 * Five wrong PINs in a row lock that staff id for a minute (SIGN_IN_LOCKED).
 */
import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { parseWith } from '../events/validate.ts';
import { writePrivateFileAtomic } from '../events/atomic-file.ts';

export const STAFF_FILE = 'staff.json';
export const ROLES = ['cashier', 'manager'] as const;
export type Role = (typeof ROLES)[number];

export const staffId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,31}$/, 'a staff id is 1-32 lower-case letters, digits, dot, dash or underscore');
/** A PIN of 4+ digits or a password; long enough to be worth a hash, short enough to type at a till. */
export const staffSecret = z.string().min(4).max(128);

export const staffInput = z.strictObject({
  id: staffId,
  name: z.string().min(1).max(80),
  role: z.enum(ROLES),
  pin: staffSecret,
});
export type StaffInput = z.infer<typeof staffInput>;

const accountSchema = z.strictObject({
  id: staffId,
  name: z.string().min(1).max(80),
  role: z.enum(ROLES),
  salt: z.string().min(16).max(64),
  hash: z.string().min(32).max(200),
});
type Account = z.infer<typeof accountSchema>;
const fileSchema = z.strictObject({ version: z.literal(1), staff: z.array(accountSchema).max(500) });

export interface StaffMember {
  id: string;
  name: string;
  role: Role;
}

const MAX_FAILURES = 5;
const LOCK_MS = 60_000;
const KEY_LEN = 32;

function hashSecret(secret: string, salt: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LEN, { N: 16_384, r: 8, p: 1 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

async function makeAccount(input: StaffInput): Promise<Account> {
  const salt = randomBytes(16).toString('base64url');
  const hash = (await hashSecret(input.pin, salt)).toString('base64url');
  return { id: input.id, name: input.name, role: input.role, salt, hash };
}

/** A random 6-digit PIN for the first manager of a terminal that was given none. */
export function randomPin(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

export class StaffAccounts {
  private readonly failures = new Map<string, { count: number; lockedUntil: number }>();
  private readonly dummySalt = randomBytes(16).toString('base64url');

  private constructor(private readonly file: string, private accounts: Account[]) {}

  /**
   * Opens `staff.json`; when the folder has none, creates it with `initial`
   * (or, if that is empty too, one manager with a random PIN, returned in
   * `created` so the caller can show it once).
   */
  static async open(dataDir: string, initial: StaffInput[] = []): Promise<{ staff: StaffAccounts; created?: StaffInput[] }> {
    const file = join(dataDir, STAFF_FILE);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        throw new TillsyncError('JSON_MALFORMED', `${STAFF_FILE} is not valid JSON`, { cause: err });
      }
      return { staff: new StaffAccounts(file, parseWith(fileSchema, raw, STAFF_FILE).staff) };
    }
    const created = initial.length > 0 ? initial.map((s) => parseWith(staffInput, s, 'staff'))
      : [{ id: 'manager', name: 'Manager', role: 'manager' as const, pin: randomPin() }];
    const staff = new StaffAccounts(file, []);
    for (const s of created) staff.accounts.push(await makeAccount(s));
    await staff.save();
    return { staff, created };
  }

  list(): StaffMember[] {
    return this.accounts.map(({ id, name, role }) => ({ id, name, role }));
  }

  /** Adds the account, or replaces name, role and PIN of an existing one. */
  async set(input: StaffInput): Promise<StaffMember> {
    const account = await makeAccount(parseWith(staffInput, input, 'staff'));
    const i = this.accounts.findIndex((a) => a.id === account.id);
    if (i >= 0) this.accounts[i] = account;
    else this.accounts.push(account);
    this.failures.delete(account.id);
    await this.save();
    return { id: account.id, name: account.name, role: account.role };
  }

  /** The staff member whose PIN this is, or SIGN_IN_FAILED / SIGN_IN_LOCKED. */
  async verify(id: string, pin: string, now = Date.now()): Promise<StaffMember> {
    const f = this.failures.get(id);
    if (f && f.lockedUntil > now) {
      throw new TillsyncError('SIGN_IN_LOCKED', `staff ${id} is locked after ${MAX_FAILURES} wrong PINs`, {
        details: { retryAfterMs: f.lockedUntil - now },
      });
    }
    const account = this.accounts.find((a) => a.id === id);
    const key = await hashSecret(pin, account?.salt ?? this.dummySalt);
    const ok = account !== undefined && timingSafeEqual(key, Buffer.from(account.hash, 'base64url'));
    if (!ok || !account) {
      // An expired lock starts the count again.
      const count = (f && f.lockedUntil === 0 ? f.count : 0) + 1;
      // The map is bounded: ids nobody has are not remembered beyond a few hundred.
      if (this.failures.size > 1_000) this.failures.clear();
      this.failures.set(id, { count, lockedUntil: count >= MAX_FAILURES ? now + LOCK_MS : 0 });
      throw new TillsyncError('SIGN_IN_FAILED', 'wrong staff id or PIN');
    }
    this.failures.delete(id);
    return { id: account.id, name: account.name, role: account.role };
  }

  private async save(): Promise<void> {
    await writePrivateFileAtomic(this.file, `${JSON.stringify({ version: 1, staff: this.accounts }, null, 2)}\n`);
  }
}
