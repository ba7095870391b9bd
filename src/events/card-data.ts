/**
 * Card-data guard. tillsync never stores, logs or answers a full card number
 * (PAN) or a card security code. Every entry point runs `assertNoCardData` over
 * what it received before anything else looks at it (the HTTP servers do it for
 * every route's params, query and JSON body: src/http/wire.ts).
 *
 * How a string is read (`digitRuns`): NFKC first (full-width and other
 * compatibility digits become ASCII), then every Unicode decimal digit (Arabic-
 * Indic, Devanagari, …) counts as its value, a letter ends a digit run, and
 * everything else — spaces of any kind, punctuation, symbols, combining marks,
 * controls, zero-width and other invisible characters — is skipped, so
 * `4111.1111/1111_1111`, `4111\u200b1111…` and `４１１１…` are all the run
 * 4111111111111111. A string holds a card number when any window of 13 to 19
 * consecutive digits of any run passes the Luhn check (so a PAN followed by
 * its CVV or expiry, or inside a longer run, is found too).
 *
 * Exempt keys: `prev` and `hash` (SHA-256 hex that the upload checks against
 * the hash chain, so nothing chosen can sit there) and `barcode(s)`, whose
 * format is `barcodeString` below: a GS1 GTIN (8, 12, 13 or 14 digits with a
 * valid GS1 check digit) or any other code that passes this same check. ULIDs
 * and entity ids are checked like any string.
 */
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';

export const CVV_KEYS = new Set(['cvv', 'cvc', 'cvv2', 'cvc2', 'cid', 'csc', 'securitycode', 'cardsecuritycode', 'cardcode']);
export const PAN_KEYS = new Set(['pan', 'cardnumber', 'number', 'card_number', 'ccnumber']);
/** Keys whose value is checked by its own format instead (see the file comment). */
const EXEMPT_KEYS = new Set(['prev', 'hash']);
const BARCODE_KEYS = new Set(['barcode', 'barcodes']);
const MIN_PAN = 13;
const MAX_PAN = 19;

export function luhnValid(digits: string): boolean {
  return luhnAt(digits, 0, digits.length);
}

/** Luhn over digits [start, end) of a string of ASCII digits. */
function luhnAt(digits: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const LETTER = /\p{L}/u;
const DIGIT = /\p{Nd}/u;
/** Value of a non-ASCII decimal digit: its distance from the start of its block (blocks are runs of tens). */
const digitValues = new Map<number, number>();
function unicodeDigit(cp: number): number {
  let v = digitValues.get(cp);
  if (v === undefined) {
    let start = cp;
    while (start > 0 && DIGIT.test(String.fromCodePoint(start - 1))) start--;
    v = (cp - start) % 10;
    digitValues.set(cp, v);
  }
  return v;
}

/** The digit runs of `text` as the guard reads them (see the file comment), as ASCII digit strings. */
export function digitRuns(text: string): string[] {
  return runsOf(text.normalize('NFKC'));
}

function runsOf(s: string): string[] {
  const runs: string[] = [];
  let run = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 48 && c <= 57) run += ch;
    else if (c < 128) {
      if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
        if (run) runs.push(run);
        run = '';
      }
    } else if (DIGIT.test(ch)) run += String(unicodeDigit(c));
    else if (LETTER.test(ch)) {
      if (run) runs.push(run);
      run = '';
    }
  }
  if (run) runs.push(run);
  return runs;
}

/**
 * True when some 13–19-digit window of `run` (ASCII digits) that starts with
 * 1–9 passes Luhn. No card number starts with 0 (ISO/IEC 7812's first digit,
 * the industry, is never 0 for a payment card), and a window of zeros always
 * passes Luhn: without this, an id like `01J0000000000000000000001` would be
 * refused. A card number after zeros is still found at its own first digit.
 */
function runHoldsPan(run: string): boolean {
  const n = run.length;
  for (let start = 0; start + MIN_PAN <= n; start++) {
    if (run.charCodeAt(start) === 48) continue;
    const last = Math.min(n, start + MAX_PAN);
    for (let end = start + MIN_PAN; end <= last; end++) if (luhnAt(run, start, end)) return true;
  }
  return false;
}

/** True when `text` holds something that may be a full card number, in any notation. */
export function containsCardNumber(text: string): boolean {
  // Fast exit for the common case: pure ASCII with fewer than 13 digits in all.
  let digits = 0;
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 128) {
      ascii = false;
      break;
    }
  }
  if (ascii && digits < MIN_PAN) return false;
  for (const run of ascii ? runsOf(text) : digitRuns(text)) if (run.length >= MIN_PAN && runHoldsPan(run)) return true;
  return false;
}

/** A GS1 GTIN-8/12/13/14 with a valid check digit. */
export function isGtin(code: string): boolean {
  if (!/^(?:\d{8}|\d{12,14})$/.test(code)) return false;
  let sum = 0;
  for (let i = code.length - 2, w = 3; i >= 0; i--, w = 4 - w) sum += (code.charCodeAt(i) - 48) * w;
  return (10 - (sum % 10)) % 10 === code.charCodeAt(code.length - 1) - 48;
}

/**
 * A barcode tillsync accepts: a valid GTIN (EAN/UPC: a 16–19-digit card number
 * cannot be one), or any other code that the card check lets through.
 */
export function barcodeAllowed(code: string): boolean {
  return isGtin(code) || !containsCardNumber(code);
}

/** The item barcode format (event-types.ts uses it): `[0-9A-Za-z-]{4,32}` and `barcodeAllowed`. */
export const barcodeString = z.string().regex(/^[0-9A-Za-z-]{4,32}$/).refine(barcodeAllowed, { params: { code: 'FULL_CARD_NUMBER' } });

function refuse(path: string): never {
  throw new TillsyncError('FULL_CARD_NUMBER', `a full card number is not accepted (at ${path || 'the top level'})`, { details: { path } });
}

/**
 * Walks any decoded value (iteratively, so hostile nesting cannot overflow the
 * stack) and throws FULL_CARD_NUMBER or CVV_REJECTED. Object keys are checked
 * like values. The error never contains the offending value, only the path to
 * it (a key that holds a card number is left out of the path).
 */
export function assertNoCardData(value: unknown): void {
  const stack: Array<{ v: unknown; path: string; key: string }> = [{ v: value, path: '', key: '' }];
  while (stack.length > 0) {
    const { v, path, key } = stack.pop()!;
    const lowerKey = key.toLowerCase();
    if (CVV_KEYS.has(lowerKey)) {
      throw new TillsyncError('CVV_REJECTED', `a card security code field is not accepted (at ${path})`, { details: { path } });
    }
    if (typeof v === 'string') {
      if (BARCODE_KEYS.has(lowerKey) ? !barcodeAllowed(v) : !EXEMPT_KEYS.has(lowerKey) && containsCardNumber(v)) refuse(path);
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      // Money fields have upper bounds far below 13 digits (event-types.ts); any other number named like a PAN is refused.
      if (PAN_KEYS.has(lowerKey) && containsCardNumber(String(v))) refuse(path);
    } else if (Array.isArray(v)) {
      const inherit = BARCODE_KEYS.has(lowerKey) || EXEMPT_KEYS.has(lowerKey);
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}[${i}]`, key: inherit ? key : '' });
    } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      for (const k of Object.keys(v)) {
        if (containsCardNumber(k)) refuse(path);
        stack.push({ v: (v as Record<string, unknown>)[k], path: path ? `${path}.${k}` : k, key: k });
      }
    }
  }
}

/**
 * True when any string, key or integer of at least 13 digits anywhere in
 * `value` may hold a card number, with no exempt keys (for answers and log
 * lines: src/http/wire.ts withholds such an error message and its details).
 */
export function holdsCardNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (containsCardNumber(v)) return true;
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      if (Math.abs(Number(v)) >= 1e12 && containsCardNumber(String(v))) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      for (const [k, x] of Object.entries(v)) {
        if (containsCardNumber(k)) return true;
        stack.push(x);
      }
    }
  }
  return false;
}
