/**
 * A terminal data folder's enrollment: `agent.json` (store, terminal, cloud URL
 * and the terminal's credential) next to the LevelDB folder.
 *
 * Guarantees:
 * - Written atomically (temp file + fsync + rename), mode 0600: it holds the credential.
 * - An enrolled folder's identity and credential never change from the flags or
 *   the environment of a start (`resolveStartConfig`): a differing --store or
 *   --terminal is refused with WRONG_STORE, a differing --token or --cloud with
 *   ALREADY_ENROLLED, and a stray TILLSYNC_TOKEN is ignored. Nothing is written
 *   by a refused start. Changing them is an explicit verb: `tillsync reenroll`
 *   (agent stopped) or POST /api/credential (agent running).
 * - A new folder's agent.json is written only after the agent started on it,
 *   so a start refused by the log (LOG_LOCKED, WRONG_STORE) leaves no file.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { entityId } from '../events/event-types.ts';
import { parseWith } from '../events/validate.ts';
import { assertNoCardData } from '../events/card-data.ts';
import { makePrivateDir } from '../events/private-dir.ts';
import { writePrivateFileAtomic } from '../events/atomic-file.ts';

export const AGENT_CONFIG_FILE = 'agent.json';

/**
 * A terminal credential as it travels in `Authorization: Bearer …`: RFC 6750's
 * token68 characters only. A control character, space or non-ASCII character
 * could never be sent as a header (it made the next request throw) nor match at
 * the cloud, so it is refused before anything is written.
 */
export const credentialToken = z.string().min(16).max(200).regex(/^[A-Za-z0-9._~+/=-]+$/, 'a credential holds only letters, digits and . _ ~ + / = -');

/** What an enrolled terminal keeps next to its LevelDB folder. */
export const agentConfigSchema = z.strictObject({
  store: entityId,
  terminal: entityId,
  cloudUrl: z.string().url(),
  token: credentialToken,
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;

export async function readAgentConfig(dataDir: string): Promise<AgentConfig | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, AGENT_CONFIG_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TillsyncError('JSON_MALFORMED', `${AGENT_CONFIG_FILE} is not valid JSON`, { cause: err });
  }
  return parseWith(agentConfigSchema, raw, AGENT_CONFIG_FILE);
}

/** Writes the config atomically (temp file + fsync + rename), readable by the owner only: it holds the credential. */
export async function writeAgentConfig(dataDir: string, config: AgentConfig): Promise<void> {
  assertNoCardData(config);
  await makePrivateDir(dataDir);
  const text = `${JSON.stringify(parseWith(agentConfigSchema, config, AGENT_CONFIG_FILE), null, 2)}\n`;
  await writePrivateFileAtomic(join(dataDir, AGENT_CONFIG_FILE), text);
}

export interface StartFlags {
  store?: string | undefined;
  terminal?: string | undefined;
  cloud?: string | undefined;
  token?: string | undefined;
  /** TILLSYNC_TOKEN from the environment. */
  envToken?: string | undefined;
}

/**
 * The config a `tillsync terminal` start runs with, and whether it must be
 * written (a first enrollment). Throws, changing nothing, when the flags would
 * change an enrolled folder's identity or credential.
 */
export function resolveStartConfig(saved: AgentConfig | undefined, flags: StartFlags): { config: AgentConfig; isNew: boolean; ignoredEnvToken: boolean } {
  if (!saved) {
    const token = flags.token ?? flags.envToken;
    if (!flags.store || !flags.terminal || !flags.cloud || !token) {
      throw new TillsyncError('VALIDATION_FAILED', 'first start needs --store, --terminal, --cloud and --token (or TILLSYNC_TOKEN)');
    }
    const config = parseWith(agentConfigSchema, { store: flags.store, terminal: flags.terminal, cloudUrl: flags.cloud, token }, 'enrollment');
    return { config, isNew: true, ignoredEnvToken: false };
  }
  if ((flags.store !== undefined && flags.store !== saved.store) || (flags.terminal !== undefined && flags.terminal !== saved.terminal)) {
    throw new TillsyncError('WRONG_STORE', `this data folder is enrolled as ${saved.store}/${saved.terminal}; agent.json was not changed`, {
      details: { expected: { store: saved.store, terminal: saved.terminal }, found: { store: flags.store ?? saved.store, terminal: flags.terminal ?? saved.terminal } },
    });
  }
  const changed = [
    ...(flags.token !== undefined && flags.token !== saved.token ? ['--token'] : []),
    ...(flags.cloud !== undefined && flags.cloud !== saved.cloudUrl ? ['--cloud'] : []),
  ];
  if (changed.length > 0) {
    throw new TillsyncError('ALREADY_ENROLLED', `this data folder is enrolled already: ${changed.join(' and ')} would change it; agent.json was not changed (use tillsync reenroll)`, {
      details: { flags: changed },
    });
  }
  return { config: saved, isNew: false, ignoredEnvToken: flags.envToken !== undefined && flags.envToken !== saved.token };
}

/** `tillsync reenroll`: a new credential and/or cloud URL for an enrolled folder (identity stays). */
export function reenrolledConfig(saved: AgentConfig | undefined, change: { token?: string | undefined; cloud?: string | undefined }): AgentConfig {
  if (!saved) throw new TillsyncError('VALIDATION_FAILED', `no ${AGENT_CONFIG_FILE} here: a first start enrolls the folder`);
  if (change.token === undefined && change.cloud === undefined) throw new TillsyncError('VALIDATION_FAILED', 'reenroll needs --token and/or --cloud');
  return parseWith(agentConfigSchema, { ...saved, ...(change.token !== undefined ? { token: change.token } : {}), ...(change.cloud !== undefined ? { cloudUrl: change.cloud } : {}) }, 'reenroll');
}
