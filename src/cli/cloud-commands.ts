/**
 * CLI verbs of the cloud: `tillsync cloud` runs the server; `tillsync admin ...`
 * talks to a running cloud over HTTP with the admin token.
 *
 *   tillsync cloud [--port 8080] [--host 127.0.0.1] [--data ./tillsync-cloud | --db postgres://…] [--admin-token T]
 *                  [--public-host NAME,…] [--https]      (the dashboard at /: its host names, TLS in front)
 *   tillsync admin store create --id S --name N --currency EUR [--offline allow|cap|forbid] [--cap CENTS]
 *   tillsync admin terminal create --store S --id T [--name N] [--json]     (prints the token once)
 *   tillsync admin terminal reissue --store S --id T [--json]               (re-enrol: new token)
 *   tillsync admin terminal revoke --store S --id T
 *   tillsync admin import items FILE --store S        (JSON or CSV by extension)
 *   tillsync admin import customers FILE --store S
 *   tillsync admin voucher issue --store S --code C --amount CENTS
 *   tillsync admin exceptions --store S [--all] [--json]
 *   tillsync admin exceptions resolve ID --store S [--note TEXT]
 *   tillsync admin store settings --store S [--currency C] [--offline allow|cap|forbid] [--cap CENTS]
 *   tillsync admin item remove --store S --id I
 *   tillsync admin customer remove --store S --id C      (its ledger is kept: value-ledger.ts)
 *   tillsync admin quarantine --store S [--limit N] [--json]
 *   tillsync admin quarantine release --store S --terminal T --seq N [--json]   (the whole sale group)
 * Every admin verb takes --cloud URL (env TILLSYNC_CLOUD, default http://127.0.0.1:8080)
 * and --admin-token (env TILLSYNC_ADMIN_TOKEN). Errors print the code and its hint
 * (src/cli/output.ts) and exit non-zero.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { z } from 'zod';
import { ERRORS, TillsyncError, type ErrorCode } from '../errors.ts';
import { entityId, OFFLINE_STORED_VALUE, voucherCode } from '../events/event-types.ts';
import { parseWith } from '../events/validate.ts';
import { logLevelFromEnv } from '../http/logging.ts';
import { build } from '../server/app.ts';
import { LevelStorage } from '../server/level-storage.ts';
import { PostgresStorage } from '../server/postgres/postgres-storage.ts';
import type { ExceptionRecord } from '../server/storage.ts';
import { port } from './flag-values.ts';
import { usageError } from './output.ts';

const DEFAULT_CLOUD = 'http://127.0.0.1:8080';

interface AdminFlags {
  cloud?: string;
  adminToken?: string;
  json?: boolean;
}

// Flag parsers refuse through commander (InvalidArgumentError): it names the flag, and the exit is 2.
const intFlag = (name: string) => (v: string): number => {
  if (!/^-?\d{1,15}$/.test(v)) throw new InvalidArgumentError(`--${name} must be an integer.`);
  return Number(v);
};
const idFlag = (name: string, schema: z.ZodType<string> = entityId) => (v: string): string => {
  try {
    return parseWith(schema, v, `--${name}`);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
};

function adminToken(flags: AdminFlags): string {
  const token = flags.adminToken;
  if (!token) throw new TillsyncError('UNAUTHORIZED', 'no admin token: pass --admin-token or set TILLSYNC_ADMIN_TOKEN');
  return token;
}

/** What the CLI reads from each admin answer (other fields pass through to --json untouched). */
const storeAnswer = z.object({ id: z.string(), settings: z.object({ currency: z.string(), offlineStoredValue: z.string() }).passthrough() }).passthrough();
const tokenAnswer = z.object({ store: z.string(), terminal: z.string(), token: z.string() }).passthrough();
const anyObject = z.object({}).passthrough();
const importAnswer = z.object({
  imported: z.number(), changed: z.number(), feedHead: z.number(),
  openingBalancesApplied: z.number().optional(), openingBalancesSkipped: z.number().optional(),
}).passthrough();
const voucherAnswer = z.object({ voucher: z.string(), balance: z.number() }).passthrough();
const exceptionsAnswer = z.object({ exceptions: z.array(z.custom<ExceptionRecord>((v) => typeof v === 'object' && v !== null && 'subject' in v)) }).passthrough();
const resolvedAnswer = z.object({ id: z.string() }).passthrough();
const removedAnswer = z.object({ removed: z.string() }).passthrough();
const quarantineRow = z.object({ terminal: z.string(), seq: z.number(), id: z.string(), type: z.string(), code: z.string() }).passthrough();
const quarantineAnswer = z.object({ quarantined: z.array(quarantineRow.extend({ message: z.string() })) }).passthrough();
const releasedAnswer = z.object({ released: z.array(quarantineRow) }).passthrough();

/** One admin HTTP call; a refusal becomes the server's TillsyncError (code, message, details); the answer is validated. */
async function call<T>(flags: AdminFlags, method: string, path: string, schema: z.ZodType<T>, body?: { json: unknown } | { csv: string }): Promise<T> {
  const base = (flags.cloud ?? DEFAULT_CLOUD).replace(/\/+$/, '');
  const headers: Record<string, string> = { authorization: `Bearer ${adminToken(flags)}`, accept: 'application/json' };
  let payload: string | undefined;
  if (body && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body) {
    headers['content-type'] = 'text/csv';
    payload = body.csv;
  }
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  } catch (err) {
    throw new TillsyncError('CLOUD_UNREACHABLE', `cannot reach the cloud at ${base}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
    const code = e?.code && Object.hasOwn(ERRORS, e.code) ? (e.code as ErrorCode) : 'INTERNAL_ERROR';
    throw new TillsyncError(code, e?.message ?? `HTTP ${res.status}`, e?.details ? { details: e.details } : {});
  }
  const checked = schema.safeParse(parsed);
  if (!checked.success) throw new TillsyncError('CLOUD_BAD_RESPONSE', `unexpected answer from ${method} ${path}`);
  return checked.data;
}

function print(flags: AdminFlags, value: unknown, human: () => string): void {
  console.log(flags.json ? JSON.stringify(value, null, 2) : human());
}

function importDetails(err: unknown): never {
  // IMPORT_INVALID lists the bad rows: show them before the generic error line.
  if (err instanceof TillsyncError && err.code === 'IMPORT_INVALID') {
    const rows = (err.details?.rows ?? []) as Array<{ line: number; code: string; message: string }>;
    for (const r of rows) console.error(`  line ${r.line}: ${r.code} ${r.message}`);
  }
  throw err;
}

async function readImport(file: string): Promise<{ json: unknown } | { csv: string }> {
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.csv') throw usageError(`import files must end in .json or .csv: ${file}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TillsyncError('VALIDATION_FAILED', `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (ext === '.csv') return { csv: text };
  try {
    return { json: JSON.parse(text) as unknown };
  } catch (err) {
    throw new TillsyncError('JSON_MALFORMED', `${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function describeException(e: ExceptionRecord): string {
  const what = e.subject.kind === 'balance' ? `customer ${e.subject.customer}` : `voucher ${e.subject.voucher}`;
  const events = e.events.map((d) => `${d.terminal}#${d.seq} ${d.amount < 0 ? `+${-d.amount}` : `-${d.amount}`}`).join(', ');
  if (e.reason === 'customer-removed') {
    return `${e.id} [${e.status}] ${what} was removed but terminals moved its balance: ${e.shortfall} cents below zero (terminals ${e.terminals.join(', ')}; deltas ${events})`;
  }
  return `${e.id} [${e.status}] ${what}: ${e.shortfall} cents below zero (terminals ${e.terminals.join(', ')}; debits ${events})`;
}

function withAdminFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--cloud <url>', `cloud base URL (default ${DEFAULT_CLOUD})`).env('TILLSYNC_CLOUD'))
    .addOption(new Option('--admin-token <token>', 'admin token').env('TILLSYNC_ADMIN_TOKEN'));
}

/** Where a database URL points, for printing: host and database, never the user or password. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `PostgreSQL at ${u.host}${u.pathname}`;
  } catch {
    return 'PostgreSQL (--db)';
  }
}

const MIN_ADMIN_TOKEN = 16;

/**
 * The cloud's admin token: `--admin-token` (or TILLSYNC_ADMIN_TOKEN) or the
 * first line of `--admin-token-file` (or TILLSYNC_ADMIN_TOKEN_FILE: a container's
 * or systemd's secret file, deploy/). Outside the demo there is no default: a
 * cloud with no admin token, or a guessable one, is a usage error (exit 2).
 */
async function cloudAdminToken(flags: { adminToken?: string; adminTokenFile?: string }, cmd: Command): Promise<string> {
  // The command line beats the environment; between two variables the file wins; both flags on
  // the command line is a mistake. (commander's .conflicts() counts a variable as given: it
  // would refuse an exported TILLSYNC_ADMIN_TOKEN next to --admin-token-file.)
  const tokenOnCli = cmd.getOptionValueSource('adminToken') === 'cli';
  const fileOnCli = cmd.getOptionValueSource('adminTokenFile') === 'cli';
  if (tokenOnCli && fileOnCli) throw usageError('pass --admin-token or --admin-token-file, not both');
  let token = flags.adminToken;
  if (flags.adminTokenFile !== undefined && flags.adminTokenFile !== '' && (fileOnCli || !tokenOnCli)) {
    try {
      token = (await readFile(flags.adminTokenFile, 'utf8')).split('\n')[0]!.trim();
    } catch (err) {
      throw usageError(`--admin-token-file ${flags.adminTokenFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  if (token === undefined || token === '') {
    throw usageError('the cloud needs an admin token: --admin-token-file FILE, or TILLSYNC_ADMIN_TOKEN (make one with: openssl rand -base64 32)');
  }
  if (token.length < MIN_ADMIN_TOKEN || !/^[\x21-\x7e]+$/.test(token)) {
    throw usageError(`the admin token must be at least ${MIN_ADMIN_TOKEN} printable characters without spaces`);
  }
  return token;
}

export function registerCloudCommands(program: Command): void {
  program
    .command('cloud')
    .description('run the cloud server')
    .option('--port <port>', 'port to listen on (0: any free port)', port('--port'), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--data <dir>', 'data folder (LevelDB)', './tillsync-cloud')
    .addOption(new Option('--db <url>', 'keep the data in PostgreSQL instead of a data folder: postgres://user@host:port/database').env('TILLSYNC_DB'))
    .addOption(new Option('--admin-token <token>', 'admin token for the back office, the dashboard and /metrics (at least 16 characters)').env('TILLSYNC_ADMIN_TOKEN'))
    .addOption(new Option('--admin-token-file <file>', 'read the admin token from the first line of this file (kept out of the process list and the environment)').env('TILLSYNC_ADMIN_TOKEN_FILE'))
    .option('--public-host <names>', 'host names the dashboard is opened by, comma-separated (loopback, this machine and --host always are)')
    .option('--https', 'the dashboard is reached over https (a TLS proxy in front): Secure session cookie, https origins')
    .action(async (flags: { port: number; host: string; data: string; db?: string; adminToken?: string; adminTokenFile?: string; publicHost?: string; https?: boolean }, cmd: Command) => {
      const token = await cloudAdminToken(flags, cmd);
      const db = flags.db;
      const storage = db
        ? await PostgresStorage.open(db)
        : await LevelStorage.open(flags.data, {
          onMigrate: (moved) => console.log(`moving the data folder to the current layout: ${moved} entries moved`),
        });
      const publicHosts = [flags.host, ...(flags.publicHost ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '')];
      const app = build({ storage, adminToken: token, logging: { level: logLevelFromEnv('info') }, dashboard: { publicHosts, https: flags.https === true } });
      try {
        await app.listen({ port: flags.port, host: flags.host });
      } catch (err) {
        await app.close();
        await storage.close();
        throw err;
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : flags.port;
      const host = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
      console.log(`tillsync cloud listening on http://${host}:${port} (data: ${db ? redactUrl(db) : flags.data})`);
      console.log(`dashboard: http://${host}:${port}/ (sign in with the admin token)`);
      await new Promise<void>((resolve) => {
        let closing = false;
        const stop = () => {
          if (closing) return;
          closing = true;
          void app.close().then(() => storage.close()).finally(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      console.log('tillsync cloud stopped');
    });

  const admin = program.command('admin').description('back office: stores, terminals, imports, vouchers, exceptions (talks to a running cloud)');

  const store = admin.command('store').description('stores');
  withAdminFlags(store.command('create').description('create a store'))
    .requiredOption('--id <id>', 'store id', idFlag('id'))
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--currency <ISO>', 'currency, e.g. EUR')
    .addOption(new Option('--offline <policy>', 'stored value while offline').choices(OFFLINE_STORED_VALUE).default('allow'))
    .option('--cap <cents>', 'with --offline cap: most a customer account or voucher may spend offline', intFlag('cap'))
    .option('--card-window <hours>', "the card processor's offline window in hours (1–720; default 24): terminals count down to it", intFlag('card-window'))
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { id: string; name: string; currency: string; offline: string; cap?: number; cardWindow?: number }) => {
      const res = await call(f, 'POST', '/v1/admin/stores', storeAnswer, {
        json: {
          id: f.id, name: f.name, currency: f.currency, offlineStoredValue: f.offline,
          ...(f.cap !== undefined ? { offlineCap: f.cap } : {}), ...(f.cardWindow !== undefined ? { cardOfflineWindowHours: f.cardWindow } : {}),
        },
      });
      print(f, res, () => `store ${res.id} created (${res.settings.currency}, offline stored value: ${res.settings.offlineStoredValue})`);
    });

  withAdminFlags(store.command('settings').description("change a store's settings (pushed to its terminals)"))
    .requiredOption('--store <id>', 'store id', idFlag('store'))
    .option('--currency <ISO>', 'currency, e.g. EUR')
    .addOption(new Option('--offline <policy>', 'stored value while offline').choices(OFFLINE_STORED_VALUE))
    .option('--cap <cents>', 'with --offline cap: most a customer account or voucher may spend offline', intFlag('cap'))
    .option('--card-window <hours>', "the card processor's offline window in hours (1–720; default 24): terminals count down to it", intFlag('card-window'))
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store: string; currency?: string; offline?: string; cap?: number; cardWindow?: number }) => {
      const patch = {
        ...(f.currency ? { currency: f.currency } : {}), ...(f.offline ? { offlineStoredValue: f.offline } : {}), ...(f.cap !== undefined ? { offlineCap: f.cap } : {}),
        ...(f.cardWindow !== undefined ? { cardOfflineWindowHours: f.cardWindow } : {}),
      };
      if (Object.keys(patch).length === 0) throw usageError('nothing to change: pass --currency, --offline, --cap or --card-window');
      const res = await call(f, 'PATCH', `/v1/admin/stores/${f.store}/settings`, storeAnswer, { json: patch });
      print(f, res, () => `store ${res.id} settings: ${JSON.stringify(res.settings)}`);
    });

  for (const [kind, path] of [['item', 'items'], ['customer', 'customers']] as const) {
    const group = admin.command(kind).description(`${kind}s`);
    withAdminFlags(group.command('remove').description(kind === 'customer'
      ? 'remove a customer (terminals drop it; its balance ledger is kept for deltas still arriving)'
      : 'remove an item (terminals drop it)'))
      .requiredOption('--store <id>', 'store id', idFlag('store'))
      .requiredOption('--id <id>', `${kind} id`, idFlag('id'))
      .option('--json', 'print JSON')
      .action(async (f: AdminFlags & { store: string; id: string }) => {
        const res = await call(f, 'DELETE', `/v1/admin/stores/${f.store}/${path}/${f.id}`, removedAnswer);
        print(f, res, () => `${kind} ${res.removed} removed`);
      });
  }

  const quarantine = withAdminFlags(admin.command('quarantine').description('list quarantined events (kept, not applied) for review'))
    .option('--store <id>', 'store id (required)', idFlag('store'))
    .option('--limit <n>', 'at most this many', intFlag('limit'))
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store?: string; limit?: number }) => {
      if (!f.store) throw usageError('missing --store <id>');
      const res = await call(f, 'GET', `/v1/admin/stores/${f.store}/quarantine${f.limit !== undefined ? `?limit=${f.limit}` : ''}`, quarantineAnswer);
      const list = res.quarantined;
      print(f, res, () => (list.length === 0 ? 'no quarantined events' : list.map((q) => `${q.terminal}#${q.seq} ${q.type} ${q.code}: ${q.message}`).join('\n')));
    });
  withAdminFlags(quarantine.command('release').description('apply a quarantined event after review (with the rest of its sale group)'))
    .option('--store <id>', 'store id (required)', idFlag('store'))
    .requiredOption('--terminal <id>', 'terminal id', idFlag('terminal'))
    .requiredOption('--seq <n>', "the event's seq", intFlag('seq'))
    .option('--json', 'print JSON')
    .action(async (own: AdminFlags & { store?: string; terminal: string; seq: number }) => {
      const f = { ...(quarantine.opts() as AdminFlags & { store?: string }), ...own };
      if (!f.store) throw usageError('missing --store <id>');
      const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/quarantine/${f.terminal}/${f.seq}/release`, releasedAnswer);
      print(f, res, () => `released ${res.released.map((r) => `${r.terminal}#${r.seq} ${r.type}`).join(', ')}`);
    });

  const terminal = admin.command('terminal').description('terminals and their credentials');
  withAdminFlags(terminal.command('create').description('create a terminal; prints its token ONCE'))
    .requiredOption('--store <id>', 'store id', idFlag('store'))
    .requiredOption('--id <id>', 'terminal id', idFlag('id'))
    .option('--name <name>', 'display name')
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store: string; id: string; name?: string }) => {
      const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/terminals`, tokenAnswer, { json: { id: f.id, ...(f.name ? { name: f.name } : {}) } });
      print(f, res, () => `terminal ${res.store}/${res.terminal} created\ntoken (shown once, store it now): ${res.token}`);
    });
  withAdminFlags(terminal.command('reissue').description('re-enrol a terminal: new token, the old one is revoked'))
    .requiredOption('--store <id>', 'store id', idFlag('store'))
    .requiredOption('--id <id>', 'terminal id', idFlag('id'))
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store: string; id: string }) => {
      const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/terminals/${f.id}/token`, tokenAnswer);
      print(f, res, () => `terminal ${res.store}/${res.terminal} re-enrolled\ntoken (shown once, store it now): ${res.token}`);
    });
  withAdminFlags(terminal.command('revoke').description("revoke a terminal's credential"))
    .requiredOption('--store <id>', 'store id', idFlag('store'))
    .requiredOption('--id <id>', 'terminal id', idFlag('id'))
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store: string; id: string }) => {
      const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/terminals/${f.id}/revoke`, anyObject);
      print(f, res, () => `terminal ${f.store}/${f.id} revoked`);
    });

  const imp = admin.command('import').description('import items or customers from a JSON or CSV file');
  for (const kind of ['items', 'customers'] as const) {
    withAdminFlags(imp.command(`${kind} <file>`).description(`import ${kind} (nothing is imported if any row is bad)`))
      .requiredOption('--store <id>', 'store id', idFlag('store'))
      .option('--json', 'print JSON')
      .action(async (file: string, f: AdminFlags & { store: string }) => {
        const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/${kind}`, importAnswer, await readImport(file)).catch(importDetails);
        print(f, res, () => {
          const extra = kind === 'customers' ? `, opening balances applied ${res.openingBalancesApplied}, skipped ${res.openingBalancesSkipped}` : '';
          return `${res.imported} ${kind} imported (${res.changed} changed${extra}); feed head ${res.feedHead}`;
        });
      });
  }

  const voucher = admin.command('voucher').description('vouchers (gift cards)');
  withAdminFlags(voucher.command('issue').description('issue a new voucher'))
    .requiredOption('--store <id>', 'store id', idFlag('store'))
    .requiredOption('--code <code>', 'voucher code', idFlag('code', voucherCode))
    .requiredOption('--amount <cents>', 'value in cents', intFlag('amount'))
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store: string; code: string; amount: number }) => {
      const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/vouchers`, voucherAnswer, { json: { code: f.code, amount: f.amount } });
      print(f, res, () => `voucher ${res.voucher} issued: ${res.balance} cents`);
    });

  const exceptions = withAdminFlags(admin.command('exceptions').description('list overspend exceptions (open by default)'))
    .option('--store <id>', 'store id (required)', idFlag('store'))
    .option('--all', 'include resolved ones')
    .option('--json', 'print JSON')
    .action(async (f: AdminFlags & { store?: string; all?: boolean }) => {
      if (!f.store) throw usageError('missing --store <id>');
      const res = await call(f, 'GET', `/v1/admin/stores/${f.store}/exceptions?status=${f.all ? 'all' : 'open'}`, exceptionsAnswer);
      const list = res.exceptions;
      print(f, res, () => (list.length === 0 ? 'no exceptions' : list.map(describeException).join('\n')));
    });
  withAdminFlags(exceptions.command('resolve <id>').description('mark an exception resolved'))
    .option('--store <id>', 'store id (required)', idFlag('store'))
    .option('--note <text>', 'what was done')
    .option('--json', 'print JSON')
    .action(async (id: string, own: AdminFlags & { store?: string; note?: string }) => {
      // commander may hand flags written after `resolve` to the parent `exceptions`: merge both.
      const f = { ...(exceptions.opts() as AdminFlags & { store?: string }), ...own };
      if (!f.store) throw usageError('missing --store <id>');
      const res = await call(f, 'POST', `/v1/admin/stores/${f.store}/exceptions/${encodeURIComponent(id)}/resolve`, resolvedAnswer, {
        json: f.note ? { note: f.note } : {},
      });
      print(f, res, () => `${res.id} resolved`);
    });
}
