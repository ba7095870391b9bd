/**
 * The package's public entry (`import { Terminal } from 'tillsync'`): what the
 * README's "Library" section documents, named one by one. It is the API a
 * program embeds, not a barrel of the source tree: anything not listed here
 * (a module's helpers, the CLI, the pages) may change without notice.
 *
 * package.json `exports` points here in `dist/` (`npm run build` compiles it
 * with its declarations); test/package.test.ts packs the package and imports
 * this entry from another project with plain node.
 */
export { ERRORS, TillsyncError, isTillsyncError, type ErrorCode } from './errors.ts';

// Terminal side: the log, the POS functions over it, the sync, the agent that serves them.
export {
  EventLog, type Clock, type CommitParticipant, type EventLogOptions, type LogHead, type LogHealth, type LoggedEvent, type VerifyReport,
} from './events/event-log.ts';
export { Terminal, type CustomerAccount, type SaleQuote, type SaleReceipt, type TerminalOptions } from './terminal/terminal.ts';
export { SyncWorker, type SyncWorkerOptions } from './replication/sync-worker.ts';
export type { SyncStatus } from './replication/sync-status.ts';
export type { CloudTransport } from './replication/transport.ts';
export { HttpTransport, type HttpTransportOptions } from './replication/http-transport.ts';
export { TerminalAgent, type AgentOptions } from './terminal/agent.ts';

// Cloud side: the fastify app and its storage backends.
export { build, type BuildOptions } from './server/app.ts';
export type { CloudStorage } from './server/storage.ts';
export { LevelStorage } from './server/level-storage.ts';
export { MemoryStorage } from './server/memory-storage.ts';
export { PostgresStorage } from './server/postgres/postgres-storage.ts';
