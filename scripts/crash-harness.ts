/**
 * Kill -9 harness shared by the crash test (npm test, >= 50 kills) and the soak
 * script (npm run soak:crash, >= 1,000 kills).
 *
 * Each cycle: start the child on the same data folder, let it acknowledge some
 * sales, SIGKILL it at a random moment, then open the folder in this process and
 * check: every acknowledged sale is present with all its payments, seqs are
 * contiguous and the whole hash chain verifies, and the views equal a rebuild
 * from the log.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRng } from '../src/fixtures/prng.ts';
import { TerminalViews, diffViews } from '../src/projections/terminal-views.ts';
import { openSmallStore } from '../test/helpers/small-store.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

export interface CycleReport {
  cycle: number;
  acked: number;
  totalAcked: number;
  headSeq: number;
  problems: string[];
}

interface Ack {
  seq: number;
  events: number;
}

/** Starts the child, waits for `ready` and some acks, kills it at a random moment. Returns what was acknowledged. */
async function runAndKill(dir: string, delayMs: number, concurrency: number): Promise<Map<string, Ack>> {
  const child = spawn(process.execPath, ['--import=tsx', CHILD, dir, String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acks = new Map<string, Ack>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  let timer: NodeJS.Timeout | undefined;
  lines.on('line', (line) => {
    const [kind, a, b, c] = line.split(' ');
    if (kind === 'ready') timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    else if (kind === 'ack') acks.set(a!, { seq: Number(b), events: Number(c) });
  });
  // Safety net: never leave the child running (e.g. if it failed before "ready").
  const guard = setTimeout(() => child.kill('SIGKILL'), delayMs + 30_000);
  await exited;
  clearTimeout(guard);
  if (timer) clearTimeout(timer);
  return acks;
}

export async function runCrashCycles(opts: {
  dir: string;
  cycles: number;
  seed: number;
  concurrency?: number;
  /** Full view comparison every N cycles (always on the last). */
  compareEvery?: number;
  onCycle?: (r: CycleReport) => void;
}): Promise<{ kills: number; acked: number; problems: string[] }> {
  const rng = createRng(opts.seed);
  const allAcked = new Map<string, Ack>();
  const problems: string[] = [];
  for (let cycle = 1; cycle <= opts.cycles; cycle++) {
    const acks = await runAndKill(opts.dir, rng.int(5, 120), opts.concurrency ?? 16);
    for (const [k, v] of acks) allAcked.set(k, v);
    const found: string[] = [];
    const term = await openSmallStore(opts.dir, { verifyOnOpen: Infinity });
    try {
      if (term.log.health.state !== 'ok') found.push(`log unhealthy after kill: ${JSON.stringify(term.log.health)}`);
      const report = await term.log.verify({ full: true });
      if (!report.ok) found.push(`chain/seq verification failed: ${JSON.stringify(report.problem)}`);
      for (const [sale, ack] of acks) {
        const rec = await term.sale(sale);
        if (!rec) found.push(`acknowledged sale ${sale} (seq ${ack.seq}) is missing`);
        else if (rec.seq !== ack.seq) found.push(`sale ${sale} moved from seq ${ack.seq} to ${rec.seq}`);
        // The child pays with cash or card only: each event after the sale is one payment.
        else if (rec.payments.length !== ack.events - 1) found.push(`sale ${sale} has ${rec.payments.length} of ${ack.events - 1} payments`);
        if (ack.seq > term.log.head.seq) found.push(`acknowledged seq ${ack.seq} beyond head ${term.log.head.seq}`);
      }
      if (cycle % (opts.compareEvery ?? 1) === 0 || cycle === opts.cycles) {
        const scratch = new TerminalViews(term.log.db, term.terminal, 'crash-check');
        await scratch.rebuildFrom(term.log);
        const diff = await diffViews(term.views, scratch, 5);
        if (diff.length > 0) found.push(`views differ from a rebuild: ${JSON.stringify(diff)}`);
        await scratch.clear();
      }
      opts.onCycle?.({ cycle, acked: acks.size, totalAcked: allAcked.size, headSeq: term.log.head.seq, problems: found });
    } finally {
      await term.close();
    }
    problems.push(...found.map((p) => `cycle ${cycle}: ${p}`));
    if (problems.length > 20) break;
  }
  // Every sale acknowledged in any cycle must still be there at the end.
  const term = await openSmallStore(opts.dir);
  try {
    for (const [sale, ack] of allAcked) {
      if (!(await term.sale(sale))) problems.push(`end: acknowledged sale ${sale} (seq ${ack.seq}) is missing`);
    }
  } finally {
    await term.close();
  }
  return { kills: opts.cycles, acked: allAcked.size, problems };
}
