/**
 * What the CLI's terminal-side verbs share: the flags that name an agent and
 * its pairing token, and the sources a read-only verb (audit, replay, a day
 * report check) can read from — an agent, a stopped terminal's data folder,
 * or the cloud with the admin credential.
 */
import { Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readAgentConfig } from '../terminal/agent-config.ts';
import { Terminal } from '../terminal/terminal.ts';
import { AgentClient, DEFAULT_AGENT_URL, agentToken } from './agent-client.ts';
import type { CloudAccess } from './cloud-history.ts';
import { usageError } from './output.ts';

export interface AgentFlags {
  agent?: string;
  agentTokenFile?: string;
  json?: boolean;
}

export const agentOption = () => new Option('--agent <url>', `terminal agent URL (env TILLSYNC_AGENT; else the running demo's first terminal, else ${DEFAULT_AGENT_URL})`);
export const agentTokenOption = () => new Option('--agent-token-file <file>', "the agent's pairing token file: <data folder>/agent-token (env TILLSYNC_AGENT_TOKEN_FILE, or the token in TILLSYNC_AGENT_TOKEN)");
/** What `tillsync demo` writes for the CLI while it runs (DEMO_CLI_FILE in its data folder). */
export interface DemoCliFile {
  cloud: string;
  agents: Array<{ terminal: string; url: string; tokenFile: string }>;
}
export const DEMO_CLI_FILE = 'cli.json';
/** Where `npm start` keeps its data, relative to the folder the CLI runs in. */
export const DEMO_DATA_DIR = 'tillsync-data';

function runningDemo(): DemoCliFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(resolve(DEMO_DATA_DIR, DEMO_CLI_FILE), 'utf8')) as DemoCliFile;
    return Array.isArray(parsed.agents) && parsed.agents.length > 0 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The agent a verb talks to and its pairing token file: `--agent` / TILLSYNC_AGENT, else the
 * demo started from this folder (`npm start` writes tillsync-data/cli.json while it runs), else
 * the default port. The demo's token file is used only for the demo's own agent.
 */
export function resolveAgent(o: AgentFlags): { url: string; tokenFile: string | undefined } {
  const named = o.agent ?? (process.env.TILLSYNC_AGENT || undefined);
  const demo = runningDemo();
  const url = (named ?? demo?.agents[0]!.url ?? DEFAULT_AGENT_URL).replace(/\/+$/, '');
  const fromDemo = demo?.agents.find((a) => a.url === url)?.tokenFile;
  return { url, tokenFile: o.agentTokenFile ?? (process.env.TILLSYNC_AGENT_TOKEN_FILE ? undefined : fromDemo) };
}

export const clientFor = (o: AgentFlags): AgentClient => {
  const { url, tokenFile } = resolveAgent(o);
  return new AgentClient(url, agentToken(tokenFile));
};
export const jsonOption = () => new Option('--json', 'print JSON for scripts');

export function cloudAccess(cloud: string, adminToken: string | undefined, store: string | undefined): CloudAccess {
  const token = adminToken ?? process.env.TILLSYNC_ADMIN_TOKEN;
  if (!token || !store) throw usageError('--cloud needs --admin-token (or TILLSYNC_ADMIN_TOKEN) and --store');
  return { cloud: cloud.replace(/\/$/, ''), adminToken: token, store };
}

/**
 * The cloud to read from for replay / audit: `--cloud`, else TILLSYNC_CLOUD —
 * unless `--data` was given: a flag on the command line beats the environment.
 * (`--data` with `--cloud` is refused by commander: the verbs declare
 * `--data` `.conflicts('cloud')`; `--cloud` is deliberately not `.env()`-bound,
 * or an exported TILLSYNC_CLOUD would conflict with `--data` too.)
 */
export function sourceCloud(o: { data?: string; cloud?: string }): string | undefined {
  if (o.data !== undefined) return undefined;
  return o.cloud ?? process.env.TILLSYNC_CLOUD;
}

/** Opens a terminal data folder directly (the agent must be stopped: LevelDB allows one process). */
export async function openFolder(dataDir: string): Promise<Terminal> {
  const config = await readAgentConfig(dataDir);
  if (!config) throw usageError(`${dataDir} holds no ${'agent.json'}: is it a terminal data folder?`);
  return Terminal.open(join(dataDir, 'db'), { store: config.store, terminal: config.terminal, verifyOnOpen: 0 });
}

