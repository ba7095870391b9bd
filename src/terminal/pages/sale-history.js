// The till's recent sales (GET /api/sales), newest first, with reprint, refund
// and void from the list, and the receipt panel both the new sale and a reprint
// use. A refund or void is refused by the agent with a code the page explains
// (a cashier above the refund limit, a void without a manager, a sale already
// voided); the list is read again after every change, so it always shows what
// the terminal's log says, not what the page hoped.
import { api, centsToInput, el, formatCents, formatTime, parseCents, showBusy, showError, showOk } from './common.js';

const $ = (id) => document.getElementById(id);

export const CARD_BRANDS = { visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', discover: 'Discover', interac: 'Interac', other: 'Card' };
const TENDER_NAMES = { cash: 'Cash', card: 'Card', account: 'Account credit', voucher: 'Voucher' };
const PAGE = 10;

export function paymentLabel(p) {
  if (p.tender === 'card') return `${CARD_BRANDS[p.brand] || 'Card'} •••• ${p.last4}`;
  if (p.tender === 'account') return `Account: ${p.customer}`;
  if (p.tender === 'voucher') return `Voucher ${p.voucher}`;
  return 'Cash';
}

/**
 * Fills the receipt panel. `r`: { title, headline, lines: [{ qty, name, unitPrice, discount }],
 * rows: [[label, text]], meta }.
 */
export function renderReceipt(r) {
  $('receipt-title').textContent = r.title;
  $('receipt-change').textContent = r.headline;
  $('receipt-lines').replaceChildren(...r.lines.map((l) => el('tr', {},
    el('td', { text: `${l.qty} × ${l.name}` }),
    el('td', { class: 'num', text: formatCents(l.qty * l.unitPrice - l.discount) }),
  )));
  $('receipt-totals').replaceChildren(...r.rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  $('receipt-meta').textContent = r.meta;
  $('receipt').hidden = false;
}

function stateText(s) {
  if (s.voided) return 'voided';
  const parts = [];
  if (s.refunded > 0) parts.push(`refunded ${formatCents(s.refunded)}`);
  parts.push(s.uploaded ? 'uploaded' : 'not yet uploaded');
  return parts.join(' · ');
}

function reprint(s) {
  const cash = s.payments.find((p) => p.tender === 'cash');
  const rows = [
    ['Subtotal', formatCents(s.subtotal)],
    ...(s.discount ? [['Discount', formatCents(-s.discount)]] : []),
    ['Tax', formatCents(s.tax)],
    ['Total', formatCents(s.total)],
    ...s.payments.filter((p) => p.tender !== 'cash').map((p) => [paymentLabel(p), formatCents(p.amount)]),
    ...(cash ? [['Cash tendered', formatCents(cash.tendered)], ['Change', formatCents(cash.change)]] : []),
    ...(s.refunded > 0 ? [['Refunded', formatCents(-s.refunded)]] : []),
  ];
  renderReceipt({
    title: 'Receipt (reprint)',
    headline: s.voided ? 'VOIDED' : `Sale of ${formatTime(s.time)}`,
    lines: s.lines,
    rows,
    meta: `Sale ${s.id}${s.customer ? ` · customer ${s.customer}` : ''} · ${stateText(s)}.`,
  });
  $('receipt').focus();
}

/** The recent-sales panel; `refresh()` reads the list again (after a new sale, say). */
export function initSaleHistory() {
  const body = $('history-lines');
  const msg = $('history-msg');
  const dialog = $('sale-action');
  const form = $('sale-action-form');
  /** The sales shown, and where the next page starts. */
  let shown = [];
  let next = null;
  let acting = null; // { kind: 'refund' | 'void', sale }

  function row(s) {
    const actions = el('td', { class: 'actions' },
      el('button', { type: 'button', class: 'small', 'data-action': 'reprint', text: 'Reprint', onclick: () => reprint(s) }),
      s.voided || s.refunded >= s.total ? null
        : el('button', { type: 'button', class: 'small', 'data-action': 'refund', text: 'Refund…', onclick: () => openAction('refund', s) }),
      s.voided ? null
        : el('button', { type: 'button', class: 'small warn', 'data-action': 'void', text: 'Void…', onclick: () => openAction('void', s) }),
    );
    return el('tr', { 'data-sale': s.id, 'data-state': s.voided ? 'voided' : s.refunded > 0 ? 'refunded' : '' },
      el('td', { class: 'time', text: formatTime(s.time) }),
      el('td', { class: 'num', text: formatCents(s.total) }),
      el('td', { text: s.payments.map(paymentLabel).join(', ') || '—' }),
      el('td', { class: 'state', text: stateText(s) }),
      actions,
    );
  }

  function render(cleanedUpTo) {
    body.replaceChildren(...shown.map(row));
    $('history-empty').hidden = shown.length > 0;
    $('history-empty').textContent = cleanedUpTo > 0
      ? 'No sales kept on this terminal: older ones were cleaned up (the cloud keeps them).'
      : 'No sales on this terminal yet.';
    $('history-more').hidden = next === null;
    $('history-note').textContent = next === null && cleanedUpTo > 0 && shown.length > 0
      ? 'Older sales were cleaned up from this terminal; the cloud keeps them.' : '';
  }

  async function load(more = false) {
    try {
      const page = await api('GET', `/api/sales?limit=${PAGE}${more && next !== null ? `&before=${next}` : ''}`);
      shown = more ? [...shown, ...page.sales] : page.sales;
      next = page.next;
      render(page.cleanedUpTo);
      if (!more && msg.classList.contains('is-error')) msg.textContent = '';
    } catch (err) {
      await showError(msg, err, 'Could not read the recent sales');
    }
  }

  function openAction(kind, sale) {
    acting = { kind, sale };
    const left = sale.total - sale.refunded;
    $('sale-action-title').textContent = kind === 'refund' ? 'Refund a sale' : 'Void a sale';
    $('sale-action-summary').textContent = `${formatCents(sale.total)} at ${formatTime(sale.time)}, paid by ${sale.payments.map(paymentLabel).join(', ')}`
      + (sale.refunded > 0 ? `; ${formatCents(sale.refunded)} already refunded.` : '.')
      + (kind === 'void' ? ' Voiding cancels the whole sale and gives back account credit and voucher value it used; a manager must do it.' : '');
    $('refund-fields').hidden = kind !== 'refund';
    $('refund-amount').value = centsToInput(left);
    const tenders = $('refund-tender');
    tenders.replaceChildren(...sale.payments.map((p, i) => el('option', { value: String(i), text: `${TENDER_NAMES[p.tender]} (${paymentLabel(p)})` })));
    $('action-reason').value = '';
    $('sale-action-confirm').textContent = kind === 'refund' ? 'Refund' : 'Void sale';
    $('sale-action-msg').textContent = '';
    $('sale-action-msg').className = 'result';
    dialog.showModal();
    (kind === 'refund' ? $('refund-amount') : $('action-reason')).focus();
  }

  async function confirm() {
    const { kind, sale } = acting;
    const out = $('sale-action-msg');
    const reason = $('action-reason').value.trim();
    if (!reason) {
      await showError(out, { code: 'VALIDATION_FAILED', hint: 'Say why, for the audit trail' }, 'Not done');
      $('action-reason').focus();
      return;
    }
    let path;
    let request;
    if (kind === 'refund') {
      const amount = parseCents($('refund-amount').value);
      if (amount === null || amount === 0) {
        await showError(out, { code: 'VALIDATION_FAILED', hint: 'Enter the amount to refund like 4.50' }, 'Not done');
        $('refund-amount').focus();
        return;
      }
      const p = sale.payments[Number($('refund-tender').value)] || { tender: 'cash' };
      request = {
        amount, tender: p.tender, reason,
        ...(p.customer ? { customer: p.customer } : {}),
        ...(p.voucher ? { voucher: p.voucher } : {}),
      };
      path = `/api/sales/${encodeURIComponent(sale.id)}/refund`;
    } else {
      request = { reason };
      path = `/api/sales/${encodeURIComponent(sale.id)}/void`;
    }
    $('sale-action-confirm').disabled = true;
    showBusy(out, kind === 'refund' ? 'Refunding…' : 'Voiding…');
    try {
      await api('POST', path, request);
      dialog.close('done');
      showOk(msg, kind === 'refund'
        ? `Refunded ${formatCents(request.amount)} of the ${formatCents(sale.total)} sale.`
        : `Sale of ${formatCents(sale.total)} voided.`);
      await load();
    } catch (err) {
      await showError(out, err, 'Not done');
    } finally {
      $('sale-action-confirm').disabled = false;
    }
  }

  form.addEventListener('submit', (ev) => {
    // Cancel closes the dialog; Confirm stays open until the agent answered.
    if (ev.submitter && ev.submitter.value === 'confirm') {
      ev.preventDefault();
      confirm();
    }
  });
  $('history-refresh').addEventListener('click', () => load());
  $('history-more').addEventListener('click', () => load(true));
  load();
  return { refresh: () => load() };
}
