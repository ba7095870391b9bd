/**
 * How the CLI talks to people and scripts: errors print the stable code, the
 * message and a sentence saying what to do; `--json` prints machine-readable
 * results; progress bars only on a TTY (a script sees plain lines).
 *
 * Exit codes:
 *   0  success
 *   1  the operation was refused or failed (the error code says why)
 *   2  bad usage (unknown verb, bad flag value)
 *   3  audit found problems
 *   4  the terminal agent or cloud could not be reached
 */
import cliProgress from 'cli-progress';
import { ERRORS, TillsyncError, isTillsyncError, type ErrorCode } from '../errors.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, findings: 3, unreachable: 4 } as const;

export class CliExit extends Error {
  constructor(readonly exitCode: number, message = '') {
    super(message);
  }
}

export function hintFor(code: string): string {
  return Object.hasOwn(ERRORS, code) ? ERRORS[code as ErrorCode].hint : '';
}

/** Prints an error the same way everywhere and returns the exit code to use. */
export function reportError(err: unknown, json: boolean): number {
  if (err instanceof CliExit) {
    if (err.message) console.error(err.message);
    return err.exitCode;
  }
  const te = isTillsyncError(err) ? err : undefined;
  const code = te?.code ?? (err as { code?: string }).code ?? 'INTERNAL_ERROR';
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    console.log(JSON.stringify({ error: { code, message, ...(te?.details ? { details: te.details } : {}) } }));
  } else {
    console.error(`error ${code}: ${message}`);
    const hint = hintFor(code);
    if (hint) console.error(`  what to do: ${hint}`);
  }
  if (err instanceof UsageError) return EXIT.usage;
  return code === 'AGENT_UNREACHABLE' || code === 'CLOUD_UNREACHABLE' ? EXIT.unreachable : EXIT.failed;
}

/**
 * A reader that stops reading (`tillsync replay … | head`) closes our stdout:
 * the next write fails with EPIPE. That is the reader's choice, not a failure:
 * the command ends at once, quietly, with the exit code it has so far (0).
 * Any other stdout error still surfaces.
 */
export function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? EXIT.ok);
  });
}

/** Bad usage of a verb (a flag value, a missing or conflicting flag): VALIDATION_FAILED, exit 2. */
export class UsageError extends TillsyncError {
  constructor(message: string) {
    super('VALIDATION_FAILED', message);
  }
}

export function usageError(message: string): TillsyncError {
  return new UsageError(message);
}

/** A progress bar on a TTY, plain "phase done/total" lines otherwise (at most every 2 s). */
export class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private lastLine = 0;
  private started = false;

  constructor(private readonly label: string, private readonly quiet: boolean) {}

  update(phase: string, done: number, total: number): void {
    if (this.quiet) return;
    if (process.stderr.isTTY) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar({ format: `${this.label} {phase} [{bar}] {value}/{total} {percentage}% eta {eta}s`, stream: process.stderr }, cliProgress.Presets.shades_classic);
        this.bar.start(Math.max(total, 1), done, { phase });
      }
      this.bar.setTotal(Math.max(total, 1));
      this.bar.update(done, { phase });
      return;
    }
    const now = Date.now();
    if (!this.started || now - this.lastLine > 2_000 || (total > 0 && done >= total)) {
      this.started = true;
      this.lastLine = now;
      console.error(`${this.label}: ${phase} ${done}/${total}`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'unknown';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'none';
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? 'never' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Integer cents as money: 1250 → "$12.50", -5 → "-$0.05" (never through a float). */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) return '—';
  const abs = Math.abs(cents);
  const whole = String(Math.trunc(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${cents < 0 ? '-' : ''}$${whole}.${String(abs % 100).padStart(2, '0')}`;
}
