/**
 * Card-data guard. tillsync never stores or logs a full card number (PAN) or a
 * card security code. Every entry point runs `assertNoCardData` over what it
 * received before anything else looks at it.
 *
 * A "full card number" is any run of 13–19 digits (optionally grouped by single
 * spaces or dashes) that passes the Luhn check. Barcode fields are exempt: EAN/UPC
 * codes are 8–14 digits with their own check digit, and ~10% of them would pass
 * Luhn by chance; so are ULID ids and SHA-256 hashes, whose formats the schemas pin.
 */
import { TillsyncError } from '../errors.ts';

export const CVV_KEYS = new Set(['cvv', 'cvc', 'cvv2', 'cvc2', 'cid', 'csc', 'securitycode', 'cardsecuritycode', 'cardcode']);
export const PAN_KEYS = new Set(['pan', 'cardnumber', 'number', 'card_number', 'ccnumber']);
// Fields whose schema pins them to a non-card format (ULIDs, SHA-256 hex, barcodes):
// their digit runs are not card numbers, and a PAN cannot fit their formats unnoticed.
const EXEMPT_KEYS = new Set(['barcode', 'barcodes', 'id', 'prev', 'hash', 'sale']);
const DIGIT_RUN = /\d(?:[ -]?\d){12,}/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
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

/** True when `text` contains something that looks like a full card number. */
export function containsCardNumber(text: string): boolean {
  if (text.length < 13) return false;
  for (const match of text.matchAll(DIGIT_RUN)) {
    const digits = match[0].replace(/[ -]/g, '');
    if (digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}

/**
 * Walks any decoded value (iteratively, so hostile nesting cannot overflow the
 * stack) and throws FULL_CARD_NUMBER or CVV_REJECTED. The error never contains
 * the offending value, only the path to it.
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
      if (!EXEMPT_KEYS.has(lowerKey) && containsCardNumber(v)) {
        throw new TillsyncError('FULL_CARD_NUMBER', `a full card number is not accepted (at ${path})`, { details: { path } });
      }
    } else if (typeof v === 'number') {
      if (PAN_KEYS.has(lowerKey) && containsCardNumber(String(v))) {
        throw new TillsyncError('FULL_CARD_NUMBER', `a full card number is not accepted (at ${path})`, { details: { path } });
      }
    } else if (Array.isArray(v)) {
      const exempt = EXEMPT_KEYS.has(lowerKey);
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}[${i}]`, key: exempt ? key : '' });
    } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      for (const k of Object.keys(v)) stack.push({ v: (v as Record<string, unknown>)[k], path: path ? `${path}.${k}` : k, key: k });
    }
  }
}
