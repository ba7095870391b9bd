/**
 * `tillsync loadtest`: replays many terminals' offline backlogs against a real
 * cloud and reports what it took (src/loadtest/loadtest.ts). Runs only against
 * a test store; exit 0 when every event is acknowledged and verified, 1 when
 * not (the report says what is missing), 2 on bad usage.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { holdsCardNumber } from '../events/card-data.ts';
import { ownerId } from '../server/admin-ops.ts';
import { runLoadTest, runRequestLoad, type LoadTestReport, type RequestLoadReport } from '../loadtest/loadtest.ts';
import { positiveNumber, wholeNumber } from './flag-values.ts';
import { CliExit, EXIT, Progress, usageError } from './output.ts';

const positiveInt = (name: string, max: number) => wholeNumber(name, 1, max);
const duration = (v: string): number => {
  const m = /^(\d{1,6})(s|m|h)?$/.exec(v);
  if (!m) throw new InvalidArgumentError('--duration takes a time like 90s, 10m or 1h.');
  return Number(m[1]) * (m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : 1_000);
};

function print(r: LoadTestReport): void {
  const l = r.uploadLatencyMs;
  console.log(`load test of store ${r.store}: ${r.terminals} terminals (${r.reusedTerminals} reused), ${r.sales} sales, ${r.events} events`);
  console.log(`  fully acknowledged in ${r.seconds.toFixed(1)} s: ${r.eventsPerSecond} events/s`);
  console.log(`  upload latency: p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms (${l.count} requests)`);
  console.log(`  CLOUD_BUSY ${r.busy}, retries ${r.retries}, feed pages ${r.feedPages}`);
  const errors = Object.entries(r.errors);
  console.log(`  errors: ${errors.length === 0 ? 'none' : errors.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  if (r.unfinished > 0) console.log(`  ${r.unfinished} terminals not done within --duration`);
  const v = r.verification;
  console.log(v.ok
    ? `  verified: the cloud holds each of the ${v.checked} events exactly once, byte for byte`
    : `  NOT verified: ${v.missing} missing, ${v.different} different, ${v.duplicated} duplicated (of ${r.events})`);
}

function printRequests(r: RequestLoadReport): void {
  const l = r.latencyMs;
  console.log(`request load on store ${r.store}: ${r.connections} connections (one terminal each), ${r.requests} requests, ${Math.round(r.requestsPerSecond)} requests/s`);
  console.log(`  latency: p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms; non-2xx ${r.non2xx}, errors ${r.errors}`);
  const v = r.verification;
  console.log(v.ok
    ? `  verified: the ${r.eventsAcknowledged} events acknowledged are each held exactly once, byte for byte`
    : `  NOT verified: ${v.missing} missing, ${v.different} different, ${v.duplicated} duplicated (of ${r.eventsAcknowledged} acknowledged)`);
}

export function registerLoadTestCommand(program: Command): void {
  program
    .command('loadtest')
    .description("replay many terminals' offline backlogs against a cloud and measure it (only against a test store)")
    .addOption(new Option('--cloud <url>', 'cloud base URL').env('TILLSYNC_CLOUD').makeOptionMandatory())
    .addOption(new Option('--admin-token <token>', 'admin token').env('TILLSYNC_ADMIN_TOKEN').makeOptionMandatory())
    .option('--store <id>', 'the test store: created marked as one, or reused only if it is one', 'loadtest')
    .option('--terminals <n>', 'simulated terminals', positiveInt('--terminals', 100_000), 10)
    .option('--offline-hours <h>', 'hours each terminal was offline', positiveNumber('--offline-hours', 24 * 14), 8)
    .option('--sales-per-hour <n>', 'sales per terminal per offline hour (each with its payments)', positiveNumber('--sales-per-hour', 10_000), 30)
    .option('--concurrency <n>', 'terminals syncing at once (default: all)', positiveInt('--concurrency', 100_000))
    .option('--duration <time>', 'give up on terminals not done this long after the reconnect (90s, 10m, 1h)', duration)
    .option('--seed <n>', 'fixtures seed', positiveInt('--seed', 2 ** 31 - 1), 1)
    .addOption(new Option('--mode <mode>', 'backlog: offline backlogs reconnecting; requests: fixed batches at --rate for --duration (autocannon), one connection per terminal').choices(['backlog', 'requests']).default('backlog'))
    .option('--rate <n>', 'with --mode requests: requests per second over all connections', positiveInt('--rate', 1_000_000))
    .option('--batch <n>', 'with --mode requests: events per request', positiveInt('--batch', 5_000), 100)
    .option('--json', 'print the report as JSON')
    .action(async (o: { cloud: string; adminToken: string; store: string; terminals: number; offlineHours: number; salesPerHour: number; concurrency?: number; duration?: number; seed: number; json?: boolean; mode: string; rate?: number; batch: number }) => {
      if (o.adminToken.trim() === '') throw usageError('--admin-token (or TILLSYNC_ADMIN_TOKEN) is empty');
      if (!ownerId.safeParse(o.store).success || holdsCardNumber(o.store)) throw usageError(holdsCardNumber(o.store) ? "--store holds a card number" : `--store ${JSON.stringify(o.store.slice(0, 60))} is not a valid store id`);
      const progress = new Progress('loadtest', false);
      if (o.mode === 'requests') {
        if (o.rate === undefined || o.duration === undefined) throw usageError('--mode requests needs --rate and --duration');
        let r: RequestLoadReport;
        try {
          r = await runRequestLoad({
            cloud: o.cloud.replace(/\/+$/, ''), adminToken: o.adminToken, store: o.store, terminals: o.terminals, seed: o.seed,
            rate: o.rate, batch: o.batch, durationMs: o.duration, onProgress: (phase, done, total) => progress.update(phase, done, total),
          });
        } finally {
          progress.stop();
        }
        if (o.json) console.log(JSON.stringify(r));
        else printRequests(r);
        if (!r.verification.ok) throw new CliExit(EXIT.failed);
        return;
      }
      let report: LoadTestReport;
      try {
        report = await runLoadTest({
          cloud: o.cloud.replace(/\/+$/, ''), adminToken: o.adminToken, store: o.store, terminals: o.terminals,
          offlineHours: o.offlineHours, salesPerHour: o.salesPerHour, seed: o.seed,
          ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
          ...(o.duration !== undefined ? { durationMs: o.duration } : {}),
          onProgress: (phase, done, total) => progress.update(phase, done, total),
        });
      } finally {
        progress.stop();
      }
      if (o.json) console.log(JSON.stringify(report));
      else print(report);
      if (!report.verification.ok || report.unfinished > 0) throw new CliExit(EXIT.failed);
    });
}
