// Cashier safeguards in the checkout (issue 22 item 6): a line of more than the
// configured quantity, or a sale above the configured total, is named above the
// payment and asked about before the sale is completed; a quantity the page
// cannot take says why; and a manager can give a line a discount (the agent
// refuses a discount from anyone else, so this control is a convenience, not
// the rule).
import { centsToInput, formatCents, parseCents, showError } from './common.js';

const $ = (id) => document.getElementById(id);
export const MAX_QTY = 100000;

/** The cart as the agent's sale lines: a discount only where there is one. */
export function saleLines(cart) {
  return cart.map((l) => ({ item: l.item.id, qty: l.qty, ...(l.discount > 0 ? { discount: l.discount } : {}) }));
}

/** What to ask the cashier about, in store words ([] = nothing). */
export function cartWarnings(cart, quote, limits) {
  if (!limits) return [];
  const out = [];
  for (const l of cart) {
    if (l.qty > limits.quantity) out.push(`${l.qty} × ${l.item.name} is more than ${limits.quantity}: is the quantity right?`);
  }
  if (quote && quote.total > limits.totalCents) out.push(`The total ${formatCents(quote.total)} is above ${formatCents(limits.totalCents)}: check the sale before taking payment.`);
  return out;
}

/** A quantity typed into the cart: the number, or null after saying why in `out`. */
export async function checkedQuantity(text, out) {
  const n = Number(text);
  if (String(text).trim() !== '' && Number.isInteger(n) && n >= 0 && n <= MAX_QTY) return n;
  await showError(out, {
    code: 'VALIDATION_FAILED',
    hint: `Enter the quantity as a whole number from 1 to ${MAX_QTY.toLocaleString('en-US')} (0 removes the line)`,
    message: `${JSON.stringify(String(text))} is not a quantity`,
  }, 'Quantity not changed');
  return null;
}

/** Asks the manager for a line's discount; resolves with cents (0 removes it) or null when cancelled. */
export function askDiscount(line) {
  const dialog = $('discount-dialog');
  const input = $('discount-amount');
  const out = $('discount-msg');
  const max = line.qty * line.item.price;
  $('discount-for').textContent = `${line.qty} × ${line.item.name} (${formatCents(max)})`;
  input.value = line.discount ? centsToInput(line.discount) : '';
  out.textContent = '';
  out.className = 'result';
  return new Promise((resolve) => {
    const form = $('discount-form');
    const submit = async (ev) => {
      if (!ev.submitter || ev.submitter.value !== 'confirm') return; // Cancel closes the dialog
      ev.preventDefault();
      const text = input.value.trim();
      const cents = text === '' ? 0 : parseCents(text);
      if (cents === null || cents > max) {
        await showError(out, { code: 'VALIDATION_FAILED', hint: `Enter the discount like 1.50, at most ${formatCents(max)}`, message: 'not a discount' }, 'Not applied');
        input.focus();
        return;
      }
      dialog.close('confirm');
      done(cents);
    };
    const closed = () => done(null);
    const done = (v) => {
      form.removeEventListener('submit', submit);
      dialog.removeEventListener('close', closed);
      resolve(v);
    };
    form.addEventListener('submit', submit);
    dialog.addEventListener('close', closed, { once: true });
    dialog.showModal();
    input.focus();
  });
}
