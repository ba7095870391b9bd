import t from 'tap';
import { parseEvent, parseChange } from '../../src/events/validate.ts';
import { containsCardNumber, luhnValid } from '../../src/events/card-data.ts';
import { decodeUntrusted, encodeCanonical, GENESIS_HASH } from '../../src/events/codec.ts';

const base = {
  id: '01HZX3K8Q9V7D2M4N6P8R0S2T4', type: 'sale.completed', v: 1, store: 's1', terminal: 't1', seq: 1, time: 1_700_000_000_000, prev: GENESIS_HASH,
  body: { currency: 'USD', lines: [{ item: 'i1', name: 'Tea', qty: 2, unitPrice: 250, discount: 0, tax: 50 }], subtotal: 500, discount: 0, tax: 50, total: 550 },
};
const clone = <T>(v: T): T => structuredClone(v);
const code = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined; } catch (e) { return (e as { code?: string }).code; }
};

t.test('a valid event parses and canonical bytes do not depend on key order', async (t) => {
  const e = parseEvent(clone(base));
  t.equal(e.type, 'sale.completed');
  const shuffled = { body: clone(base.body), prev: base.prev, time: base.time, seq: 1, terminal: 't1', store: 's1', v: 1, type: base.type, id: base.id };
  t.same(Buffer.from(encodeCanonical(parseEvent(shuffled))), Buffer.from(encodeCanonical(e)));
});

t.test('every invalid shape has its own stable code', async (t) => {
  const cases: Array<[string, (e: any) => void, string]> = [
    ['unknown envelope field', (e) => { e.extra = 1; }, 'UNKNOWN_FIELD'],
    ['unknown body field', (e) => { e.body.note = 'x'; }, 'UNKNOWN_FIELD'],
    ['unknown line field', (e) => { e.body.lines[0].colour = 'red'; }, 'UNKNOWN_FIELD'],
    ['float money', (e) => { e.body.lines[0].unitPrice = 2.5; }, 'MONEY_NOT_INTEGER'],
    ['string money', (e) => { e.body.total = '550'; }, 'VALIDATION_FAILED'],
    ['negative price', (e) => { e.body.lines[0].unitPrice = -250; }, 'NEGATIVE_AMOUNT'],
    ['zero quantity', (e) => { e.body.lines[0].qty = 0; }, 'NEGATIVE_AMOUNT'],
    ['negative quantity', (e) => { e.body.lines[0].qty = -1; }, 'NEGATIVE_AMOUNT'],
    ['totals do not add up', (e) => { e.body.total = 551; }, 'SALE_TOTAL_MISMATCH'],
    ['unknown type', (e) => { e.type = 'sale.teleported'; }, 'UNKNOWN_EVENT_TYPE'],
    ['schema version', (e) => { e.v = 2; }, 'UNSUPPORTED_SCHEMA_VERSION'],
    ['seq zero', (e) => { e.seq = 0; }, 'NEGATIVE_AMOUNT'],
    ['bad ulid', (e) => { e.id = 'not-a-ulid'; }, 'VALIDATION_FAILED'],
    ['bad prev', (e) => { e.prev = 'abc'; }, 'VALIDATION_FAILED'],
    ['missing body', (e) => { delete e.body; }, 'VALIDATION_FAILED'],
    ['empty lines', (e) => { e.body.lines = []; }, 'VALIDATION_FAILED'],
    ['card number in a name', (e) => { e.body.lines[0].name = 'paid 4111 1111 1111 1111'; }, 'FULL_CARD_NUMBER'],
    ['card number as an extra field', (e) => { e.body.pan = '4111111111111111'; }, 'FULL_CARD_NUMBER'],
    ['cvv field', (e) => { e.body.cvv = '123'; }, 'CVV_REJECTED'],
    ['__proto__ key', (e) => { Object.defineProperty(e.body, '__proto__', { value: { polluted: true }, enumerable: true }); }, 'FORBIDDEN_KEY'],
    ['constructor key', (e) => { e.body.constructor = { prototype: {} }; }, 'FORBIDDEN_KEY'],
  ];
  for (const [name, mutate, expected] of cases) {
    const e = clone(base);
    mutate(e);
    t.equal(code(() => parseEvent(e)), expected, name);
  }
  t.equal(({} as { polluted?: boolean }).polluted, undefined, 'nothing was polluted');
});

t.test('payments: card data, cash arithmetic', async (t) => {
  const pay = (body: unknown) => ({ ...clone(base), type: 'payment.taken', body });
  const sale = base.id;
  t.equal(code(() => parseEvent(pay({ sale, tender: 'card', amount: 100, card: { token: 'tok_1234', brand: 'visa', last4: '4242', authCode: 'OK1' } }))), undefined);
  t.equal(code(() => parseEvent(pay({ sale, tender: 'card', amount: 100, card: { token: 'tok_1234', brand: 'visa', last4: '4242', authCode: 'OK1', cvc: '999' } }))), 'CVV_REJECTED');
  t.equal(code(() => parseEvent(pay({ sale, tender: 'card', amount: 100, card: { token: '4012888888881881', brand: 'visa', last4: '1881', authCode: 'OK1' } }))), 'FULL_CARD_NUMBER');
  t.equal(code(() => parseEvent(pay({ sale, tender: 'card', amount: 100, card: { token: 'tok_1234', brand: 'visa', last4: '42424', authCode: 'OK1' } }))), 'VALIDATION_FAILED');
  t.equal(code(() => parseEvent(pay({ sale, tender: 'cash', amount: 100, tendered: 200, change: 100 }))), undefined);
  t.equal(code(() => parseEvent(pay({ sale, tender: 'cash', amount: 100, tendered: 200, change: 50 }))), 'PAYMENT_MISMATCH');
  t.equal(code(() => parseEvent(pay({ sale, tender: 'bitcoin', amount: 100 }))), 'VALIDATION_FAILED');
});

t.test('luhn and card-number detection', async (t) => {
  t.ok(luhnValid('4111111111111111'));
  t.notOk(luhnValid('4111111111111112'));
  t.ok(containsCardNumber('4111-1111-1111-1111'));
  t.ok(containsCardNumber('x5500 0000 0000 0004y'));
  // Every 13–19-digit window counts: this 16-digit run is no PAN, but its last 13 digits pass Luhn.
  t.ok(luhnValid('1111111111112'));
  t.ok(containsCardNumber('4111 1111 1111 1112'));
  t.notOk(containsCardNumber('1234 5678 9012'));
  t.notOk(containsCardNumber('555-0199'));
  t.notOk(containsCardNumber('12345'));
});

t.test('downstream changes are validated too', async (t) => {
  t.equal(parseChange({ cursor: 1, type: 'item.upserted', body: { id: 'i1', sku: 'S', name: 'Tea', barcodes: ['4006381333931'], price: 100, taxRate: 500 } }).type, 'item.upserted');
  t.equal(code(() => parseChange({ cursor: 1, type: 'item.upserted', body: { id: 'i1', sku: 'S', name: 'Tea', barcodes: [], price: 1.5, taxRate: 0 } })), 'MONEY_NOT_INTEGER');
  t.equal(code(() => parseChange({ cursor: 1, type: 'item.exploded', body: {} })), 'UNKNOWN_EVENT_TYPE');
  t.equal(code(() => parseChange({ cursor: 1, type: 'customer.upserted', body: { id: 'c', name: 'N', extra: 1 } })), 'UNKNOWN_FIELD');
});

t.test('untrusted msgpack: malformed, oversized, nested, __proto__', async (t) => {
  t.equal(code(() => decodeUntrusted(new Uint8Array([0xc1]))), 'MSGPACK_MALFORMED');
  t.equal(code(() => decodeUntrusted(new Uint8Array([0x92, 0x01]))), 'MSGPACK_MALFORMED', 'truncated');
  t.equal(code(() => decodeUntrusted(new Uint8Array(100), { maxBytes: 10 })), 'PAYLOAD_TOO_LARGE');
  // A map claiming 2^32-1 entries is refused by length before allocating.
  t.equal(code(() => decodeUntrusted(new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff]))), 'PAYLOAD_TOO_LARGE');
  // 100,000 nested one-element arrays, written raw (an encoder would overflow its own stack).
  const deep = new Uint8Array(100_001).fill(0x91);
  deep[100_000] = 0x01;
  t.equal(code(() => decodeUntrusted(deep)), 'NESTING_TOO_DEEP');
  // {"__proto__": {"x": 1}} written by hand: fixmap(1), fixstr "__proto__", fixmap(1) "x" 1
  const proto = new Uint8Array([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01]);
  t.equal(code(() => decodeUntrusted(proto)), 'FORBIDDEN_KEY');
  t.same(decodeUntrusted(encodeCanonical({ b: 1, a: [1, 2] })), { a: [1, 2], b: 1 });
});
