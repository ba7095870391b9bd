/**
 * The dashboard's HTML, rendered on the server: the whole page for GET /, and
 * the same fragments for the page's live refresh (the script swaps them in),
 * so rendering lives in one place. Every value from storage or a terminal goes
 * through `esc`; money is shown in the store's currency from integer cents
 * (minor units by the currency's own digits: JPY has none). Nothing secret is
 * ever rendered: no token, no token hash, no event bodies beyond amounts.
 */
import type { ExceptionRecord } from '../storage.ts';
import type { StoreOverview, TerminalHistory, TerminalRow } from './overview.ts';

export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const formats = new Map<string, Intl.NumberFormat>();
/** Integer minor units as currency: money(4120, 'USD') === '$41.20'. */
export function money(cents: number, currency: string): string {
  let f = formats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    formats.set(currency, f);
  }
  return f.format(cents / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago" (a future time, from a skewed clock, reads "just now"). */
export function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 5) return 'just now';
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

const when = (at: number, now: number) => `<time datetime="${esc(new Date(at).toISOString())}" title="${esc(new Date(at).toISOString())}">${esc(ago(at, now))}</time>`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What is known of the terminal's unsent sales: its own last report, compared with what the cloud stored since. */
export function pendingOf(t: TerminalRow): { known: false } | { known: true; events: number; sales: number; amount: number; oldest?: number; at: number } {
  const r = t.presence?.report;
  if (!r) return { known: false };
  const events = Math.max(0, r.head - t.ackSeq);
  // Uploaded since it reported: nothing of what it counted is left.
  if (events === 0) return { known: true, events: 0, sales: 0, amount: 0, at: r.at };
  return { known: true, events, sales: r.sales, amount: r.amount, ...(r.oldest !== undefined ? { oldest: r.oldest } : {}), at: r.at };
}

function terminalRow(s: StoreOverview, t: TerminalRow, now: number): string {
  const cur = s.store.settings.currency;
  const p = t.presence;
  const seen = p
    ? `${when(p.lastSeen, now)}${t.streams > 0 ? ' <span class="ok">· live stream</span>' : ''}`
    : '<span class="muted">not seen since the cloud started</span>';
  const pend = pendingOf(t);
  const pending = !pend.known
    ? '<span class="muted">not reported by the terminal</span>'
    : pend.events === 0
      ? `<span class="ok">all uploaded</span> <small class="muted">(reported ${when(pend.at, now)})</small>`
      : `<strong class="warn">${esc(plural(pend.sales, 'sale'))} / ${esc(money(pend.amount, cur))}</strong> not yet uploaded`
        + ` <small class="muted">(${esc(plural(pend.events, 'event'))}${pend.oldest !== undefined ? `, oldest ${when(pend.oldest, now)}` : ''}; reported ${when(pend.at, now)})</small>`;
  const err = p?.lastError
    ? `<span class="bad">${esc(p.lastError.code)}</span> <small class="muted">${when(p.lastError.at, now)}</small>`
    : '<span class="muted">none</span>';
  return `<tr class="terminal" data-store="${esc(s.store.id)}" data-terminal="${esc(t.id)}">`
    + `<td><strong>${esc(t.name)}</strong> <small class="muted">${esc(t.id)}</small>${t.revoked ? ' <span class="bad">revoked</span>' : ''}</td>`
    + `<td class="last-seen">${seen}</td>`
    + `<td class="ack">seq ${esc(t.ackSeq)}</td>`
    + `<td class="pending">${pending}</td>`
    + `<td class="quarantined">${t.quarantined > 0 ? `<span class="bad">${esc(t.quarantined)}</span>` : '0'}</td>`
    + `<td class="last-error">${err}</td>`
    + `<td><button type="button" data-action="history" data-store="${esc(s.store.id)}" data-terminal="${esc(t.id)}">History</button>`
    // Re-enrollment gives a new credential and revokes the old one: offered only where the old one no longer works.
    + `${t.revoked ? ` <button type="button" data-action="reenroll" data-store="${esc(s.store.id)}" data-terminal="${esc(t.id)}">Re-enroll</button>` : ''}</td></tr>`;
}

function exceptionItem(s: StoreOverview, e: ExceptionRecord, now: number): string {
  const cur = s.store.settings.currency;
  const subject = e.subject.kind === 'balance' ? `Customer ${e.subject.customer}` : `Voucher ${e.subject.voucher}`;
  const why = e.reason === 'customer-removed'
    ? 'was spent or credited on a terminal after the back office removed it'
    : `went ${money(e.shortfall, cur)} below zero (from ${money(e.balanceBefore, cur)})`;
  return `<li class="exception" data-store="${esc(s.store.id)}" data-exception="${esc(e.id)}">`
    + `<strong>${esc(subject)}</strong> ${esc(why)} <small class="muted">· ${esc(e.id)} · terminals ${esc(e.terminals.join(', '))} · opened ${when(e.openedAt, now)}</small> `
    + `<button type="button" data-action="resolve" data-store="${esc(s.store.id)}" data-id="${esc(e.id)}">Resolve</button></li>`;
}

function quarantineTable(s: StoreOverview, now: number): string {
  const cur = s.store.settings.currency;
  if (s.quarantine.length === 0) return '<p class="muted">No quarantined events.</p>';
  const rows = s.quarantine.map((q) => `<tr class="quarantined-event" data-store="${esc(s.store.id)}" data-terminal="${esc(q.terminal)}" data-seq="${esc(q.seq)}">`
    + `<td>${esc(q.terminal)}</td><td>seq ${esc(q.seq)}</td><td>${esc(q.type)}</td>`
    + `<td>${q.amount !== undefined ? esc(money(q.amount, q.currency ?? cur)) : ''}</td>`
    + `<td><span class="bad">${esc(q.code)}</span> <small>${esc(q.message)}</small></td>`
    + `<td>${q.time !== undefined ? when(q.time, now) : ''}</td>`
    + `<td><button type="button" data-action="release" data-store="${esc(s.store.id)}" data-terminal="${esc(q.terminal)}" data-seq="${esc(q.seq)}">Release</button></td></tr>`).join('');
  const more = s.counters.quarantined > s.quarantine.length ? `<p class="muted">${esc(s.counters.quarantined - s.quarantine.length)} more not listed.</p>` : '';
  return `<table class="quarantine"><thead><tr><th>Terminal</th><th>Event</th><th>Type</th><th>Amount</th><th>Why</th><th>Made</th><th></th></tr></thead><tbody>${rows}</tbody></table>${more}`;
}

function storeSection(s: StoreOverview, now: number): string {
  const cur = s.store.settings.currency;
  let sales = 0;
  let amount = 0;
  let unknown = 0;
  for (const t of s.terminals) {
    const p = pendingOf(t);
    if (!p.known) unknown++;
    else if (p.events > 0) {
      sales += p.sales;
      amount += p.amount;
    }
  }
  const summary = [
    plural(s.terminals.length, 'terminal'),
    `<span class="store-pending">${esc(plural(sales, 'sale'))} / ${esc(money(amount, cur))} not yet uploaded${unknown > 0 ? ` (${esc(unknown)} not reporting)` : ''}</span>`,
    `<span class="${s.counters.openExceptions > 0 ? 'bad' : ''}">${esc(plural(s.counters.openExceptions, 'open exception'))}</span>`,
    `<span class="${s.counters.quarantined > 0 ? 'bad' : ''}">${esc(s.counters.quarantined)} quarantined</span>`,
  ].join(' · ');
  const terminals = s.terminals.length === 0
    ? '<p class="muted">No terminals yet.</p>'
    : `<table class="terminals"><thead><tr><th>Terminal</th><th>Last seen</th><th>Stored by the cloud</th><th>Not yet uploaded</th><th>Quarantined</th><th>Last error</th><th></th></tr></thead>`
      + `<tbody>${s.terminals.map((t) => terminalRow(s, t, now)).join('')}</tbody></table>`;
  const exceptions = s.exceptions.length === 0
    ? '<p class="muted">No open exceptions.</p>'
    : `<ul class="exceptions">${s.exceptions.map((e) => exceptionItem(s, e, now)).join('')}</ul>`;
  return `<section class="store" data-store="${esc(s.store.id)}">`
    + `<h2>${esc(s.store.name)} <small class="muted">${esc(s.store.id)} · ${esc(cur)}</small></h2>`
    + `<p class="summary">${summary}</p>${terminals}`
    + `<h3>Open exceptions</h3>${exceptions}<h3>Quarantine</h3>${quarantineTable(s, now)}</section>`;
}

/** The live part of the page: every store. */
export function renderOverview(stores: StoreOverview[], now: number): string {
  if (stores.length === 0) return '<p class="muted">No stores yet: create one with <code>tillsync admin store create</code>.</p>';
  return stores.map((s) => storeSection(s, now)).join('');
}

export function renderHistory(h: TerminalHistory, now: number): string {
  const cur = h.store.settings.currency;
  const p = h.terminal.presence;
  const exchanges = !p
    ? '<p class="muted">Not seen since the cloud started.</p>'
    : `<table class="exchanges"><thead><tr><th>When</th><th>Request</th><th>Answer</th></tr></thead><tbody>${[...p.exchanges].reverse().map((x) => `<tr><td>${when(x.at, now)}</td><td>${esc(x.method)} ${esc(x.path)}</td>`
      + `<td>${x.code !== undefined ? `<span class="bad">${esc(x.status)} ${esc(x.code)}</span>` : `<span class="ok">${esc(x.status)}</span>`}</td></tr>`).join('')}</tbody></table>`;
  const events = h.events.length === 0
    ? '<p class="muted">No events stored yet.</p>'
    : `<table class="events"><thead><tr><th>Seq</th><th>Event</th><th>Amount</th><th>Made (terminal clock)</th><th>State</th></tr></thead><tbody>${h.events.map((e) => `<tr data-seq="${esc(e.seq)}"><td>${esc(e.seq)}</td><td>${esc(e.type)}</td>`
      + `<td>${e.amount !== undefined ? esc(money(e.amount, e.currency ?? cur)) : ''}</td><td>${when(e.time, now)}</td>`
      + `<td>${e.quarantine ? `<span class="bad">quarantined: ${esc(e.quarantine.code)}</span>` : '<span class="ok">accepted</span>'}</td></tr>`).join('')}</tbody></table>`;
  return `<h2>Sync history: ${esc(h.terminal.name)} <small class="muted">${esc(h.terminal.id)} · ${esc(h.store.name)}</small></h2>`
    + `<p class="muted">Stored up to seq ${esc(h.terminal.ackSeq)}. Requests are those this cloud process answered since it started (newest first).</p>`
    + `<h3>Recent requests</h3>${exchanges}<h3>Newest stored events</h3>${events}<h3>Support bundles</h3>${supportBundles(h, now)}`;
}

function supportBundles(h: TerminalHistory, now: number): string {
  if (h.supportBundles.length === 0) return '<p class="muted">None sent (the terminal\'s Sync Manager: Recovery → Send to support).</p>';
  const base = `/v1/admin/stores/${encodeURIComponent(h.store.id)}/terminals/${encodeURIComponent(h.terminal.id)}/support-bundles`;
  return `<ul class="support-bundles">${h.supportBundles.map((b) => `<li data-bundle="${esc(b.id)}"><a href="${esc(`${base}/${b.id}`)}" download>${esc(b.id)}</a>`
    + ` <small class="muted">sent ${when(b.received, now)}, ${esc(Math.ceil(b.bytes / 1024))} KB</small></li>`).join('')}</ul>`;
}

/** The whole dashboard page, with the overview already in it (the script keeps it live). */
export function renderPage(stores: StoreOverview[], now: number, pollMs: number): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>tillsync · stores</title><link rel="stylesheet" href="/dashboard/assets/dashboard.css"></head>`
    + `<body data-poll-ms="${esc(pollMs)}"><header class="bar"><h1>tillsync · all stores</h1>`
    + `<span id="live" class="muted">Loading…</span><button type="button" id="sign-out">Sign out</button></header>`
    + `<p id="flash" role="status" aria-live="polite"></p>`
    + `<div id="new-credential" hidden><p>New credential for <strong id="new-credential-for"></strong>, shown once: paste it into that terminal's Sync Manager (Recovery → Re-enroll terminal).</p>`
    + `<code id="new-credential-token"></code> <button type="button" id="new-credential-done">Done</button></div>`
    + `<main id="overview">${renderOverview(stores, now)}</main>`
    + `<section id="history" hidden></section>`
    + `<footer class="muted">Last seen, recent requests and errors are what this cloud process saw since it started; "not yet uploaded" is the terminal's own last report, compared with what the cloud has stored since.</footer>`
    + `<script src="/dashboard/assets/dashboard.js"></script></body></html>`;
}
