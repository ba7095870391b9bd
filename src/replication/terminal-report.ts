/**
 * The terminal's report of what it holds, sent to the cloud with every request
 * in the optional `x-tillsync-report` header, so the cloud's dashboard can show
 * what the cloud alone cannot know: the sales a terminal made but has not
 * uploaded yet. Backward compatible both ways (protocol version unchanged): an
 * older cloud ignores the header, and a terminal that sends none (or a
 * malformed one) shows as "not reported".
 *
 *   x-tillsync-report: head=12;sales=3;amount=4120;oldest=1733140000000
 *
 * head: the last seq in the terminal's log; sales, amount: the sale.completed
 * events past the acknowledged seq and their total (integer minor units);
 * oldest: the terminal clock time of the oldest of them (absent when none).
 * Numbers only: no ids, names or card data ever travel in it.
 */
export const REPORT_HEADER = 'x-tillsync-report';

export interface TerminalReportFields {
  head: number;
  sales: number;
  amount: number;
  oldest?: number;
}

export function formatTerminalReport(r: TerminalReportFields): string {
  return `head=${r.head};sales=${r.sales};amount=${r.amount}${r.oldest !== undefined ? `;oldest=${r.oldest}` : ''}`;
}

const MAX = Number.MAX_SAFE_INTEGER;

/** The fields of a header value, or undefined for anything that is not exactly a report. */
export function parseTerminalReportHeader(value: unknown): TerminalReportFields | undefined {
  if (typeof value !== 'string' || value.length > 200) return undefined;
  const f = new Map<string, number>();
  for (const part of value.split(';')) {
    const m = /^\s*(head|sales|amount|oldest)=(\d{1,16})\s*$/.exec(part);
    if (!m || f.has(m[1]!)) return undefined;
    const n = Number(m[2]);
    if (n > MAX) return undefined;
    f.set(m[1]!, n);
  }
  const head = f.get('head');
  const sales = f.get('sales');
  const amount = f.get('amount');
  if (head === undefined || sales === undefined || amount === undefined) return undefined;
  const oldest = f.get('oldest');
  return { head, sales, amount, ...(oldest !== undefined ? { oldest } : {}) };
}
