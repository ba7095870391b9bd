/**
 * The upload's fastest path for one event (phase 1, upload.ts): checks the
 * event's bytes against its schema in ONE pass over them, without building the
 * event object, and reads off the facts phase 2 needs (upload-batch.ts).
 *
 * Contract: `scan` answers true only for bytes that the object path
 * (`decodeCanonical` → `parseEvent` → the batch's store / terminal check)
 * accepts, and then the facts are exactly those the object path's event gives
 * (`factsOf`). For anything else, or anything it is not sure about, it answers
 * false and the caller runs the object path, which decides as before (same
 * codes, same order of checks). It is deliberately narrower than that path:
 * - bytes: only the canonical forms `decodeCanonical` takes (keys sorted, no
 *   duplicates since each key is matched against the schema's sorted list,
 *   shortest headers and integers, well-formed UTF-8, no leading BOM);
 * - numbers: safe integers only (never a float);
 * - the card-data guard: a string that may hold 13 or more digits as
 *   `containsCardNumber` reads them (ASCII digits with anything but ASCII
 *   letters between them, every non-ASCII byte counted as a possible digit) is
 *   left to the object path, Luhn-valid or not; ULIDs included;
 * - money and quantities: above their MONEY_LIMITS / MAX_QTY is the object path's;
 * - the event's store and terminal must be the credential's, byte for byte.
 * test/server/event-scan.test.ts holds it to that on fixture events of every
 * type and on seeded random mutations of them.
 */
import { containsCardNumber } from '../events/card-data.ts';
import { EVENT_SCHEMA_VERSION, MAX_QTY, MONEY_LIMITS } from '../events/event-types.ts';
import { ENTITY_RE } from '../events/validate.ts';

/** What phase 2 reads of one event (upload-batch.ts); '' = none, amount 0 = none. */
export interface EventFacts {
  seq: number;
  id: string;
  prev: string;
  type: string;
  customer: string;
  voucher: string;
  currency: string;
  amount: number;
}

// Byte classes (bit flags), the fast path's regexes in validate.ts.
const ENTITY = 1; // [A-Za-z0-9_.-]
const VOUCHER = 2; // [A-Za-z0-9-]
const ULID = 4; // [0-9A-HJKMNP-TV-Z]
const HEX = 8; // [0-9a-f]
const UPPER = 16; // [A-Z]
const TOKEN = 32; // [A-Za-z0-9_:.-]
const DIGIT = 64; // [0-9]
const ALNUM = 128; // [A-Za-z0-9]
const CLASS = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alnum = /[A-Za-z0-9]/.test(ch);
  if (alnum || ch === '_' || ch === '.' || ch === '-') CLASS[c]! |= ENTITY;
  if (alnum || ch === '-') CLASS[c]! |= VOUCHER;
  if (/[0-9A-HJKMNP-TV-Z]/.test(ch)) CLASS[c]! |= ULID;
  if (/[0-9a-f]/.test(ch)) CLASS[c]! |= HEX;
  if (/[A-Z]/.test(ch)) CLASS[c]! |= UPPER;
  if (alnum || ch === '_' || ch === ':' || ch === '.' || ch === '-') CLASS[c]! |= TOKEN;
  if (/[0-9]/.test(ch)) CLASS[c]! |= DIGIT;
  if (alnum) CLASS[c]! |= ALNUM;
}

/** A key as its canonical bytes: fixstr header + ASCII. */
const key = (s: string): Uint8Array => Uint8Array.from([0xa0 | s.length, ...Buffer.from(s, 'latin1')]);
const K = {
  amount: key('amount'), authCode: key('authCode'), body: key('body'), brand: key('brand'), card: key('card'),
  change: key('change'), currency: key('currency'), customer: key('customer'), delta: key('delta'), discount: key('discount'),
  id: key('id'), item: key('item'), last4: key('last4'), lines: key('lines'), name: key('name'), note: key('note'),
  prev: key('prev'), qty: key('qty'), reason: key('reason'), sale: key('sale'), seq: key('seq'), store: key('store'),
  subtotal: key('subtotal'), tax: key('tax'), tender: key('tender'), tendered: key('tendered'), terminal: key('terminal'),
  time: key('time'), token: key('token'), total: key('total'), type: key('type'), unitPrice: key('unitPrice'), v: key('v'),
  voucher: key('voucher'),
} as const;

/** A set of short ASCII words as bytes, answering the word itself (one string object per word). */
class Words {
  private readonly words: Array<[Uint8Array, string]>;
  constructor(list: readonly string[]) {
    this.words = list.map((w) => [Buffer.from(w, 'latin1'), w]);
  }
  find(b: Uint8Array, start: number, len: number): string | undefined {
    for (const [w, s] of this.words) {
      if (w.length !== len) continue;
      let i = 0;
      while (i < len && b[start + i] === w[i]) i++;
      if (i === len) return s;
    }
    return undefined;
  }
}
const TYPE_NAMES = ['sale.completed', 'payment.taken', 'balance.delta', 'voucher.redeemed', 'voucher.issued', 'sale.refunded', 'sale.voided'];
const TYPES = new Words(TYPE_NAMES);
/**
 * How a canonical event ends, per type: `type` and `v` are its last two keys
 * (the envelope's keys sort body, id, prev, seq, store, terminal, time, type, v),
 * so its last bytes are `"type", "<type>", "v", EVENT_SCHEMA_VERSION`.
 */
const TYPE_TAILS: Array<[Uint8Array, string]> = TYPE_NAMES.map((t) => [
  Uint8Array.from([...key('type'), ...key(t), ...key('v'), EVENT_SCHEMA_VERSION]),
  t,
]);
const BRANDS = new Words(['visa', 'mastercard', 'amex', 'discover', 'interac', 'other']);
const TENDERS = new Words(['cash', 'card', 'account', 'voucher']);
const REASONS = new Words(['sale', 'refund', 'void', 'adjustment']);

const MAX_DEPTH = 32;
/** Digit runs this long may be card numbers: the object path judges them. */
const CARD_RUN = 13;
const PRICE = MONEY_LIMITS.price;
const AMOUNT = MONEY_LIMITS.amount;
const SALE = MONEY_LIMITS.sale;

/**
 * Scans the events of one credential's batch (one instance per batch; the
 * facts object is reused, copy what you keep).
 */
export class EventScan {
  readonly facts: EventFacts = { seq: 0, id: '', prev: '', type: '', customer: '', voucher: '', currency: '', amount: 0 };
  private readonly store: Uint8Array;
  private readonly terminal: Uint8Array;
  /** The credential's ids pass the fields' own checks (else every event goes the object path, which refuses it). */
  private readonly credOk: boolean;
  private b: Uint8Array = new Uint8Array(0);
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;

  constructor(cred: { store: string; terminal: string }) {
    this.store = Buffer.from(cred.store, 'utf8');
    this.terminal = Buffer.from(cred.terminal, 'utf8');
    const ok = (s: string): boolean => ENTITY_RE.test(s) && !containsCardNumber(s);
    this.credOk = ok(cred.store) && ok(cred.terminal);
  }

  /** True: `bytes` are a valid event of this credential and `facts` hold its facts. False: not sure. */
  scan(bytes: Uint8Array): boolean {
    if (!this.credOk) return false;
    this.b = bytes;
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.end = bytes.length;
    const f = this.facts;
    f.customer = '';
    f.voucher = '';
    f.currency = '';
    f.amount = 0;
    if (this.end === 0 || bytes[0] !== 0x89) return false; // a map of exactly the 9 envelope keys
    this.pos = 1;
    if (!this.key(K.body)) return false;
    const bodyAt = this.pos;
    // The type, read off the event's last bytes, lets the body be checked against
    // its schema at once, in the one pass that also finds where it ends (the type
    // is checked in its place below); else the body is skipped first.
    const guess = this.tailType();
    if (guess !== undefined) {
      if (!this.body(guess)) return false;
    } else if (!this.skip(1)) return false;
    const bodyEnd = this.pos;
    if (!this.key(K.id)) return false;
    const id = this.ulid();
    if (id < 0) return false;
    f.id = this.latin1(id, this.pos);
    if (!this.key(K.prev)) return false;
    const prev = this.ascii(HEX, 64, 64);
    if (prev < 0) return false;
    f.prev = this.latin1(prev, this.pos);
    if (!this.key(K.seq)) return false;
    const seq = this.int();
    if (!(seq > 0)) return false;
    f.seq = seq;
    if (!this.key(K.store) || !this.same(this.store)) return false;
    if (!this.key(K.terminal) || !this.same(this.terminal)) return false;
    if (!this.key(K.time) || !(this.int() >= 0)) return false;
    if (!this.key(K.type)) return false;
    const typeLen = this.strLen();
    if (typeLen < 0) return false;
    const type = TYPES.find(this.b, this.pos, typeLen);
    if (type === undefined) return false;
    this.pos += typeLen;
    f.type = type;
    if (!this.key(K.v) || this.pos >= this.end || this.b[this.pos] !== EVENT_SCHEMA_VERSION) return false;
    this.pos++;
    if (this.pos !== this.end) return false;
    if (guess !== undefined) return type === guess;
    // The body, now that its type is known: it must end where the skip ended.
    this.pos = bodyAt;
    this.end = bodyEnd;
    return this.body(type) && this.pos === bodyEnd;
  }

  private body(type: string): boolean {
    switch (type) {
      case 'sale.completed': return this.saleCompleted();
      case 'payment.taken': return this.paymentTaken();
      case 'balance.delta': return this.balanceDelta();
      case 'voucher.issued': return this.voucherIssued();
      case 'voucher.redeemed': return this.voucherRedeemed();
      case 'sale.refunded': return this.saleRefunded();
      case 'sale.voided': return this.mapLen() === 2 && this.key(K.reason) && this.text() && this.key(K.sale) && this.ulid() >= 0;
      default: return false;
    }
  }

  private saleCompleted(): boolean {
    const n = this.mapLen();
    if (n !== 6 && n !== 7) return false;
    if (!this.key(K.currency)) return false;
    const cur = this.ascii(UPPER, 3, 3);
    if (cur < 0) return false;
    this.facts.currency = this.latin1(cur, this.pos);
    if (n === 7 && !(this.key(K.customer) && this.entity() >= 0)) return false;
    if (!this.key(K.discount)) return false;
    const discount = this.int();
    if (!(discount >= 0 && discount <= SALE) || !this.key(K.lines)) return false;
    const lines = this.arrayLen();
    if (lines < 1 || lines > 500) return false;
    let sub = 0;
    let dis = 0;
    let tax = 0;
    for (let i = 0; i < lines; i++) {
      if (this.mapLen() !== 6 || !this.key(K.discount)) return false;
      const d = this.int();
      if (!(d >= 0 && d <= SALE) || !this.key(K.item) || this.entity() < 0 || !this.key(K.name) || !this.text() || !this.key(K.qty)) return false;
      const q = this.int();
      if (!(q > 0 && q <= MAX_QTY) || !this.key(K.tax)) return false;
      const x = this.int();
      if (!(x >= 0 && x <= SALE) || !this.key(K.unitPrice)) return false;
      const u = this.int();
      if (!(u >= 0 && u <= PRICE)) return false;
      sub += q * u;
      dis += d;
      tax += x;
      if (d > q * u) return false; // SALE_TOTAL_MISMATCH: the object path says so
    }
    if (!this.key(K.subtotal)) return false;
    const subtotal = this.int();
    if (!(subtotal >= 0 && subtotal <= SALE) || !this.key(K.tax)) return false;
    const taxTotal = this.int();
    if (!(taxTotal >= 0 && taxTotal <= SALE) || !this.key(K.total)) return false;
    const total = this.int();
    if (!(total >= 0 && total <= SALE)) return false;
    return sub === subtotal && dis === discount && tax === taxTotal && total === sub - dis + tax && Number.isSafeInteger(sub);
  }

  private paymentTaken(): boolean {
    const n = this.mapLen();
    if (!this.key(K.amount)) return false;
    const amount = this.int();
    if (!(amount > 0 && amount <= AMOUNT)) return false;
    let tender: string;
    if (this.key(K.card)) {
      if (n !== 4 || this.mapLen() !== 4) return false;
      if (!this.key(K.authCode) || this.ascii(ALNUM, 1, 12) < 0 || !this.key(K.brand) || this.word(BRANDS) === undefined) return false;
      if (!this.key(K.last4) || this.ascii(DIGIT, 4, 4) < 0 || !this.key(K.token)) return false;
      const token = this.ascii(TOKEN, 4, 128);
      if (token < 0 || !this.noCardRun(token, this.pos)) return false;
      tender = 'card';
    } else if (this.key(K.change)) {
      if (n !== 5) return false;
      const change = this.int();
      if (!(change >= 0 && change <= AMOUNT) || !this.key(K.sale) || this.ulid() < 0 || !this.key(K.tender) || this.word(TENDERS) !== 'cash') return false;
      if (!this.key(K.tendered)) return false;
      const tendered = this.int();
      return tendered > 0 && tendered <= AMOUNT && tendered - change === amount; // else PAYMENT_MISMATCH or a bad field: the object path
    } else if (this.key(K.customer)) {
      if (n !== 4) return false;
      const c = this.entity();
      if (c < 0) return false;
      this.facts.customer = this.latin1(c, this.pos);
      tender = 'account';
    } else {
      if (n !== 4 || !this.key(K.sale) || this.ulid() < 0 || !this.key(K.tender) || this.word(TENDERS) !== 'voucher') return false;
      return this.voucherFact();
    }
    return this.key(K.sale) && this.ulid() >= 0 && this.key(K.tender) && this.word(TENDERS) === tender;
  }

  private balanceDelta(): boolean {
    const n = this.mapLen();
    if (!this.key(K.customer)) return false;
    const c = this.entity();
    if (c < 0) return false;
    this.facts.customer = this.latin1(c, this.pos);
    if (!this.key(K.delta)) return false;
    const delta = this.int();
    if (Number.isNaN(delta) || delta === 0 || delta > AMOUNT || delta < -AMOUNT) return false;
    this.facts.amount = delta;
    let seen = 3;
    if (this.key(K.note)) {
      if (!this.text()) return false;
      seen++;
    }
    if (!this.key(K.reason) || this.word(REASONS) === undefined) return false;
    const sale = this.optionalSale();
    return sale >= 0 && seen + sale === n;
  }

  private voucherIssued(): boolean {
    const n = this.mapLen();
    if (!this.key(K.amount)) return false;
    const amount = this.int();
    if (!(amount > 0 && amount <= AMOUNT) || !this.key(K.reason) || this.word(REASONS) === undefined) return false;
    const sale = this.optionalSale();
    if (sale < 0 || 3 + sale !== n || !this.voucherFact()) return false;
    this.facts.amount = amount;
    return true;
  }

  private voucherRedeemed(): boolean {
    const n = this.mapLen();
    if (!this.key(K.amount)) return false;
    const amount = this.int();
    if (!(amount > 0 && amount <= AMOUNT)) return false;
    const sale = this.optionalSale();
    if (sale < 0 || 2 + sale !== n || !this.voucherFact()) return false;
    this.facts.amount = -amount;
    return true;
  }

  /** An optional `sale` key with a ULID: 1 when there, 0 when not, -1 when its value is bad. */
  private optionalSale(): number {
    if (!this.key(K.sale)) return 0;
    return this.ulid() < 0 ? -1 : 1;
  }

  /** The `voucher` key and its code, into the facts. */
  private voucherFact(): boolean {
    if (!this.key(K.voucher)) return false;
    const v = this.voucherCode();
    if (v < 0) return false;
    this.facts.voucher = this.latin1(v, this.pos);
    return true;
  }

  private saleRefunded(): boolean {
    const n = this.mapLen();
    if (!this.key(K.amount)) return false;
    const amount = this.int();
    if (!(amount > 0 && amount <= AMOUNT)) return false;
    let seen = 4;
    if (this.key(K.customer)) {
      if (this.entity() < 0) return false;
      seen++;
    }
    if (!this.key(K.reason) || !this.text() || !this.key(K.sale) || this.ulid() < 0) return false;
    if (!this.key(K.tender) || this.word(TENDERS) === undefined) return false;
    if (this.key(K.voucher)) {
      if (this.voucherCode() < 0) return false;
      seen++;
    }
    return seen === n;
  }

  /** The type named by the event's last bytes (see TYPE_TAILS), if they are one type's tail. */
  private tailType(): string | undefined {
    const b = this.b;
    const end = this.end;
    for (const [tail, type] of TYPE_TAILS) {
      const at = end - tail.length;
      if (at < 1) continue;
      let i = tail.length - 1;
      while (i >= 0 && b[at + i] === tail[i]) i--;
      if (i < 0) return type;
    }
    return undefined;
  }

  // ------------------------------------------------------------ primitives

  /** Consumes `k` (a key's canonical bytes) if it comes next. */
  private key(k: Uint8Array): boolean {
    const b = this.b;
    const p = this.pos;
    const n = k.length;
    if (p + n > this.end) return false;
    for (let i = 0; i < n; i++) if (b[p + i] !== k[i]) return false;
    this.pos = p + n;
    return true;
  }

  /** A string whose bytes equal `s`. */
  private same(s: Uint8Array): boolean {
    const n = this.strLen();
    if (n !== s.length) return false;
    const b = this.b;
    const p = this.pos;
    for (let i = 0; i < n; i++) if (b[p + i] !== s[i]) return false;
    this.pos = p + n;
    return true;
  }

  /** A fixmap's entry count (no schema object has 16 keys or more), or -1. */
  private mapLen(): number {
    if (this.pos >= this.end) return -1;
    const t = this.b[this.pos]!;
    if (t < 0x80 || t > 0x8f) return -1;
    this.pos++;
    return t & 0x0f;
  }

  /** An array's length (fixarray, or array 16 from 16 entries on), or -1. */
  private arrayLen(): number {
    const b = this.b;
    const p = this.pos;
    if (p >= this.end) return -1;
    const t = b[p]!;
    if (t >= 0x90 && t <= 0x9f) {
      this.pos = p + 1;
      return t & 0x0f;
    }
    if (t !== 0xdc || p + 3 > this.end) return -1;
    const n = (b[p + 1]! << 8) | b[p + 2]!;
    if (n < 16) return -1;
    this.pos = p + 3;
    return n;
  }

  /** A string's byte length in its shortest header, positioned at its first byte; -1 otherwise. */
  private strLen(): number {
    const b = this.b;
    const p = this.pos;
    if (p >= this.end) return -1;
    const t = b[p]!;
    let n: number;
    let h: number;
    if (t >= 0xa0 && t <= 0xbf) {
      n = t & 0x1f;
      h = 1;
    } else if (t === 0xd9) {
      if (p + 2 > this.end) return -1;
      n = b[p + 1]!;
      if (n < 32) return -1;
      h = 2;
    } else if (t === 0xda) {
      if (p + 3 > this.end) return -1;
      n = (b[p + 1]! << 8) | b[p + 2]!;
      if (n < 0x100) return -1;
      h = 3;
    } else return -1;
    if (p + h + n > this.end) return -1;
    this.pos = p + h;
    return n;
  }

  /** An ASCII string of `min`..`max` bytes all in `cls`: its start (pos is its end), or -1. */
  private ascii(cls: number, min: number, max: number): number {
    const n = this.strLen();
    if (n < min || n > max) return -1;
    const b = this.b;
    const start = this.pos;
    const end = start + n;
    for (let i = start; i < end; i++) if ((CLASS[b[i]!]! & cls) === 0) return -1;
    this.pos = end;
    return start;
  }

  /** A ULID the card-data guard lets through: its start, or -1. */
  private ulid(): number {
    const s = this.ascii(ULID, 26, 26);
    return s >= 0 && this.noCardRun(s, this.pos) ? s : -1;
  }

  /** An entity id (ENTITY_RE) the card-data guard lets through: its start, or -1. */
  private entity(): number {
    const s = this.ascii(ENTITY, 1, 64);
    return s >= 0 && this.noCardRun(s, this.pos) ? s : -1;
  }

  /** A voucher code (VOUCHER_RE) the card-data guard lets through: its start, or -1. */
  private voucherCode(): number {
    const s = this.ascii(VOUCHER, 4, 40);
    return s >= 0 && this.noCardRun(s, this.pos) ? s : -1;
  }

  /** One of `words`, or undefined. */
  private word(words: Words): string | undefined {
    const n = this.strLen();
    if (n < 0) return undefined;
    const w = words.find(this.b, this.pos, n);
    if (w !== undefined) this.pos += n;
    return w;
  }

  /** Free text (validate.ts `text`): at most 200 UTF-16 code units, well-formed UTF-8 without a leading BOM, no digit run. */
  private text(): boolean {
    const n = this.strLen();
    if (n < 0) return false;
    const b = this.b;
    const start = this.pos;
    const end = start + n;
    // TextDecoder drops a leading BOM: such strings are the object path's to judge (as decodeCanonical).
    if (n >= 3 && b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) return false;
    const units = utf16Length(b, start, end);
    if (units < 0 || units > 200 || !this.noCardRun(start, end)) return false;
    this.pos = end;
    return true;
  }

  /**
   * False when bytes [start, end) may hold a run of CARD_RUN or more digits as
   * `containsCardNumber` reads them: ASCII digits with anything but ASCII
   * letters between them, and every byte of a UTF-8 multi-byte sequence counted
   * as a digit (no character's NFKC form holds more digits than its UTF-8
   * bytes). A superset: the object path judges what is left.
   */
  private noCardRun(start: number, end: number): boolean {
    if (end - start < CARD_RUN) return true;
    const b = this.b;
    let run = 0;
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if ((c >= 0x30 && c <= 0x39) || c >= 0x80) {
        if (++run >= CARD_RUN) return false;
      } else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) run = 0;
    }
    return true;
  }

  /** A safe integer in its shortest msgpack form (as `decodeCanonical` takes them), or NaN. */
  private int(): number {
    const b = this.b;
    const p = this.pos;
    if (p >= this.end) return NaN;
    const t = b[p]!;
    if (t < 0x80) {
      this.pos = p + 1;
      return t;
    }
    if (t >= 0xe0) {
      this.pos = p + 1;
      return t - 0x100;
    }
    const left = this.end - p - 1;
    let v: number;
    switch (t) {
      case 0xcc:
        if (left < 1) return NaN;
        v = b[p + 1]!;
        if (v < 0x80) return NaN;
        this.pos = p + 2;
        return v;
      case 0xcd:
        if (left < 2) return NaN;
        v = (b[p + 1]! << 8) | b[p + 2]!;
        if (v < 0x100) return NaN;
        this.pos = p + 3;
        return v;
      case 0xce:
        if (left < 4) return NaN;
        v = b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
        if (v < 0x10000) return NaN;
        this.pos = p + 5;
        return v;
      case 0xcf: {
        if (left < 8) return NaN;
        const hi = b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
        const lo = b[p + 5]! * 0x1000000 + ((b[p + 6]! << 16) | (b[p + 7]! << 8) | b[p + 8]!);
        if (hi < 1 || hi > 0x1fffff) return NaN;
        this.pos = p + 9;
        return hi * 0x100000000 + lo;
      }
      case 0xd0:
        if (left < 1) return NaN;
        v = (b[p + 1]! << 24) >> 24;
        if (v >= -0x20) return NaN;
        this.pos = p + 2;
        return v;
      case 0xd1:
        if (left < 2) return NaN;
        v = (((b[p + 1]! << 8) | b[p + 2]!) << 16) >> 16;
        if (v >= -0x80) return NaN;
        this.pos = p + 3;
        return v;
      case 0xd2:
        if (left < 4) return NaN;
        v = (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
        if (v >= -0x8000) return NaN;
        this.pos = p + 5;
        return v;
      default:
        return NaN;
    }
  }

  /**
   * Moves past one value of any shape (the body, when the event's last bytes
   * name no type: see `tailType`).
   * Only finds its end: the body is then read again against its schema, which
   * checks everything and must end at the same place.
   */
  private skip(depth: number): boolean {
    if (depth > MAX_DEPTH || this.pos >= this.end) return false;
    const b = this.b;
    const t = b[this.pos]!;
    if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      this.pos++;
      return true;
    }
    if ((t >= 0xa0 && t <= 0xbf) || t === 0xd9 || t === 0xda) return this.skipStr();
    let n: number;
    let map: boolean;
    if (t >= 0x80 && t <= 0x8f) {
      n = t & 0x0f;
      map = true;
      this.pos++;
    } else if (t >= 0x90 && t <= 0x9f) {
      n = t & 0x0f;
      map = false;
      this.pos++;
    } else if (t === 0xdc) {
      n = this.arrayLen();
      if (n < 0) return false;
      map = false;
    } else return !Number.isNaN(this.int());
    for (let i = 0; i < n; i++) {
      if (map && !this.skipStr()) return false;
      if (!this.skip(depth + 1)) return false;
    }
    return true;
  }

  /** Moves past a string. */
  private skipStr(): boolean {
    const n = this.strLen();
    if (n < 0) return false;
    this.pos += n;
    return true;
  }

  /** Bytes known to be ASCII as a string (short ones without a native call). */
  private latin1(start: number, end: number): string {
    if (end - start > 24) return this.buf.toString('latin1', start, end);
    const b = this.b;
    let out = '';
    for (let i = start; i < end; i++) out += String.fromCharCode(b[i]!);
    return out;
  }
}

/**
 * The UTF-16 length of the string UTF-8 bytes [start, end) decode to, or -1
 * unless they are strict UTF-8 (shortest forms only, no surrogates, nothing
 * above U+10FFFF).
 */
export function utf16Length(b: Uint8Array, start: number, end: number): number {
  let units = 0;
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      units++;
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
      cp = c & 0x07;
    } else return -1;
    if (i + need >= end) return -1;
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    units += cp >= 0x10000 ? 2 : 1;
    i += need + 1;
  }
  return units;
}
