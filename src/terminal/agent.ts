/**
 * The terminal agent: one per POS computer. Runs the terminal (event log,
 * views), the sync worker, and the local HTTP API + WebSocket status stream +
 * pages on 127.0.0.1.
 *
 * Maintenance operations (full resync, force resync, cleanup, audit, restore)
 * run one at a time; a second one is refused with OPERATION_IN_PROGRESS. Their
 * progress is part of the status, which is pushed to every stream subscriber on
 * every change.
 */
import { mkdir } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { TillsyncError, isTillsyncError, type ErrorCode } from '../errors.ts';
import { assertNoCardData } from '../events/card-data.ts';
import { makePrivateDir } from '../events/private-dir.ts';
import type { CatalogDigest } from '../events/catalog-digest.ts';
import { parseWith } from '../events/validate.ts';
import { HttpTransport } from '../replication/http-transport.ts';
import { UnsyncedSalesTracker } from '../replication/unsynced-sales.ts';
import { alarmOf, cardWindowOf, DEFAULT_ALARM_THRESHOLDS, type AlarmThresholds } from './alarm.ts';
import { SyncWorker, type SyncWorkerOptions } from '../replication/sync-worker.ts';
import type { SyncStatus } from '../replication/sync-status.ts';
import { registerWire } from '../http/wire.ts';
import { authenticate, DEFAULT_CHECKOUT_WARNINGS, registerAccessControl, type AccessControlOptions, type CheckoutWarnings } from './access-control.ts';
import { AgentCredentials } from './agent-credentials.ts';
import { errorContract, recordRoutes } from '../http/error-contract.ts';
import { auditTerminal, type AuditReport } from './audit.ts';
import { newExportPath } from './exports.ts';
import { RecentLines, SyncHistory } from './support-bundle.ts';
import { cleanupOldEvents, hasCleanupLeftovers, readAckSeq, resumeCleanup, type CleanupReport } from './cleanup.ts';
import { recordOperationEnd, recordOperationStart, takeInterruptedOperation } from './operation-journal.ts';
import { forceResync, forceResyncDryRun, type ForceResyncDryRun, type ForceResyncReport } from './force-resync.ts';
import { finishInterruptedSwitch, fullResync, resumeFullResync, RESYNC_META_KEY, type FullResyncReport, type ResyncDeps, type ResyncMarker } from './full-resync.ts';
import type { AgentOperations, AgentStatus, OperationName, OperationOutcome, OperationState } from './agent-status.ts';
import { opsRoutes } from './ops-routes.ts';
import { registerPages } from './pages.ts';
import { posRoutes } from './pos-routes.ts';
import { AuditLog } from './audit-log.ts';
import { allowedHostnames } from '../http/request-guard.ts';
import { StaffAccounts, type StaffInput } from './staff-accounts.ts';
import { STATUS_STREAM_MAX_PAYLOAD, StatusStream, statusStreamRoutes } from './status-stream.ts';
import { registerWebSocket } from '../http/websocket.ts';
import { recoveryRoutes } from './recovery-routes.ts';
import { closeDayRoutes } from './close-day-routes.ts';
import { registerRouteSchemas } from '../http/route-schemas.ts';
import { AGENT_OPENAPI } from './openapi.ts';
import { registerMetricsRoute } from './metrics.ts';
import { serverLogging, type LoggingOptions } from '../http/logging.ts';
import { agentConfigSchema, writeAgentConfig, type AgentConfig } from './agent-config.ts';
import { Terminal } from './terminal.ts';

export { AGENT_CONFIG_FILE, agentConfigSchema, readAgentConfig, writeAgentConfig, type AgentConfig } from './agent-config.ts';

/** How often the agent looks whether its alarm changed with time alone (it is pushed when it did). */
const ALARM_CHECK_MS = 1_000;

/** A LevelDB read or write failure of the data folder itself (not a refusal tillsync made). */
function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'LEVEL_CORRUPTION' || code === 'LEVEL_IO_ERROR';
}

export interface AgentOptions extends AgentConfig {
  dataDir: string;
  host?: string;
  port?: number;
  worker?: Partial<Omit<SyncWorkerOptions, 'log' | 'transport'>>;
  /** Request timeout towards the cloud, ms. */
  cloudTimeoutMs?: number;
  /** Staff accounts to create when the data folder has none yet (else one manager with a random PIN). */
  staff?: StaffInput[];
  /** The largest refund a cashier may give, in cents; above it needs a manager. Default 5000. */
  refundLimit?: number;
  /** Serve HTTPS with this key and certificate (PEM). Required by the CLI for a --host other than loopback. */
  tls?: { key: Buffer; cert: Buffer };
  /** pino through fastify, request ids in every line (http/logging.ts); default: no log. */
  logging?: LoggingOptions | false;
  /** When the status's alarm turns amber and red (alarm.ts); default DEFAULT_ALARM_THRESHOLDS. */
  alarms?: Partial<AlarmThresholds>;
  /** When the checkout page asks the cashier to check a sale; default DEFAULT_CHECKOUT_WARNINGS (50 of a line, $1,000). */
  checkoutWarnings?: Partial<CheckoutWarnings>;
}

export const DEFAULT_REFUND_LIMIT = 5_000;

export type { AgentStatus, OperationName, OperationOutcome, OperationState } from './agent-status.ts';

export class TerminalAgent implements AgentOperations {
  readonly terminal: Terminal;
  readonly worker: SyncWorker;
  readonly transport: HttpTransport;
  readonly app: FastifyInstance;
  readonly stream: StatusStream;
  private readonly opts: AgentOptions;
  private operation: OperationState | null = null;
  /** An operation between its claim and its journal entry (not yet shown as running). */
  private claimed: OperationName | null = null;
  private lastOperation: OperationOutcome | null = null;
  private ackSeq = 0;
  /** A full resync marker is stored (interrupted, or failed while the cloud was away): it resumes at the next start or resync. */
  private resyncWaiting = false;
  private listening = false;
  private readonly stopper = new AbortController();
  private get stopping(): AbortSignal {
    return this.stopper.signal;
  }
  private readonly unsubscribers: Array<() => void> = [];
  /** Who may call: the pairing token file, front-end tokens, staff sessions. */
  readonly credentials: AgentCredentials;
  readonly auditLog: AuditLog;
  /** Staff accounts this start created (first start only), with their PINs, to show once. */
  readonly createdStaff: StaffInput[];
  private readonly access: AccessControlOptions;
  /** Sales held but not acknowledged: reported to the cloud with each request, and in the metrics. */
  private readonly unsynced: UnsyncedSalesTracker;
  /** For the support bundle: the last sync passes and connection changes, and the last log lines. */
  readonly syncHistory = new SyncHistory();
  readonly recentLog = new RecentLines();

  private constructor(opts: AgentOptions, terminal: Terminal, transport: HttpTransport, worker: SyncWorker, auth: { credentials: AgentCredentials; createdStaff: StaffInput[] }) {
    this.opts = opts;
    this.terminal = terminal;
    this.transport = transport;
    this.worker = worker;
    this.credentials = auth.credentials;
    this.createdStaff = auth.createdStaff;
    this.auditLog = new AuditLog(opts.dataDir);
    // With TLS fastify builds an https server; its routes and hooks are the same, so one type serves both.
    const https = opts.tls ? { https: { key: opts.tls.key, cert: opts.tls.cert } } : {};
    const logging = opts.logging ? { ...opts.logging, stream: this.recentLog.tee(opts.logging.stream ?? process.stdout) } : false;
    this.app = recordRoutes(Fastify({ ...serverLogging('terminal', logging), bodyLimit: 1024 * 1024, ...https, ...errorContract() }) as unknown as FastifyInstance);
    this.stream = new StatusStream(() => this.status());
    this.unsynced = new UnsyncedSalesTracker(terminal.log);
    const names = allowedHostnames(opts.host);
    this.access = {
      credentials: this.credentials,
      auditLog: this.auditLog,
      hosts: () => ({ names, port: this.port }),
      refundLimit: opts.refundLimit ?? DEFAULT_REFUND_LIMIT,
      checkoutWarnings: { ...DEFAULT_CHECKOUT_WARNINGS, ...opts.checkoutWarnings },
      tls: opts.tls !== undefined,
    };
    // Hooks and routes, declared once swagger listens for routes (http/route-schemas.ts).
    registerRouteSchemas(this.app, AGENT_OPENAPI, (app) => {
      // LevelDB refusing to read its own files while answering a request: the log is damaged (refuse appends, say so).
      registerWire(app, { storageError: (err) => (isStorageFailure(err) ? this.storageFailed('answering a request', err) : undefined) });
      registerWebSocket(app, { maxPayload: STATUS_STREAM_MAX_PAYLOAD });
      // The status stream's upgrade passes this hook too: Host, Origin, the caller and its role.
      registerAccessControl(app, this.access);
      void app.register(statusStreamRoutes, { stream: this.stream });
      void app.register(posRoutes, { terminal, refundLimit: this.access.refundLimit });
      void app.register(opsRoutes, { agent: this });
      void app.register(recoveryRoutes, { agent: this });
      void app.register(closeDayRoutes, { agent: this });
      registerMetricsRoute(app, { store: terminal.store, terminal: terminal.terminal }, {
        status: () => this.status(),
        unsynced: () => this.unsynced.report(this.acked()),
      });
      registerPages(app, { signedIn: (headers) => this.signedIn(headers) });
    });
  }

  /** The highest seq the cloud is known to hold: the stored ack or the worker's newer one. */
  private acked(): number {
    return Math.max(this.ackSeq, this.worker.status().uploaded);
  }

  private signedIn(headers: IncomingHttpHeaders): boolean {
    return authenticate(headers, this.credentials, this.port) !== undefined;
  }

  /** The port the agent listens on (0 before it listens). */
  get port(): number {
    const addr = this.app.server.address();
    return addr && typeof addr === 'object' ? addr.port : 0;
  }

  /** The pairing token file: the CLI and trusted front ends send its content as a bearer token. */
  get pairingTokenFile(): string {
    return this.credentials.pairingTokenFile;
  }

  /** Opens the data folder, finishes any interrupted full resync, starts syncing and serving. */
  static async start(opts: AgentOptions): Promise<TerminalAgent> {
    await makePrivateDir(opts.dataDir);
    const terminal = await Terminal.open(join(opts.dataDir, 'db'), { store: opts.store, terminal: opts.terminal });
    const transport = new HttpTransport({ baseUrl: opts.cloudUrl, token: opts.token, ...(opts.cloudTimeoutMs ? { timeoutMs: opts.cloudTimeoutMs } : {}) });
    const worker = new SyncWorker({ log: terminal.log, transport, ...opts.worker });
    const { staff, created } = await StaffAccounts.open(opts.dataDir, opts.staff);
    const credentials = await AgentCredentials.open(opts.dataDir, staff);
    const agent = new TerminalAgent(opts, terminal, transport, worker, { credentials, createdStaff: created ?? [] });
    // Stored-value policy applies whenever the cloud cannot confirm balances right now.
    terminal.setOfflineProbe(() => worker.status().connection.state !== 'online');
    // What it holds but has not uploaded, reported to the cloud with each request (its dashboard shows it).
    const unsynced = agent.unsynced;
    transport.setReport(() => unsynced.report(agent.acked()));
    agent.unsubscribers.push(terminal.log.onCommit(() => {
      // The status pushed once the new sales are counted (the pages show them at once).
      void unsynced.refresh(agent.acked()).then(() => agent.stream.changed());
      worker.notifyAppended();
      void readAckSeq(terminal.log).then((a) => { agent.ackSeq = a; }, (err: unknown) => agent.backgroundFailed('reading the acknowledged seq', err));
      agent.stream.changed();
    }));
    agent.unsubscribers.push(worker.onStatus((s) => {
      agent.syncHistory.record(s);
      agent.stream.changed();
    }));
    // An alarm can escalate with time alone (offline for longer, a card payment older): pushed when it changes.
    let lastAlarm = '';
    const alarmTimer = setInterval(() => {
      const a = agent.status().alarm;
      const key = `${a.level}:${a.reasons.map((r) => `${r.code}/${r.level}`).join(',')}`;
      if (key !== lastAlarm) {
        lastAlarm = key;
        agent.stream.changed();
      }
    }, ALARM_CHECK_MS);
    alarmTimer.unref();
    agent.unsubscribers.push(() => clearInterval(alarmTimer));
    agent.ackSeq = await readAckSeq(terminal.log);
    void unsynced.refresh(agent.ackSeq);
    const cut = await takeInterruptedOperation(opts.dataDir);
    if (cut) {
      agent.lastOperation = {
        name: cut.name as OperationName, ok: false, at: cut.started, interrupted: true,
        error: { code: 'OPERATION_INTERRUPTED', message: `${cut.name} was cut short: the agent stopped before it ended` },
      };
    }
    // A resync killed while switching to its verified data finishes before anything is served.
    await finishInterruptedSwitch(terminal.log, terminal.views);
    agent.resyncWaiting = (await terminal.log.readMeta<ResyncMarker>(RESYNC_META_KEY)) !== undefined;
    await worker.start();
    await agent.app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
    agent.listening = true;
    const marker = await terminal.log.readMeta<ResyncMarker>(RESYNC_META_KEY);
    void (async () => {
      // A cleanup killed after it moved the base left records below it: remove them now.
      if (await hasCleanupLeftovers(terminal.log)) {
        await agent.run('cleanup', () => resumeCleanup(terminal.log, join(opts.dataDir, 'db'), (p, d, t) => agent.progress(p, d, t))).catch(() => {});
      }
      // A full resync was interrupted (crash, kill): finish it before anything else maintenance-like.
      if (marker) await agent.resumeInterruptedResync();
    })().catch((err: unknown) => agent.backgroundFailed('checking for an unfinished cleanup or resync', err));
    return agent;
  }

  get url(): string {
    const addr = this.app.server.address();
    if (!addr || typeof addr === 'string') return String(addr);
    // Bound to every interface: loopback is one of its own names, and always allowed.
    const scheme = this.opts.tls ? 'https' : 'http';
    if (addr.address === '0.0.0.0' || addr.address === '::') return `${scheme}://127.0.0.1:${addr.port}`;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `${scheme}://${host}:${addr.port}`;
  }

  /**
   * A background task's failure, which no caller is waiting for: storage that
   * cannot be read refuses appends from now on (LOG_CORRUPTED, shown by the
   * status and the alarm, lifted by a recovery) instead of ending the process
   * the store sells from; anything else is logged.
   */
  backgroundFailed(what: string, err: unknown): void {
    if (isStorageFailure(err)) this.storageFailed(what, err);
    this.app.log.error({ err, code: (err as { code?: unknown } | undefined)?.code }, `tillsync: ${what} failed`);
    this.stream.changed();
  }

  /** LevelDB could not read its files: appends are refused from now on; the LOG_CORRUPTED to answer with. */
  private storageFailed(what: string, err: unknown): TillsyncError {
    const code = String((err as { code?: unknown }).code);
    this.terminal.log.markCorrupted(this.terminal.log.base.seq + 1, `${what}: LevelDB could not read its files (${code})`);
    this.stream.changed();
    return new TillsyncError('LOG_CORRUPTED', `the terminal's storage could not be read (${code}): sales are refused until it is recovered`, { cause: err });
  }

  /** Whether the agent writes log lines (the support bundle then carries the last ones). */
  get logging(): boolean {
    return this.opts.logging !== undefined && this.opts.logging !== false;
  }

  get dataDir(): string {
    return this.opts.dataDir;
  }

  /**
   * The alarm's thresholds: the store's card processor window
   * (`cardOfflineWindowHours`, pushed by the cloud) wins over the agent's
   * option, which wins over the defaults.
   */
  private alarmThresholds(): AlarmThresholds {
    const hours = this.terminal.settings().cardOfflineWindowHours;
    return { ...DEFAULT_ALARM_THRESHOLDS, ...this.opts.alarms, ...(hours !== undefined ? { cardWindowMs: hours * 3_600_000 } : {}) };
  }

  status(): AgentStatus {
    const log = this.terminal.log;
    const now = Date.now();
    const acked = this.acked();
    const unsynced = this.unsynced.report(acked);
    const sync = this.worker.status();
    const oldestCard = this.unsynced.oldestCardPayment(acked);
    const thresholds = this.alarmThresholds();
    const oldestCardAgeMs = oldestCard === undefined ? null : Math.max(0, now - oldestCard);
    const alarm = alarmOf({ sync, unsynced, oldestCardAgeMs, logHealth: this.terminal.log.health.state }, now, thresholds);
    return {
      store: this.terminal.store,
      terminal: this.terminal.terminal,
      cloudUrl: this.opts.cloudUrl,
      sync,
      alarm,
      log: { head: log.head.seq, base: log.base.seq, health: log.health.state, ackSeq: this.ackSeq },
      unsynced: { sales: unsynced.sales, amount: unsynced.amount, oldest: unsynced.oldest ?? null, oldestAgeMs: unsynced.oldest === undefined ? null : Math.max(0, now - unsynced.oldest) },
      cardWindow: cardWindowOf(thresholds.cardWindowMs, oldestCard, oldestCardAgeMs),
      operation: this.operation ? { ...this.operation } : null,
      lastOperation: this.lastOperation,
      resyncInProgress: this.operation?.name === 'full-resync' || this.resyncWaiting,
    };
  }

  /** Runs one maintenance operation at a time, with progress in the status. */
  async run<T>(name: OperationName, fn: () => Promise<T>): Promise<T> {
    const running = this.operation?.name ?? this.claimed;
    if (running) {
      throw new TillsyncError('OPERATION_IN_PROGRESS', `${running} is running`, { details: { running } });
    }
    // Claimed before the journal is written, shown only after: an operation the
    // status calls running is one a kill will report as interrupted. Best effort:
    // a full disk must not stop the cleanup that would free it.
    this.claimed = name;
    const started = Date.now();
    await recordOperationStart(this.opts.dataDir, { name, started }).catch(() => {});
    this.claimed = null;
    this.operation = { name, phase: name, done: 0, total: 0, started };
    this.stream.changed();
    try {
      const result = await fn();
      this.lastOperation = { name, ok: true, at: Date.now(), result };
      return result;
    } catch (err) {
      const te = isTillsyncError(err) ? err : new TillsyncError('INTERNAL_ERROR', err instanceof Error ? err.message : String(err), { cause: err });
      this.lastOperation = { name, ok: false, at: Date.now(), error: { code: te.code, message: te.message } };
      throw te;
    } finally {
      await recordOperationEnd(this.opts.dataDir).catch(() => {});
      this.operation = null;
      this.ackSeq = await readAckSeq(this.terminal.log).catch(() => this.ackSeq);
      if (name === 'full-resync') {
        this.resyncWaiting = (await this.terminal.log.readMeta(RESYNC_META_KEY).catch(() => undefined)) !== undefined;
      }
      this.stream.changed();
    }
  }

  /** Updates the running operation's progress (phase, done of total) in the status. */
  progress(phase: string, done: number, total: number): void {
    if (!this.operation) return;
    this.operation = { ...this.operation, phase, done, total };
    this.stream.changed();
  }

  // ------------------------------------------------------------------ operations

  setLocalMode(req: { on: boolean; hours?: number }) {
    if (req.on && req.hours !== undefined) {
      return this.worker.setLocalMode({ on: true, until: Date.now() + req.hours * 3_600_000 });
    }
    return this.worker.setLocalMode(req.on ? { on: true } : { on: false });
  }

  syncUp() {
    return this.run('sync-up', () => this.worker.syncUp());
  }

  syncDown() {
    return this.run('sync-down', () => this.worker.syncDown());
  }

  restore(): Promise<SyncStatus> {
    return this.run('restore', async () => {
      await this.worker.restart();
      return this.worker.status();
    });
  }

  /** `exportUnsynced`: if sales cannot be uploaded first, export them into the export folder (exports.ts) and go on. */
  fullResync(opts: { exportUnsyncedTo?: string; exportUnsynced?: boolean } = {}): Promise<FullResyncReport> {
    return this.run('full-resync', async () => {
      const to = opts.exportUnsynced ? await newExportPath(this.dataDir, 'unsynced', Date.now()) : opts.exportUnsyncedTo;
      return fullResync(this.resyncDeps(), to !== undefined ? { exportUnsyncedTo: to } : {});
    });
  }

  forceResync(opts: { dryRun: boolean }): Promise<ForceResyncDryRun | ForceResyncReport> {
    this.assertOnline();
    const onProgress = (done: number, total: number) => this.progress(opts.dryRun ? 'checking' : 'uploading', done, total);
    return opts.dryRun
      ? this.run('force-resync-dry-run', () => forceResyncDryRun(this.terminal.log, this.transport, onProgress))
      : this.run('force-resync', () => forceResync(this.terminal.log, this.transport, onProgress));
  }

  cleanup(opts: { olderThanDays: number }): Promise<CleanupReport> {
    return this.run('cleanup', () => cleanupOldEvents({
      log: this.terminal.log,
      views: this.terminal.views,
      dir: join(this.opts.dataDir, 'db'),
      olderThanMs: opts.olderThanDays * 86_400_000,
      now: Date.now(),
      onProgress: (phase, d, t) => this.progress(phase, d, t),
    }));
  }

  audit(): Promise<AuditReport> {
    return this.run('audit', () => auditTerminal(this.terminal.log, this.terminal.views, (d, t) => this.progress('rebuilding', d, t)));
  }

  /** Replaces the credential (re-enrollment after a revocation) and persists it. */
  async setCredential(token: string): Promise<void> {
    const { dataDir, host, port, worker, cloudTimeoutMs, staff, refundLimit, tls, logging, alarms, checkoutWarnings, ...config } = this.opts;
    void host; void port; void worker; void cloudTimeoutMs; void staff; void refundLimit; void tls; void logging; void alarms; void checkoutWarnings;
    const next = parseWith(agentConfigSchema, { ...config, token }, 'credential');
    await writeAgentConfig(dataDir, next);
    this.opts.token = token;
    this.worker.setCredential(token);
  }

  private assertOnline(): void {
    if (this.worker.status().localMode.on) throw new TillsyncError('LOCAL_MODE', 'local mode is on: turn it off to talk to the cloud');
  }

  private resyncDeps(): ResyncDeps {
    return {
      log: this.terminal.log,
      views: this.terminal.views,
      localMode: () => this.worker.status().localMode.on,
      syncUp: () => this.worker.syncUp(),
      feed: (since, limit) => this.transport.feed(since, limit, { signal: AbortSignal.timeout(this.opts.cloudTimeoutMs ?? 30_000) }),
      pauseSync: () => this.worker.stop(),
      resumeSync: () => this.worker.start(),
      cloudDigest: () => this.cloudDigest(),
      now: () => Date.now(),
      onProgress: (phase, done, total) => this.progress(phase, done, total),
    };
  }

  /** The cloud's digest through the transport: its refusals keep their codes (a revoked terminal is UNAUTHORIZED, not a bad answer). */
  private async cloudDigest(): Promise<{ head: number; digest: CatalogDigest }> {
    this.assertOnline();
    return this.transport.digest(); // the transport's own deadline answers CLOUD_UNREACHABLE
  }

  /**
   * Carries on an interrupted full resync until it ends: a cloud that is away at
   * start (or local mode) is waited for, with backoff, rather than leaving the
   * resync half done until someone asks again. Ends when the marker is gone
   * (finished, or a real verify failure cleared it) or the agent stops.
   */
  private async resumeInterruptedResync(): Promise<void> {
    for (let attempt = 0; !this.stopping.aborted; attempt++) {
      try {
        await this.run('full-resync', () => resumeFullResync(this.resyncDeps()));
        return;
      } catch {
        if (!this.resyncWaiting) return;
      }
      const wait = Math.min(60_000, 1_000 * 2 ** Math.min(attempt, 6));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.stopping.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    for (const u of this.unsubscribers) u();
    this.stream.close();
    if (this.listening) await this.app.close();
    await this.worker.stop();
    await this.terminal.close();
  }
}
