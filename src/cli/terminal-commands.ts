/**
 * CLI verbs for the terminal side: run the agent, and every Sync Manager
 * operation against a running agent (`--agent URL`, default 127.0.0.1:7420).
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { TillsyncError } from '../errors.ts';
import { LOCAL_MODE_HOURS } from '../replication/local-mode.ts';
import type { AuditReport } from '../terminal/audit.ts';
import { auditTerminal, replayTerminal } from '../terminal/audit.ts';
import { DEFAULT_REFUND_LIMIT, TerminalAgent, type AgentStatus } from '../terminal/agent.ts';
import { DEFAULT_CHECKOUT_WARNINGS } from '../terminal/access-control.ts';
import { readAgentConfig, reenrolledConfig, resolveStartConfig, writeAgentConfig } from '../terminal/agent-config.ts';
import { openLevel } from '../events/level-util.ts';
import { logLevelFromEnv } from '../http/logging.ts';
import { isLoopbackHost } from '../http/request-guard.ts';
import type { CleanupReport } from '../terminal/cleanup.ts';
import type { ForceResyncDryRun, ForceResyncReport } from '../terminal/force-resync.ts';
import type { FullResyncReport } from '../terminal/full-resync.ts';
import type { RecoveryReport } from '../terminal/recovery.ts';
import { auditDayReport } from './day-commands.ts';
import { agentOption, agentTokenOption, clientFor, cloudAccess, jsonOption, openFolder, sourceCloud, type AgentFlags } from './agent-flags.ts';
import { auditCloud, cloudEvents, cloudTerminals } from './cloud-history.ts';
import { numberFrom, port, wholeNumber } from './flag-values.ts';
import { CliExit, EXIT, Progress, formatAge, formatBytes, formatCents, formatTime, usageError } from './output.ts';

function print(json: boolean | undefined, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

/** "30d", "12h", "90m" or a bare number of days → days (a commander flag parser). */
export function parseRetention(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(d|h|m)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('--older-than takes a duration like 30d, 12h or 90m.');
  const n = Number(m[1]);
  const unit = m[2] ?? 'd';
  return unit === 'd' ? n : unit === 'h' ? n / 24 : n / 1440;
}

async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new CliExit(EXIT.usage, `${question} — pass --yes to confirm when not running interactively`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliExit(EXIT.failed, 'cancelled');
}

export function describeStatus(s: AgentStatus): string {
  const c = s.sync.connection;
  const conn = c.state === 'local' ? `local mode${c.until ? ` until ${formatTime(c.until)}` : ''}`
    : c.state === 'offline' ? `offline${c.error ? ` (${c.error})` : ''}${c.retryAt ? `, retry at ${formatTime(c.retryAt)}` : ''}`
    : c.state === 'stuck' ? `stuck (${c.error}: ${c.message})`
    : c.state === 'revoked' ? `credential revoked (${c.error})` : 'online';
  const up = s.sync.lastUp ? `${formatTime(s.sync.lastUp.at)}: ${s.sync.lastUp.uploaded} uploaded, ${s.sync.lastUp.duplicates} duplicates` : 'never';
  const down = s.sync.lastDown ? `${formatTime(s.sync.lastDown.at)}: ${s.sync.lastDown.changes} changes, cursor ${s.sync.lastDown.cursor}` : 'never';
  const lines = [
    `store ${s.store}, terminal ${s.terminal}, cloud ${s.cloudUrl}`,
    `connection:        ${conn}`,
    `uploaded:          ${s.sync.uploaded} transactions (events) acknowledged by the cloud`,
    `not yet uploaded:  ${s.unsynced.sales === 0 ? 'no sales' : `${s.unsynced.sales === 1 ? '1 sale' : `${s.unsynced.sales} sales`}, ${formatCents(s.unsynced.amount)}, oldest ${formatAge(s.unsynced.oldestAgeMs)} ago`} (${s.sync.pending} events)`,
    `quarantined:       ${s.sync.quarantined}   conflicts: ${s.sync.conflicts}`,
    `last sync up:      ${up}${s.sync.lastUpError ? `   last error ${s.sync.lastUpError.code}` : ''}`,
    `last sync down:    ${down}${s.sync.lastDownError ? `   last error ${s.sync.lastDownError.code}` : ''}`,
    `oldest unsynced payment: ${formatAge(s.sync.oldestUnsyncedPaymentAgeMs)}`,
    `card deadline:     ${s.cardWindow.leftMs === null ? 'no card payment waiting' : s.cardWindow.leftMs > 0 ? `${formatAge(s.cardWindow.leftMs)} left` : `past by ${formatAge(-s.cardWindow.leftMs)}`} (the processor's window: ${formatAge(s.cardWindow.windowMs)})`,
    `log:               seq ${s.log.base + 1}..${s.log.head} (${s.log.health}), ${formatBytes(s.sync.logBytes)} on disk`,
    `open exceptions:   ${s.sync.openExceptions ?? 'unknown'}`,
  ];
  if (s.alarm.level !== 'ok') lines.splice(1, 0, ...s.alarm.reasons.map((r) => `alarm (${r.level}):${' '.repeat(r.level === 'red' ? 5 : 3)}${r.text} ${r.todo}`));
  if (s.operation) lines.push(`running:           ${s.operation.name} (${s.operation.phase} ${s.operation.done}/${s.operation.total})`);
  if (s.lastOperation) lines.push(`last operation:    ${s.lastOperation.name} ${s.lastOperation.ok ? 'ok' : s.lastOperation.interrupted ? 'interrupted (cut short by a stop or kill)' : `failed ${s.lastOperation.error?.code}`} at ${formatTime(s.lastOperation.at)}`);
  if (s.resyncInProgress && s.operation?.name !== 'full-resync') lines.push('full resync:       waiting to finish (at the next start, or run tillsync resync --full again); the current data keeps serving');
  return lines.join('\n');
}

function printAudit(report: AuditReport, json: boolean | undefined): void {
  print(json, report, () => [
    report.terminal === '*' ? `audit of store ${report.store} on the cloud: ${report.events} events of every terminal checked`
      : `audit of ${report.store}/${report.terminal}: ${report.events} events checked (seq ${report.from}..${report.to})`,
    ...(report.findings.length === 0 ? [report.terminal === '*' ? "clean: every terminal's sequence gapless and hash chain intact" : 'clean: sequence gapless, hash chain intact, views equal a rebuild from history']
      : report.findings.map((f) => `FINDING ${f.code}${f.seq !== undefined ? ` at seq ${f.seq}` : ''}${f.view ? ` in ${f.view}/${f.key}` : ''}: ${f.detail}`)),
  ].join('\n'));
  if (!report.ok) throw new CliExit(EXIT.findings);
}

/** The agent's TLS certificate and key (PEM); an unreadable file or a pair that is not PEM is VALIDATION_FAILED, before anything is written. */
async function readTlsFiles(certFile: string, keyFile: string): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (file: string, flag: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new TillsyncError('VALIDATION_FAILED', `${flag} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  };
  const files = { cert: await read(certFile, '--tls-cert'), key: await read(keyFile, '--tls-key') };
  try {
    createSecureContext(files);
  } catch (err) {
    throw new TillsyncError('VALIDATION_FAILED', `--tls-cert ${certFile} and --tls-key ${keyFile} are not a PEM certificate and its key: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return files;
}

export function registerTerminalCommands(program: Command): void {
  program
    .command('terminal')
    .description('run the terminal agent: event log, sync worker, local API, Sync Manager and checkout pages')
    .requiredOption('--data <dir>', 'terminal data folder (created if missing)')
    .option('--store <id>', 'store id (first start / re-enrollment)')
    .option('--terminal <id>', 'terminal id (first start / re-enrollment)')
    .option('--cloud <url>', 'cloud server URL')
    .option('--token <token>', 'terminal credential (or env TILLSYNC_TOKEN)')
    .option('--host <host>', 'address to serve on; anything but loopback exposes the agent to the network and needs --tls-cert and --tls-key', '127.0.0.1')
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (env TILLSYNC_TLS_CERT)').env('TILLSYNC_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the PEM private key of --tls-cert (env TILLSYNC_TLS_KEY)').env('TILLSYNC_TLS_KEY'))
    .option('--port <port>', 'port to serve on (0: any free port)', port('--port'), 7420)
    .option('--refund-limit <cents>', 'largest refund a cashier may give, in cents; above it needs a manager', wholeNumber('--refund-limit', 0, Number.MAX_SAFE_INTEGER, 'a whole number of cents'), DEFAULT_REFUND_LIMIT)
    .option('--warn-quantity <n>', 'the checkout asks to check a line with more than N of an item', wholeNumber('--warn-quantity', 1, 999_999), DEFAULT_CHECKOUT_WARNINGS.quantity)
    .option('--warn-total <cents>', 'the checkout asks to check a sale above this total, in cents', wholeNumber('--warn-total', 1, 999_999_999_999, 'a whole number of cents'), DEFAULT_CHECKOUT_WARNINGS.totalCents)
    .action(async (o: { data: string; store?: string; terminal?: string; cloud?: string; token?: string; host: string; port: number; refundLimit: number; warnQuantity: number; warnTotal: number; tlsCert?: string; tlsKey?: string }) => {
      const { port, refundLimit } = o;
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new CliExit(EXIT.usage, 'tillsync: --tls-cert and --tls-key go together');
      const offLoopback = !isLoopbackHost(o.host);
      // PINs, tokens and customer data must never cross a network in clear: refused before anything is written.
      if (offLoopback && o.tlsCert === undefined) throw new CliExit(EXIT.usage, `tillsync: --host ${o.host} is not loopback: serving beyond this computer needs --tls-cert and --tls-key`);
      const tls = o.tlsCert !== undefined && o.tlsKey !== undefined ? await readTlsFiles(o.tlsCert, o.tlsKey) : undefined;
      const checkoutWarnings = { quantity: o.warnQuantity, totalCents: o.warnTotal };
      // An enrolled folder's identity and credential never change from flags (refused before anything is written).
      const saved = await readAgentConfig(o.data);
      const { config, isNew, ignoredEnvToken } = resolveStartConfig(saved, {
        store: o.store, terminal: o.terminal, cloud: o.cloud, token: o.token, envToken: process.env.TILLSYNC_TOKEN,
      });
      if (ignoredEnvToken) console.error('tillsync: TILLSYNC_TOKEN is ignored: this folder is enrolled with its own credential (tillsync reenroll changes it)');
      if (offLoopback) {
        console.error(`WARNING: --host ${o.host} serves the terminal agent beyond this computer (HTTPS with ${o.tlsCert}).`);
        console.error('  Traffic is encrypted and every caller must sign in or send the pairing token, but anyone on the network can reach the sign-in.');
        console.error('  Use it on a trusted network only; the default 127.0.0.1 keeps it on this machine.');
      }
      const agent = await TerminalAgent.start({
        ...config, dataDir: o.data, host: o.host, port, refundLimit, checkoutWarnings, ...(tls ? { tls } : {}), logging: { level: logLevelFromEnv('info') },
      });
      // Written only once the log accepted this folder (a refused start leaves no agent.json behind).
      if (isNew) await writeAgentConfig(o.data, config);
      console.log(`terminal ${config.store}/${config.terminal} agent on ${agent.url}`);
      console.log(`  Sync Manager: ${agent.url}/`);
      console.log(`  Checkout:     ${agent.url}/checkout`);
      console.log(`  pairing token (CLI, POS front ends; readable by this user only): ${agent.pairingTokenFile}`);
      for (const s of agent.createdStaff) {
        console.log(`  new staff account ${s.id} (${s.role}), PIN ${s.pin}: shown once, change it with \`tillsync staff set\``);
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        // `on`, not `once`: a second SIGINT (npm forwards one) must not kill us mid-shutdown.
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await agent.stop();
    });

  program
    .command('reenroll')
    .description("give a stopped terminal's data folder a new credential and/or cloud URL (its store and terminal stay)")
    .requiredOption('--data <dir>', 'terminal data folder')
    .option('--token <token>', 'the new terminal credential (from tillsync admin terminal token)')
    .option('--cloud <url>', 'the new cloud server URL')
    .addOption(jsonOption())
    .action(async (o: { data: string; token?: string; cloud?: string; json?: boolean }) => {
      const next = reenrolledConfig(await readAgentConfig(o.data), { token: o.token, cloud: o.cloud });
      // The agent must be stopped: holding the folder's LevelDB lock proves it is.
      const db = await openLevel(join(o.data, 'db'));
      try {
        await writeAgentConfig(o.data, next);
      } finally {
        await db.close();
      }
      print(o.json, { store: next.store, terminal: next.terminal, cloudUrl: next.cloudUrl }, () => `re-enrolled ${next.store}/${next.terminal} with cloud ${next.cloudUrl}; start it with tillsync terminal --data ${o.data}`);
    });

  program.command('status').description('sync state of a running terminal').addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags) => {
      const s = await clientFor(o).status();
      print(o.json, s, () => describeStatus(s));
    });

  const local = program.command('local-mode').description('work offline from local storage');
  local.command('on').description('turn local mode on, optionally for N hours')
    .option('--hours <n>', 'turn off by itself after N hours (at most 14 days)', numberFrom('--hours', LOCAL_MODE_HOURS.min, LOCAL_MODE_HOURS.max, 'a number of hours'))
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { hours?: number }) => {
      const { hours } = o;
      const s = await clientFor(o).request<AgentStatus>('POST', '/api/local-mode', hours === undefined ? { on: true } : { on: true, hours });
      print(o.json, s, () => describeStatus(s));
    });
  local.command('off').description('turn local mode off and sync at once').addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags) => {
      const s = await clientFor(o).request<AgentStatus>('POST', '/api/local-mode', { on: false });
      print(o.json, s, () => describeStatus(s));
    });

  const sync = program.command('sync').description('trigger a sync now: up (sales and payments) or down (items, customers, balances)');
  sync.command('up').description('upload sales and payments now').addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags) => {
      const r = await clientFor(o).request<Record<string, number>>('POST', '/api/sync/up');
      print(o.json, r, () => `sync up: ${r.uploaded ?? 0} uploaded, ${r.duplicates ?? 0} already on the cloud, ${r.quarantined ?? 0} quarantined; cloud has up to seq ${r.ackSeq ?? '?'}`);
    });
  sync.command('down').description('download items, customers and balances now').addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags) => {
      const r = await clientFor(o).request<Record<string, number>>('POST', '/api/sync/down');
      print(o.json, r, () => `sync down: ${r.changes ?? 0} changes applied, cursor ${r.cursor ?? '?'}`);
    });

  program.command('resync').description('full data resync (--full) or force re-upload of local transactions (--force)')
    .addOption(new Option('--full', 'discard downloaded data and download everything again').conflicts('force'))
    .addOption(new Option('--export-unsynced <file>', 'with --full: if unsynced sales cannot be uploaded, export them to this file and go on').conflicts('force'))
    .option('--force', 're-upload the whole retained log; the cloud skips what it has')
    .addOption(new Option('--dry-run', 'with --force: only report what the cloud has, lacks or holds differently').conflicts('full'))
    .option('--yes', 'do not ask for confirmation')
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { full?: boolean; force?: boolean; dryRun?: boolean; yes?: boolean; exportUnsynced?: string }) => {
      // Both at once, and --dry-run / --export-unsynced with the other one, are refused by commander (.conflicts).
      if (!o.full && !o.force) throw usageError('choose exactly one of --full or --force');
      const client = clientFor(o);
      if (o.full) {
        await confirm('Discard all downloaded data and download everything again?', o.yes);
        const r = await client.withProgress<FullResyncReport>('/api/resync/full', o.exportUnsynced ? { exportUnsyncedTo: o.exportUnsynced } : {}, new Progress('full resync', !!o.json));
        print(o.json, r, () => [
          `full resync done: ${r.digest.items.count} items, ${r.digest.customers.count} customers, ${r.digest.balances.count} balances, ${r.digest.vouchers.count} vouchers; verified against the cloud`,
          r.exportedTo ? `override: ${r.exportedEvents} unsynced events exported to ${r.exportedTo}` : r.uploadedFirst ? `${r.pendingBefore} unsynced events were uploaded first` : 'nothing was waiting to upload',
        ].join('\n'));
        return;
      }
      const dry = await client.withProgress<ForceResyncDryRun>('/api/resync/force', { dryRun: true }, new Progress('checking', !!o.json));
      const dryText = `the cloud has ${dry.have}, lacks ${dry.lack}, holds ${dry.different} with different content (of ${dry.total} retained events)${dry.different ? `; different at seq ${dry.differentSeqs.join(', ')}` : ''}`;
      if (o.dryRun) {
        print(o.json, dry, () => `dry run: ${dryText}`);
        return;
      }
      if (!o.json) console.error(`dry run: ${dryText}`);
      await confirm(`Re-upload all ${dry.total} events?`, o.yes);
      const r = await client.withProgress<ForceResyncReport>('/api/resync/force', { dryRun: false }, new Progress('re-upload', !!o.json));
      print(o.json, { dryRun: dry, result: r }, () => `force resync done: ${r.uploaded} uploaded, ${r.skipped} skipped (already on the cloud), ${r.quarantined} quarantined, ${r.conflicts} conflicts`);
    });

  program.command('restore').description('abort in-flight sync and restart both directions').addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags) => {
      const s = await clientFor(o).request<AgentStatus>('POST', '/api/restore');
      print(o.json, s, () => `sync service restarted (${s.sync.restarts} restarts, ${s.sync.watchdogRestarts} by the watchdog); connection ${s.sync.connection.state}`);
    });

  program.command('recover').description("restore this terminal's events from the cloud after a lost log tail (LOG_CORRUPTED) or a restored backup (LOG_BEHIND_CLOUD)")
    .option('--from-cloud', 'restore from what the cloud holds for this terminal (the only source)')
    .option('--yes', 'do not ask for confirmation')
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { fromCloud?: boolean; yes?: boolean }) => {
      if (!o.fromCloud) throw usageError('recover needs --from-cloud');
      const client = clientFor(o);
      const plan = await client.request<{ head: number; refused: { code: string; reason: string } | null }>('GET', '/api/recovery');
      if (!o.json) console.error(plan.refused ? `${plan.refused.code}: ${plan.refused.reason}` : `log head ${plan.head}; no refusal (the cloud is compared anyway)`);
      await confirm('Restore what the cloud holds for this terminal into its log?', o.yes);
      const r = await client.withProgress<RecoveryReport>('/api/recover', { fromCloud: true }, new Progress('recover', !!o.json));
      print(o.json, r, () => [
        `recovered: log head ${r.before.head} → ${r.head} (cloud held up to ${r.before.cloudAckSeq})`,
        r.restored ? `restored from the cloud: seqs ${r.restored.from}..${r.restored.to}` : 'nothing to restore from the cloud',
        ...(r.reappended ? [`${r.reappended} local events the cloud did not have were appended again after its head (copy in ${r.exportedTo})`] : []),
        r.lost ? `LOST: acknowledged seqs ${r.lost.from}..${r.lost.to} are neither in the log nor on the cloud` : 'nothing acknowledged is missing',
      ].join('\n'));
    });

  program.command('cleanup').description('remove old transactions the cloud already has')
    .addOption(new Option('--older-than <duration>', 'retention: keep everything younger than this (e.g. 30d, 12h)').argParser(parseRetention).default(30, '30d'))
    .option('--yes', 'do not ask for confirmation')
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { olderThan: number; yes?: boolean }) => {
      const days = o.olderThan;
      await confirm(`Remove acknowledged transactions older than ${days < 1 ? `${Math.round(days * 1440)} minutes` : `${days} days`} from this terminal?`, o.yes);
      const r = await clientFor(o).withProgress<CleanupReport>('/api/cleanup', { olderThanDays: days }, new Progress('cleanup', !!o.json));
      print(o.json, r, () => `cleanup: ${r.events} events removed${r.leftovers ? ` (and ${r.leftovers} left over by an interrupted cleanup)` : ''}, ${formatBytes(r.bytesFreed)} freed (${formatBytes(r.bytesBefore)} → ${formatBytes(r.bytesAfter)}); ${r.keptUnacknowledged} unacknowledged events kept`);
    });

  program.command('replay').description("stream a store's or terminal's history as JSON lines, in order")
    .addOption(new Option('--data <dir>', 'read a terminal data folder directly (agent stopped)').conflicts('cloud'))
    .option('--from <seq>', 'start at this seq', wholeNumber('--from', 1, Number.MAX_SAFE_INTEGER, 'a seq'), 1)
    .addOption(agentOption()).addOption(agentTokenOption())
    .option('--cloud <url>', "read from the cloud (admin credential) instead (env TILLSYNC_CLOUD)")
    .option('--admin-token <token>', 'admin token (env TILLSYNC_ADMIN_TOKEN)')
    .option('--store <id>', 'with --cloud: the store')
    .option('--terminal <id>', 'with --cloud: one terminal (default: every terminal of the store, one after another)')
    .action(async (o: { data?: string; from: number; agent: string; agentTokenFile?: string; cloud?: string; adminToken?: string; store?: string; terminal?: string }) => {
      const { from } = o;
      const cloud = sourceCloud(o);
      if (cloud) {
        const access = cloudAccess(cloud, o.adminToken, o.store);
        for (const terminal of o.terminal ? [o.terminal] : await cloudTerminals(access)) {
          for await (const page of cloudEvents(access, terminal, from)) {
            process.stdout.write(page.map((r) => `${JSON.stringify({ ...r.event, hash: r.hash, ...(r.quarantine ? { quarantine: r.quarantine } : {}) })}\n`).join(''));
          }
        }
        return;
      }
      if (o.data) {
        const term = await openFolder(o.data);
        try {
          for await (const line of replayTerminal(term.log, from)) process.stdout.write(`${line}\n`);
        } finally {
          await term.close();
        }
        return;
      }
      const client = clientFor(o);
      const res = await fetch(`${client.baseUrl}/api/replay?from=${from}`, { headers: client.headers }).catch((err: unknown) => {
        throw new TillsyncError('AGENT_UNREACHABLE', `no terminal agent answers at ${client.baseUrl}`, { cause: err });
      });
      if (!res.ok) {
        // The agent's refusal (AUTH_REQUIRED, FORBIDDEN_ROLE...) as any other verb reports it.
        await client.request('GET', `/api/replay?from=${from}`);
      }
      process.stdout.write(await res.text());
    });

  program.command('audit').description("verify a terminal's or a store's history and views; exit 3 on findings")
    .addOption(new Option('--data <dir>', 'audit a terminal data folder directly (agent stopped; e.g. a copied folder)').conflicts('cloud'))
    .option('--cloud <url>', "audit every terminal's chain as stored by the cloud (admin credential; env TILLSYNC_CLOUD)")
    .option('--admin-token <token>', 'admin token (env TILLSYNC_ADMIN_TOKEN)')
    .option('--store <id>', 'with --cloud: the store')
    .option('--report <file>', 'check a day report (tillsync close-day) again: unedited, and the history still adds up to it')
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { data?: string; cloud?: string; adminToken?: string; store?: string; report?: string }) => {
      if (o.report !== undefined) return auditDayReport(o.report, o);
      const cloud = sourceCloud(o);
      if (cloud) {
        // Progress only on a TTY: a page at a time, plain lines would flood a log or a pipe.
        const progress = new Progress('cloud audit', !!o.json || !process.stderr.isTTY);
        try {
          printAudit(await auditCloud(cloudAccess(cloud, o.adminToken, o.store), (d, t) => progress.update('verifying', d, t)), o.json);
        } finally {
          progress.stop();
        }
        return;
      }
      if (o.data) {
        const term = await openFolder(o.data);
        try {
          printAudit(await auditTerminal(term.log, term.views), o.json);
        } finally {
          await term.close();
        }
        return;
      }
      printAudit(await clientFor(o).withProgress<AuditReport>('/api/audit', {}, new Progress('audit', !!o.json)), o.json);
    });

  // ---------------------------------------------------------------- who may call the agent (manager)

  const staff = program.command('staff').description("the terminal's staff accounts for the pages (manager)");
  staff.command('list').description('staff IDs, names and roles').addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags) => {
      const r = await clientFor(o).request<{ staff: Array<{ id: string; name: string; role: string }> }>('GET', '/api/staff');
      print(o.json, r, () => r.staff.map((m) => `${m.id.padEnd(16)} ${m.role.padEnd(8)} ${m.name}`).join('\n') || 'no staff accounts');
    });
  staff.command('set <id>').description('add a staff member or change name, role and PIN (PIN from env TILLSYNC_STAFF_PIN or the first line of stdin)')
    .requiredOption('--name <name>', 'name shown on the pages').addOption(new Option('--role <role>', 'role').choices(['cashier', 'manager']).makeOptionMandatory())
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (id: string, o: AgentFlags & { name: string; role: string }) => {
      // Never from argv: other users of the machine can read command lines.
      let pin = process.env.TILLSYNC_STAFF_PIN;
      if (!pin) {
        const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
        if (process.stdin.isTTY) process.stderr.write(`PIN for ${id}: `);
        pin = await new Promise<string>((resolve) => { rl.once('line', resolve); rl.once('close', () => resolve('')); });
        rl.close();
      }
      const r = await clientFor(o).request<{ staff: { id: string; role: string } }>('PUT', `/api/staff/${encodeURIComponent(id)}`, { name: o.name, role: o.role, pin: pin.trim() });
      print(o.json, r, () => `staff ${r.staff.id} (${r.staff.role}) set; their open sessions were ended`);
    });

  program.command('pair').description('issue a token for a POS front end, with a role (printed once)')
    .requiredOption('--name <name>', 'which front end this is').addOption(new Option('--role <role>', 'role').choices(['cashier', 'manager']).default('cashier'))
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { name: string; role: string }) => {
      const r = await clientFor(o).request<{ id: string; role: string; token: string }>('POST', '/api/pairings', { name: o.name, role: o.role });
      print(o.json, r, () => `front end ${r.id} (${r.role}): send Authorization: Bearer ${r.token}\nthis token is shown only now; revoke with DELETE /api/pairings/${r.id}`);
    });

  program.command('audit-log').description("who did which privileged action on this terminal, newest last")
    .option('--limit <n>', 'entries', wholeNumber('--limit', 0, 1000), 50).addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { limit: number }) => {
      const r = await clientFor(o).request<{ entries: Array<{ at: number; actor: { id: string; role: string } | null; action: string; ok: boolean; code?: string }> }>('GET', `/api/audit-log?limit=${o.limit}`);
      print(o.json, r, () => r.entries.map((e) => `${formatTime(e.at)}  ${(e.actor ? `${e.actor.id} (${e.actor.role})` : '-').padEnd(24)} ${e.action.padEnd(18)} ${e.ok ? 'ok' : `refused ${e.code ?? ''}`}`).join('\n') || 'no entries');
    });
}
