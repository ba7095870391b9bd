/**
 * What a support bundle may hold, for the terminal that makes one and the
 * cloud that keeps one (support-bundle.ts, server/support-bundles.ts): keys
 * named like secrets are dropped, and any string holding a card-number-like
 * digit run (card-data.ts) or a bearer/credential-looking token is replaced.
 */
import { containsCardNumber } from './card-data.ts';

export const SUPPORT_BUNDLE_KIND = 'tillsync-support-bundle';

const SECRET_KEY = /token|secret|password|cookie|authorization|credential|session|cvv|cvc|^pin|pin$|pinhash|^pan$/i;
// A bearer header, or a long run of token characters (pairing and terminal
// credentials are 32+ random base64url characters; ULIDs are 26 and hashes hex).
const TOKEN_TEXT = /Bearer\s+\S+|\b(?=[A-Za-z0-9_-]{32,})(?=[A-Za-z0-9_-]*[g-zG-Z_-])[A-Za-z0-9_-]{32,}\b/g;
export const CARD_REMOVED = '[removed: card-number-like digits]';
export const TOKEN_REMOVED = '[removed: token]';

/** A deep copy with secrets dropped and card numbers and tokens replaced (see the header). */
export function scrub(value: unknown, depth = 0): unknown {
  if (depth > 32) return '[removed: too deep]';
  if (typeof value === 'string') {
    if (containsCardNumber(value)) return CARD_REMOVED;
    return value.replace(TOKEN_TEXT, TOKEN_REMOVED);
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_KEY.test(k)) continue;
      // An own property even for `__proto__`: a key from outside never reaches the prototype.
      Object.defineProperty(out, k, { value: scrub(v, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}
