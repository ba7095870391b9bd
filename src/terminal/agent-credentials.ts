/**
 * Who may call the terminal agent, and how they prove it:
 *
 * - the **pairing token** in `agent-token` (data folder, 0600, created on first
 *   start): whoever can read the agent user's files is its technician
 *   (manager role). The CLI and trusted integrations send it as
 *   `Authorization: Bearer <token>`;
 * - **front-end tokens** a manager issues for a POS front end with a role
 *   (`POST /api/pairings`); only their SHA-256 is kept (`pairings.json`, 0600),
 *   the token is shown once;
 * - **staff sessions** for the pages: a staff sign-in (id + PIN) gets a random
 *   session id in an HttpOnly, SameSite=Strict cookie. Sessions live in memory
 *   (a restart signs everyone out), end after 4 h idle or 12 h in all, and at
 *   most 200 are kept (the oldest goes first).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { parseWith } from '../events/validate.ts';
import { writePrivateFileAtomic } from '../events/atomic-file.ts';
import { ROLES, type Role, type StaffAccounts } from './staff-accounts.ts';

export const PAIRING_TOKEN_FILE = 'agent-token';
export const PAIRINGS_FILE = 'pairings.json';
export const SESSION_IDLE_MS = 4 * 3_600_000;
export const SESSION_MAX_MS = 12 * 3_600_000;
const MAX_SESSIONS = 200;

/** Whoever a request acts for; written into the audit log. */
export interface Actor {
  kind: 'staff' | 'token';
  id: string;
  name: string;
  role: Role;
}

const pairingSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]{1,40}$/),
  name: z.string().min(1).max(80),
  role: z.enum(ROLES),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  created: z.number().int().nonnegative(),
});
type Pairing = z.infer<typeof pairingSchema>;
const pairingsFile = z.strictObject({ version: z.literal(1), pairings: z.array(pairingSchema).max(200) });

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const newToken = (): string => randomBytes(32).toString('base64url');

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}


export class AgentCredentials {
  private readonly sessions = new Map<string, { actor: Actor; created: number; seen: number }>();

  private constructor(
    readonly dataDir: string,
    readonly staff: StaffAccounts,
    private readonly technicianHash: string,
    private pairings: Pairing[],
  ) {}

  /** Reads (or creates, 0600) the pairing token file and the issued front-end tokens. */
  static async open(dataDir: string, staff: StaffAccounts): Promise<AgentCredentials> {
    const tokenPath = join(dataDir, PAIRING_TOKEN_FILE);
    let token = (await readOptional(tokenPath))?.trim();
    if (!token || token.length < 32) {
      token = newToken();
      await writePrivateFileAtomic(tokenPath, `${token}\n`);
    } else {
      // The file is the credential: keep it the agent user's alone.
      await chmod(tokenPath, 0o600);
    }
    const text = await readOptional(join(dataDir, PAIRINGS_FILE));
    let pairings: Pairing[] = [];
    if (text !== undefined) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        throw new TillsyncError('JSON_MALFORMED', `${PAIRINGS_FILE} is not valid JSON`, { cause: err });
      }
      pairings = parseWith(pairingsFile, raw, PAIRINGS_FILE).pairings;
    }
    return new AgentCredentials(dataDir, staff, sha256(token), pairings);
  }

  get pairingTokenFile(): string {
    return join(this.dataDir, PAIRING_TOKEN_FILE);
  }

  /** The actor of a bearer token, or undefined. */
  bearer(token: string): Actor | undefined {
    const h = sha256(token);
    if (h === this.technicianHash) return { kind: 'token', id: 'technician', name: 'pairing token (agent-token)', role: 'manager' };
    const p = this.pairings.find((x) => x.hash === h);
    return p ? { kind: 'token', id: p.id, name: p.name, role: p.role } : undefined;
  }

  /** Issues a token for a POS front end; the token itself is returned only here. */
  async issuePairing(req: { name: string; role: Role }, now = Date.now()): Promise<{ id: string; name: string; role: Role; token: string }> {
    const token = newToken();
    const id = `pos-${randomBytes(4).toString('hex')}`;
    this.pairings.push({ id, name: req.name, role: req.role, hash: sha256(token), created: now });
    await this.savePairings();
    return { id, name: req.name, role: req.role, token };
  }

  listPairings(): Array<Omit<Pairing, 'hash'>> {
    return this.pairings.map(({ hash, ...rest }) => { void hash; return rest; });
  }

  async revokePairing(id: string): Promise<boolean> {
    const before = this.pairings.length;
    this.pairings = this.pairings.filter((p) => p.id !== id);
    if (this.pairings.length === before) return false;
    await this.savePairings();
    return true;
  }

  /** Checks the PIN and opens a session; returns its id (for the cookie) and who signed in. */
  async signIn(staffId: string, pin: string, now = Date.now()): Promise<{ session: string; actor: Actor }> {
    const m = await this.staff.verify(staffId, pin, now);
    const session = newToken();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const actor: Actor = { kind: 'staff', id: m.id, name: m.name, role: m.role };
    this.sessions.set(sha256(session), { actor, created: now, seen: now });
    return { session, actor };
  }

  /** The actor of a live session, or undefined (unknown, idle too long, too old). */
  session(session: string, now = Date.now()): Actor | undefined {
    const key = sha256(session);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (now - s.seen > SESSION_IDLE_MS || now - s.created > SESSION_MAX_MS) {
      this.sessions.delete(key);
      return undefined;
    }
    s.seen = now;
    return s.actor;
  }

  endSession(session: string): void {
    this.sessions.delete(sha256(session));
  }

  /** Ends every session of a staff member (their PIN or role changed). */
  endSessionsOf(staffId: string): void {
    for (const [k, s] of this.sessions) if (s.actor.kind === 'staff' && s.actor.id === staffId) this.sessions.delete(k);
  }

  private savePairings(): Promise<void> {
    return writePrivateFileAtomic(join(this.dataDir, PAIRINGS_FILE), `${JSON.stringify({ version: 1, pairings: this.pairings }, null, 2)}\n`);
  }
}
