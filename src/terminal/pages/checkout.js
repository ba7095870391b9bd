// The checkout page: scan or search items, a cart priced by the agent
// (POST /api/sales/quote), a customer with their account balance, payments by
// cash, card (simulated reader: token, brand, last 4 only), account credit and
// voucher, then POST /api/sales. Money is integer cents throughout; the page
// only talks to the local agent, so it works the same offline.
import {
  api, centsToInput, confirmDialog, currentSession, el, errorHints, describeConnection, formatCents, parseCents, plural,
  showBusy, showError, showOk, watchStatus,
} from './common.js';
import { CARD_BRANDS as BRAND, initSaleHistory, paymentLabel, renderReceipt } from './sale-history.js';
import { askDiscount, cartWarnings, checkedQuantity, MAX_QTY, saleLines } from './cart-checks.js';

const $ = (id) => document.getElementById(id);

/** @type {Array<{ item: any, qty: number, discount: number }>} */
let cart = [];
/** The signed-in person's role and the agent's checkout warnings (GET /api/session). */
let role = null;
let limits = null;
let quote = null;
let quoteSeq = 0;
let customer = null; // CustomerAccount from GET /api/customers/:id
/** Non-cash payments added so far; cash is what is in the tendered box. */
let payments = [];
let voucherInfo = null;
let lastFeedCursor = null;
let completing = false;

const barcode = $('barcode');
const focusScan = () => barcode.focus();

// ------------------------------------------------------------------ cart

function addToCart(item) {
  const line = cart.find((l) => l.item.id === item.id);
  if (line) line.qty += 1;
  else cart.push({ item, qty: 1, discount: 0 });
  $('receipt').hidden = true;
  cartChanged();
}

function cartChanged() {
  clearMsg($('sale-msg'));
  renderCart();
  requote();
}

async function requote() {
  const seq = ++quoteSeq;
  if (cart.length === 0) {
    quote = null;
    renderTotals();
    return;
  }
  try {
    const q = await api('POST', '/api/sales/quote', { lines: saleLines(cart) });
    if (seq !== quoteSeq) return;
    quote = q;
    $('quote-msg').textContent = '';
    $('quote-msg').className = 'result';
  } catch (err) {
    if (seq !== quoteSeq) return;
    quote = null;
    await showError($('quote-msg'), err, 'Cannot price the cart');
  }
  renderCart();
  renderTotals();
}

function lineAmount(index) {
  const q = quote && quote.lines[index];
  const l = cart[index];
  if (q && q.item === l.item.id && q.qty === l.qty) return q.qty * q.unitPrice - q.discount;
  return l.qty * l.item.price;
}

function renderCart() {
  const body = $('cart-lines');
  body.replaceChildren(...cart.map((l, i) => {
    const qty = el('input', {
      type: 'number', min: '1', max: String(MAX_QTY), step: '1', value: String(l.qty), class: 'qty',
      'aria-label': `Quantity of ${l.item.name}`,
      onchange: async (ev) => {
        const n = await checkedQuantity(ev.target.value, $('quote-msg'));
        if (n === null) {
          ev.target.value = String(l.qty); // said why; the line keeps its quantity
          return;
        }
        if (n === 0) cart.splice(cart.indexOf(l), 1);
        else {
          l.qty = n;
          l.discount = Math.min(l.discount, n * l.item.price);
        }
        cartChanged();
      },
      onkeydown: (ev) => {
        if (ev.key === 'Enter') {
          ev.target.dispatchEvent(new Event('change'));
          focusScan();
        }
      },
    });
    return el('tr', { 'data-item': l.item.id },
      el('td', {}, el('div', { class: 'item-name', text: l.item.name }), el('div', { class: 'muted small', text: l.item.sku })),
      el('td', { class: 'num' }, qty),
      el('td', { class: 'num', text: formatCents(l.item.price) }),
      el('td', { class: 'num amount' }, formatCents(lineAmount(i)),
        l.discount > 0 ? el('div', { class: 'muted small line-discount', text: `incl. ${formatCents(-l.discount)} discount` }) : null),
      el('td', { class: 'num' }, role === 'manager' ? el('button', {
        type: 'button', class: 'icon', 'data-action': 'discount', 'aria-label': `Discount on ${l.item.name}`, title: 'Discount (manager)', text: '%',
        onclick: async () => {
          const cents = await askDiscount(l);
          if (cents !== null) {
            l.discount = cents;
            cartChanged();
          }
          focusScan();
        },
      }) : null, el('button', {
        type: 'button', class: 'icon', 'aria-label': `Remove ${l.item.name}`, title: 'Remove', text: '✕',
        onclick: () => {
          cart.splice(cart.indexOf(l), 1);
          cartChanged();
          focusScan();
        },
      })),
    );
  }));
  const units = cart.reduce((s, l) => s + l.qty, 0);
  $('cart-count').textContent = cart.length ? `(${plural(units, 'item')})` : '';
  $('cart-empty').hidden = cart.length > 0;
  $('cart').hidden = cart.length === 0;
}

function total() {
  return quote ? quote.total : 0;
}
function nonCashTotal() {
  return payments.reduce((s, p) => s + p.amount, 0);
}
function remaining() {
  return Math.max(0, total() - nonCashTotal());
}

function clearMsg(out) {
  out.textContent = '';
  out.className = 'result';
}

function renderTotals() {
  $('t-subtotal').textContent = formatCents(quote ? quote.subtotal : 0);
  const discount = quote ? quote.discount : 0;
  $('t-discount').textContent = formatCents(-discount);
  $('t-discount').hidden = discount === 0;
  $('t-discount').previousElementSibling.hidden = discount === 0;
  $('t-tax').textContent = formatCents(quote ? quote.tax : 0);
  $('t-total').textContent = formatCents(total());
  const warnings = cartWarnings(cart, quote, limits);
  $('cart-warning').hidden = warnings.length === 0;
  $('cart-warning').replaceChildren(...warnings.map((w) => el('div', { text: w })));
  renderPayments();
}

// ------------------------------------------------------------------ scanning and search

$('scan-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const code = barcode.value.trim();
  barcode.value = '';
  focusScan();
  const msg = $('scan-msg');
  if (!code) return;
  if (!/^[0-9A-Za-z-]{1,32}$/.test(code)) {
    await showError(msg, { code: 'ITEM_NOT_FOUND', message: `“${code.slice(0, 40)}” is not a barcode` }, 'Not added');
    return;
  }
  try {
    const { item } = await api('GET', `/api/items/scan/${encodeURIComponent(code)}`);
    addToCart(item);
    showOk(msg, `Added ${item.name} — ${formatCents(item.price)}`);
  } catch (err) {
    await showError(msg, err, `Not added (${code})`);
  }
  focusScan();
});

function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** A search box with a list of result buttons: typing searches, Enter takes the first, arrows move. */
function searchBox({ input, list, path, key, render, pick }) {
  let seq = 0;
  let results = [];
  const run = async () => {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q) {
      results = [];
      list.replaceChildren();
      return results;
    }
    try {
      const body = await api('GET', `${path}?q=${encodeURIComponent(q)}&limit=8`);
      if (mine !== seq) return results;
      results = body[key];
      list.replaceChildren(...(results.length
        ? results.map((r) => el('li', {}, el('button', { type: 'button', class: 'result-btn', onclick: () => choose(r) }, ...render(r))))
        : [el('li', { class: 'empty', text: 'No match' })]));
    } catch (err) {
      if (mine !== seq) return results;
      const li = el('li', { class: 'result' });
      list.replaceChildren(li);
      await showError(li, err, 'Search failed');
    }
    return results;
  };
  const choose = (r) => {
    input.value = '';
    results = [];
    list.replaceChildren();
    pick(r);
  };
  const later = debounce(run, 120);
  input.addEventListener('input', later);
  input.addEventListener('keydown', async (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      const r = await run();
      if (r[0]) choose(r[0]);
    } else if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      const first = list.querySelector('button');
      if (first) first.focus();
    } else if (ev.key === 'Escape') {
      input.value = '';
      list.replaceChildren();
    }
  });
  list.addEventListener('keydown', (ev) => {
    const buttons = [...list.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    if (ev.key === 'ArrowDown' && buttons[i + 1]) {
      ev.preventDefault();
      buttons[i + 1].focus();
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      (buttons[i - 1] || input).focus();
    } else if (ev.key === 'Escape') {
      input.focus();
    }
  });
  return { refresh: run };
}

searchBox({
  input: $('item-search'),
  list: $('item-results'),
  path: '/api/items',
  key: 'items',
  render: (it) => [
    el('span', { class: 'r-main', text: it.name }),
    el('span', { class: 'r-sub', text: it.sku }),
    el('span', { class: 'r-num', text: formatCents(it.price) }),
  ],
  pick: (it) => {
    addToCart(it);
    showOk($('scan-msg'), `Added ${it.name} — ${formatCents(it.price)}`);
    focusScan();
  },
});

// ------------------------------------------------------------------ customer

const customerSearch = searchBox({
  input: $('customer-search'),
  list: $('customer-results'),
  path: '/api/customers',
  key: 'customers',
  render: (c) => [
    el('span', { class: 'r-main', text: c.name }),
    el('span', { class: 'r-sub', text: [c.phone, c.email].filter(Boolean).join(' · ') }),
    el('span', { class: 'r-num', text: formatCents(c.balance) }),
  ],
  pick: async (c) => {
    await selectCustomer(c.id);
    focusScan();
  },
});

async function selectCustomer(id) {
  try {
    customer = await api('GET', `/api/customers/${encodeURIComponent(id)}`);
  } catch (err) {
    customer = null;
    await showError($('tender-msg'), err, 'Customer not selected');
  }
  renderCustomer();
}

async function refreshCustomer() {
  if (!customer) return;
  try {
    customer = await api('GET', `/api/customers/${encodeURIComponent(customer.customer.id)}`);
  } catch {
    // Removed from the catalog meanwhile: keep showing what we had.
  }
  renderCustomer();
}

function renderCustomer() {
  const card = $('customer-card');
  $('customer-pick').hidden = customer !== null;
  card.hidden = customer === null;
  if (customer) {
    const c = customer.customer;
    $('customer-name').textContent = c.name;
    $('customer-contact').textContent = [c.phone, c.email].filter(Boolean).join(' · ');
    $('customer-balance').textContent = formatCents(customer.balance);
    $('customer-balance-note').textContent = customer.unconfirmed !== 0
      ? `${formatCents(customer.confirmed)} confirmed by the cloud, ${formatCents(customer.unconfirmed)} from this terminal not yet synced`
      : 'confirmed by the cloud';
    $('account-help').textContent = `${c.name}: ${formatCents(customer.balance)} available.`;
  } else {
    $('account-help').textContent = 'Select a customer first.';
  }
}

$('customer-clear').addEventListener('click', () => {
  customer = null;
  payments = payments.filter((p) => p.tender !== 'account');
  renderCustomer();
  renderPayments();
  $('customer-search').focus();
});

// ------------------------------------------------------------------ payments

const TABS = ['cash', 'card', 'account', 'voucher'];
function selectTab(name, focus = false) {
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`pane-${t}`).hidden = !on;
  }
  const amount = { card: 'card-amount', account: 'account-amount', voucher: 'voucher-amount' }[name];
  if (amount) prefill($(amount), name);
  if (focus) $(`tab-${name}`).focus();
}
for (const t of TABS) {
  const tab = $(`tab-${t}`);
  tab.addEventListener('click', () => selectTab(t));
  tab.addEventListener('keydown', (ev) => {
    const i = TABS.indexOf(t);
    if (ev.key === 'ArrowRight') selectTab(TABS[(i + 1) % TABS.length], true);
    else if (ev.key === 'ArrowLeft') selectTab(TABS[(i + TABS.length - 1) % TABS.length], true);
  });
}

function prefill(input, tender) {
  let amount = remaining();
  if (tender === 'account' && customer) amount = Math.min(amount, Math.max(0, customer.balance));
  if (tender === 'voucher' && voucherInfo) amount = Math.min(amount, Math.max(0, voucherInfo.balance));
  input.value = amount > 0 ? centsToInput(amount) : '';
}

/**
 * Parses an amount box for a card, account or voucher payment; shows what is wrong and returns
 * null unless it is a positive amount no larger than what is still due (a card charged more
 * than the sale would be refused PAYMENT_MISMATCH at the end, after the customer paid).
 */
async function amountFrom(input) {
  const cents = parseCents(input.value);
  if (cents === null || cents <= 0) {
    await showError($('tender-msg'), { code: 'VALIDATION_FAILED', hint: 'Enter the amount as a number, like 12.50', message: 'not an amount' }, 'Not added');
    input.focus();
    return null;
  }
  const due = remaining();
  if (due === 0) {
    await showError($('tender-msg'), { code: 'PAYMENT_MISMATCH', hint: 'Nothing is due: the payments already cover the sale', message: 'nothing due' }, 'Not added');
    return null;
  }
  if (cents > due) {
    await showError($('tender-msg'), { code: 'PAYMENT_MISMATCH', hint: `Enter at most ${formatCents(due)}: that is what is still due`, message: `${formatCents(cents)} is more than is due` }, 'Not added');
    input.value = centsToInput(due);
    input.focus();
    return null;
  }
  return cents;
}

function randomHex(bytes) {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A stand-in for the card terminal: what a processor hands back, never a card number. */
function simulatedReader() {
  const brands = ['visa', 'mastercard', 'amex', 'discover'];
  const r = crypto.getRandomValues(new Uint32Array(3));
  return {
    token: `tok_sim_${randomHex(8)}`,
    brand: brands[r[0] % brands.length],
    last4: String(r[1] % 10000).padStart(4, '0'),
    authCode: r[2].toString(36).toUpperCase().padStart(6, '0').slice(-6),
  };
}

$('card-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const amount = await amountFrom($('card-amount'));
  if (amount === null) return;
  const card = simulatedReader();
  payments.push({ tender: 'card', amount, card, label: paymentLabel({ tender: 'card', brand: card.brand, last4: card.last4 }), detail: `${card.token} · auth ${card.authCode}` });
  showOk($('tender-msg'), `Card approved: ${BRAND[card.brand]} •••• ${card.last4}, ${formatCents(amount)} (token ${card.token}).`);
  renderPayments();
});

$('account-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!customer) {
    await showError($('tender-msg'), { code: 'CUSTOMER_NOT_FOUND', message: 'select the customer whose account pays' }, 'Not added');
    $('customer-search').focus();
    return;
  }
  const amount = await amountFrom($('account-amount'));
  if (amount === null) return;
  const already = payments.filter((p) => p.tender === 'account').reduce((s, p) => s + p.amount, 0);
  if (amount + already > customer.balance) {
    await showError($('tender-msg'), { code: 'INSUFFICIENT_BALANCE', message: `the account holds ${formatCents(customer.balance)}` }, 'Not added');
    return;
  }
  const c = customer.customer;
  payments.push({ tender: 'account', amount, customer: c.id, label: `Account: ${c.name}`, detail: `balance ${formatCents(customer.balance)}` });
  showOk($('tender-msg'), `${formatCents(amount)} from ${c.name}'s account.`);
  renderPayments();
});

async function checkVoucher() {
  const code = $('voucher-code').value.trim().toUpperCase();
  $('voucher-code').value = code;
  const out = $('voucher-balance');
  voucherInfo = null;
  if (!/^[A-Za-z0-9-]{4,40}$/.test(code)) {
    await showError(out, { code: 'VOUCHER_NOT_FOUND', message: 'a voucher code has 4 to 40 letters, digits or dashes' }, 'Unknown voucher');
    return null;
  }
  try {
    voucherInfo = await api('GET', `/api/vouchers/${encodeURIComponent(code)}`);
    showOk(out, `Voucher ${code}: balance ${formatCents(voucherInfo.balance)}`);
    prefill($('voucher-amount'), 'voucher');
  } catch (err) {
    await showError(out, err, 'Unknown voucher');
  }
  return voucherInfo;
}
/** New data came down: show the voucher's current balance without touching the amount typed. */
async function refreshVoucher() {
  if (!voucherInfo) return;
  try {
    const info = await api('GET', `/api/vouchers/${encodeURIComponent(voucherInfo.voucher)}`);
    if (!voucherInfo || voucherInfo.voucher !== info.voucher) return;
    voucherInfo = info;
    showOk($('voucher-balance'), `Voucher ${info.voucher}: balance ${formatCents(info.balance)}`);
  } catch {
    // Keep what is shown; the next check will say what is wrong.
  }
}
$('voucher-check').addEventListener('click', checkVoucher);
$('voucher-code').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    ev.preventDefault();
    checkVoucher();
  }
});

$('voucher-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const info = voucherInfo && voucherInfo.voucher === $('voucher-code').value.trim().toUpperCase() ? voucherInfo : await checkVoucher();
  if (!info) return;
  const amount = await amountFrom($('voucher-amount'));
  if (amount === null) return;
  const already = payments.filter((p) => p.tender === 'voucher' && p.voucher === info.voucher).reduce((s, p) => s + p.amount, 0);
  if (amount + already > info.balance) {
    await showError($('tender-msg'), { code: 'INSUFFICIENT_VOUCHER', message: `the voucher holds ${formatCents(info.balance)}` }, 'Not added');
    return;
  }
  payments.push({ tender: 'voucher', amount, voucher: info.voucher, label: `Voucher ${info.voucher}`, detail: `balance ${formatCents(info.balance)}` });
  showOk($('tender-msg'), `${formatCents(amount)} from voucher ${info.voucher}.`);
  renderPayments();
});

function renderPayments() {
  const table = $('payments');
  table.hidden = payments.length === 0;
  $('payment-lines').replaceChildren(...payments.map((p) => el('tr', {},
    el('td', {}, el('div', { text: p.label }), el('div', { class: 'muted small', text: p.detail })),
    el('td', { class: 'num', text: formatCents(p.amount) }),
    el('td', { class: 'num' }, el('button', {
      type: 'button', class: 'icon', 'aria-label': `Remove payment ${p.label}`, title: 'Remove', text: '✕',
      onclick: () => {
        payments.splice(payments.indexOf(p), 1);
        renderPayments();
      },
    })),
  )));
  $('remaining').textContent = formatCents(remaining());
  clearMsg($('sale-msg'));
  renderChange();
}

function renderChange() {
  const out = $('cash-change');
  const text = $('cash-tendered').value;
  const due = remaining();
  out.className = 'change';
  if (text.trim() === '') {
    out.textContent = due > 0 ? `Due in cash: ${formatCents(due)}` : '';
    return;
  }
  const cents = parseCents(text);
  if (cents === null) {
    out.textContent = 'Enter an amount like 20.00';
    out.classList.add('is-error');
  } else if (cents < due) {
    out.textContent = `Short by ${formatCents(due - cents)}`;
    out.classList.add('is-error');
  } else {
    out.textContent = `Change due: ${formatCents(cents - due)}`;
    out.classList.add('is-ok');
  }
}
$('cash-tendered').addEventListener('input', () => {
  renderChange();
  clearMsg($('sale-msg'));
});
$('cash-exact').addEventListener('click', () => {
  $('cash-tendered').value = centsToInput(remaining());
  renderChange();
  $('cash-tendered').focus();
});
$('cash-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  completeSale();
});

// ------------------------------------------------------------------ the sale

async function completeSale() {
  if (completing) return;
  const msg = $('sale-msg');
  if (cart.length === 0 || !quote) {
    await showError(msg, { code: 'EMPTY_SALE', message: 'the cart is empty' }, 'Not completed');
    focusScan();
    return;
  }
  const cashText = $('cash-tendered').value.trim();
  const tendered = cashText === '' ? 0 : parseCents(cashText);
  if (tendered === null) {
    await showError(msg, { code: 'VALIDATION_FAILED', message: 'enter the cash tendered like 20.00' }, 'Not completed');
    $('cash-tendered').focus();
    return;
  }
  const due = remaining();
  if (tendered < due) {
    await showError(msg, { code: 'PAYMENT_MISMATCH', message: `${formatCents(due - tendered)} still to pay` }, 'Not completed');
    return;
  }
  const warnings = cartWarnings(cart, quote, limits);
  if (warnings.length > 0) {
    const ok = await confirmDialog($('confirm'), { title: 'Check this sale', body: [...warnings, 'Complete it as it is?'], confirmLabel: 'Complete sale' });
    if (!ok) {
      showOk(msg, 'Not completed yet: change the cart, or press Complete sale again.');
      return;
    }
  }
  const body = {
    lines: saleLines(cart),
    payments: [
      ...payments.map((p) => {
        if (p.tender === 'card') return { tender: 'card', amount: p.amount, card: p.card };
        if (p.tender === 'account') return { tender: 'account', amount: p.amount, customer: p.customer };
        return { tender: 'voucher', amount: p.amount, voucher: p.voucher };
      }),
      ...(tendered > 0 ? [{ tender: 'cash', tendered }] : []),
    ],
  };
  if (customer) body.customer = customer.customer.id;
  completing = true;
  $('complete').disabled = true;
  showBusy(msg, 'Saving the sale…');
  try {
    const receipt = await api('POST', '/api/sales', body);
    msg.textContent = '';
    msg.className = 'result';
    await showReceipt(receipt, body, tendered);
    resetSale();
  } catch (err) {
    await showError(msg, err, 'Not completed');
  } finally {
    completing = false;
    $('complete').disabled = false;
    focusScan();
  }
}
$('complete').addEventListener('click', completeSale);

async function showReceipt(receipt, body, tendered) {
  const q = quote;
  const rows = [
    ['Subtotal', formatCents(q.subtotal)],
    ...(q.discount ? [['Discount', formatCents(-q.discount)]] : []),
    ['Tax', formatCents(q.tax)],
    ['Total', formatCents(receipt.total)],
    ...payments.map((p) => [p.label, formatCents(p.amount)]),
    ...(tendered > 0 ? [['Cash tendered', formatCents(tendered)], ['Change', formatCents(receipt.change)]] : []),
  ];
  let meta = `Sale ${receipt.sale} · saved on this terminal, uploaded when online.`;
  if (body.customer) {
    try {
      const acc = await api('GET', `/api/customers/${encodeURIComponent(body.customer)}`);
      meta = `${acc.customer.name}: account balance now ${formatCents(acc.balance)}. ${meta}`;
    } catch {
      // The receipt stands without it.
    }
  }
  renderReceipt({
    title: 'Receipt',
    headline: tendered > 0 ? `Change due: ${formatCents(receipt.change)}` : 'Paid in full',
    lines: q.lines, rows, meta,
  });
  saleHistory.refresh();
}

function resetSale() {
  cart = [];
  quote = null;
  payments = [];
  customer = null;
  voucherInfo = null;
  $('cash-tendered').value = '';
  for (const id of ['card-amount', 'account-amount', 'voucher-amount', 'voucher-code']) $(id).value = '';
  $('voucher-balance').textContent = '';
  $('tender-msg').textContent = '';
  $('scan-msg').textContent = '';
  selectTab('cash');
  renderCustomer();
  renderCart();
  renderTotals();
}

// ------------------------------------------------------------------ sync badge

function renderBadge(status) {
  const s = status.sync;
  const conn = describeConnection(s);
  const badge = $('sync-badge');
  // The alarm wins over the connection's own tone: red or amber at the till too, with the reason on hover.
  const alarm = status.alarm && status.alarm.level !== 'ok' ? status.alarm : null;
  badge.dataset.tone = alarm ? (alarm.level === 'red' ? 'bad' : 'warn') : conn.tone;
  badge.dataset.alarm = alarm ? alarm.level : 'ok';
  $('sync-state').textContent = s.connection.state === 'local' ? 'Local mode' : conn.label;
  const u = status.unsynced;
  $('sync-pending').textContent = u.sales > 0 ? `${plural(u.sales, 'sale')} (${formatCents(u.amount)}) not yet uploaded` : s.pending > 0 ? `${plural(s.pending, 'event')} not yet uploaded` : 'all uploaded';
  badge.title = `${conn.label}${conn.detail ? ` — ${conn.detail}` : ''}.${alarm ? ` ${alarm.reasons.map((r) => r.text).join(' ')}` : ''} Open the Sync Manager.`;
  $('where').textContent = `Store ${status.store} · Terminal ${status.terminal}`;
  // New data came down: balances and prices on screen may have changed.
  if (lastFeedCursor !== null && s.feedCursor !== lastFeedCursor) {
    refreshCustomer();
    refreshVoucher();
    if ($('customer-search').value.trim()) customerSearch.refresh();
    if (cart.length) requote();
  }
  lastFeedCursor = s.feedCursor;
}

errorHints();
const saleHistory = initSaleHistory();
watchStatus({
  onStatus: renderBadge,
  onLink(connected) {
    if (!connected) {
      $('sync-badge').dataset.tone = 'bad';
      $('sync-state').textContent = 'Agent not answering';
    }
  },
});
resetSale();
focusScan();
// The discount control is the manager's; the warnings' limits are the agent's.
currentSession().then((sess) => {
  role = sess.actor ? sess.actor.role : null;
  limits = sess.checkoutWarnings || null;
  renderCart();
  renderTotals();
}, () => {});
