/**
 * End of day at the till: `tillsync close-day` (a Z report, closing the day
 * only when the cloud holds the same), `--preview` (an X report, a reading
 * that works offline), and `tillsync audit --report FILE`, which checks a kept
 * report again against a terminal folder, an agent or the cloud.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { DaySummary } from '../events/day-summary.ts';
import { loadDayReport, terminalDaySummary, verifyDayReport, type DayReport, type ReportCheck } from '../terminal/close-day.ts';
import { cloudDay } from './cloud-history.ts';
import { CliExit, EXIT, formatCents, Progress } from './output.ts';
import { agentOption, agentTokenOption, clientFor, cloudAccess, jsonOption, openFolder, sourceCloud, type AgentFlags } from './agent-flags.ts';

function describeReport(r: DayReport & { alreadyClosed?: boolean }): string {
  const s = r.terminalSummary;
  const money = (c: number) => formatCents(c);
  const lines = [
    `${r.kind} report of ${r.store}/${r.terminal} for ${r.day} (${r.timeZone})${r.alreadyClosed ? ' — closed earlier' : ''}`,
    `  sales      ${s.sales.count}, total ${money(s.sales.total)}`,
    `  tenders    cash ${money(s.tenders.cash)} · card ${money(s.tenders.card)} · account ${money(s.tenders.account)} · voucher ${money(s.tenders.voucher)}`,
    `  refunds    ${s.refunds.count}, ${money(s.refunds.total)}`,
    `  voids      ${s.voids.count}`,
    `  events     ${s.events} (seq ${s.fromSeq}..${s.toSeq}), chain digest ${s.digest.slice(0, 16)}…`,
  ];
  if (r.cloudSummary === null) lines.push(`  cloud      not asked (${r.cloudError ?? 'unreachable'}): this reading is the terminal's alone`);
  else if (r.matched) lines.push('  cloud      holds the same events: every figure matches');
  else lines.push(`  cloud      DIFFERS: ${r.difference.missing.length} missing, ${r.difference.differing.length} differing, ${r.difference.extra.length} extra`);
  return lines.join('\n');
}

function printCheck(check: ReportCheck, report: DayReport, json: boolean | undefined): void {
  if (json) console.log(JSON.stringify(check, null, 2));
  else {
    console.log(`day report ${report.day} of ${report.store}/${report.terminal}: ${check.ok ? 'verified: the report is unedited and the history still adds up to it' : 'NOT verified'}`);
    for (const p of check.problems) console.log(`FINDING ${p.code}: ${p.message}`);
  }
  if (!check.ok) throw new CliExit(EXIT.findings);
}

/** `tillsync audit --report FILE` with --data, --cloud or an agent. */
export async function auditDayReport(file: string, o: AgentFlags & { data?: string; cloud?: string; adminToken?: string; store?: string }): Promise<void> {
  const report = await loadDayReport(file);
  const s = report.terminalSummary;
  const cloud = sourceCloud(o);
  if (cloud) {
    const recomputed = await cloudDay(cloudAccess(cloud, o.adminToken, o.store ?? report.store), report.terminal, report.day, { timeZone: report.timeZone, from: Math.max(1, s.fromSeq), to: Math.max(1, s.toSeq) });
    printCheck(verifyDayReport(report, s.events === 0 ? { ...recomputed, fromSeq: 0, toSeq: 0 } : recomputed), report, o.json);
    return;
  }
  if (o.data) {
    const term = await openFolder(o.data);
    try {
      const b = await terminalDaySummary(term.log, term.store, term.terminal, report.day, report.timeZone);
      printCheck(verifyDayReport(report, b.summary()), report, o.json);
    } finally {
      await term.close();
    }
    return;
  }
  const qs = `day=${encodeURIComponent(report.day)}&tz=${encodeURIComponent(report.timeZone)}`;
  const { summary } = await clientFor(o).request<{ summary: DaySummary }>('GET', `/api/day-summary?${qs}`);
  printCheck(verifyDayReport(report, summary), report, o.json);
}

export function registerDayCommands(program: Command): void {
  program.command('close-day').description('end of day: a Z report that closes the day when the cloud holds the same sales, or an X reading (--preview)')
    .option('--day <YYYY-MM-DD>', 'the business day (default: today)')
    .addOption(new Option('--time-zone <name>', 'the store\'s time zone, e.g. Europe/Paris (default: this machine\'s; env TILLSYNC_TIME_ZONE)').env('TILLSYNC_TIME_ZONE'))
    .option('--preview', 'an X report: read and compare, close nothing (works offline)')
    .addOption(agentOption()).addOption(agentTokenOption()).addOption(jsonOption())
    .action(async (o: AgentFlags & { day?: string; timeZone?: string; preview?: boolean }) => {
      const body = { ...(o.day ? { day: o.day } : {}), ...(o.timeZone ? { timeZone: o.timeZone } : {}) };
      const progress = new Progress(o.preview ? 'day reading' : 'closing the day', !!o.json || !process.stderr.isTTY);
      const r = await clientFor(o).withProgress<DayReport & { alreadyClosed?: boolean }>(o.preview ? '/api/day-report' : '/api/close-day', body, progress);
      console.log(o.json ? JSON.stringify(r, null, 2) : describeReport(r));
    });
}
