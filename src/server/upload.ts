/**
 * Upload (sync up) and its dry run (F9).
 *
 * Two phases:
 * 1. `decodeUpload` (no lock, CPU only): each event is decoded once with the
 *    untrusted decoder, validated with `parseEvent`, checked to be in canonical
 *    form (so the stored bytes hold exactly what was validated: no duplicate
 *    keys hiding data), hashed over the bytes as received, and checked to belong
 *    to the credential's store and terminal and to ascend in seq.
 *    Any failure refuses the whole batch with a 4xx; nothing is stored.
 * 2. `applyUpload` (under the store's lock): classifies each event against the
 *    terminal's high-water mark and commits ALL effects of the batch in one
 *    atomic storage commit: events, quarantine records, cloud views, feed
 *    changes, exceptions, counters and the high-water mark.
 *
 * Per event, with hw = the stored high-water seq:
 *   seq <= hw      looked up by id: same hash → duplicate (skipped, counted);
 *                  otherwise → conflict (listed, the stored event is untouched).
 *   seq == next    new: prev must equal the hash of the previous event
 *                  (else CHAIN_BROKEN, nothing stored). If its id is already
 *                  held by another event it is kept for the chain, quarantined,
 *                  out of the id index, and listed as a conflict; if business
 *                  rules refuse it, it is stored quarantined with its reason;
 *                  otherwise accepted and applied to the views.
 *   seq > next     SEQ_GAP, details.expectedSeq = hw + 1; nothing of the batch
 *                  is stored (all-or-nothing: a correct terminal never sends a
 *                  gap inside a batch, only after a cloud restore, where the
 *                  batch's first event is already the gap).
 * Resent seqs are looked up to tell duplicates from conflicts; new seqs are
 * looked up too, so an id is never stored twice. All lookups of a batch are
 * one `getEventRefs` call.
 */
import { TillsyncError, isTillsyncError } from '../errors.ts';
import { decodeUntrusted, encodeCanonical, sha256Hex } from '../events/codec.ts';
import type { TillEvent } from '../events/event-types.ts';
import { parseEvent, parseWith } from '../events/validate.ts';
import {
  checkRequest,
  LIMITS,
  uploadRequestJson,
  uploadRequestMsgpack,
  type CheckResponse,
  type UploadResponse,
} from '../replication/protocol.ts';
import type { CredentialRecord, StoredEvent } from './storage.ts';
import { StoreTx, type ServerContext } from './store-tx.ts';
import { ValueLedger } from './value-ledger.ts';

export interface IncomingEvent {
  bytes: Uint8Array;
  hash: string;
  event: TillEvent;
}

function atIndex(err: unknown, index: number): unknown {
  if (!isTillsyncError(err)) return err;
  return new TillsyncError(err.code, `event ${index}: ${err.message}`, { cause: err, details: { ...err.details, index } });
}

/** Phase 1: turns a decoded request body into validated events of this terminal. */
export function decodeUpload(body: unknown, format: 'msgpack' | 'json', cred: CredentialRecord): IncomingEvent[] {
  const out: IncomingEvent[] = [];
  const events = (body as { events?: unknown } | null | undefined)?.events;
  if (Array.isArray(events) && events.length > LIMITS.maxBatchEvents) {
    throw new TillsyncError('BATCH_TOO_LARGE', `${events.length} events in one batch; at most ${LIMITS.maxBatchEvents}`, {
      details: { max: LIMITS.maxBatchEvents, found: events.length },
    });
  }
  if (format === 'msgpack') {
    const req = parseWith(uploadRequestMsgpack, body, 'body');
    req.events.forEach((bytes, i) => {
      try {
        if (bytes.byteLength > LIMITS.maxEventBytes) {
          throw new TillsyncError('PAYLOAD_TOO_LARGE', `event of ${bytes.byteLength} bytes exceeds ${LIMITS.maxEventBytes}`);
        }
        const event = parseEvent(decodeUntrusted(bytes));
        const canonical = encodeCanonical(event);
        if (!Buffer.from(canonical.buffer, canonical.byteOffset, canonical.byteLength).equals(bytes)) {
          throw new TillsyncError('NOT_CANONICAL', 'event bytes are not the canonical encoding of the event');
        }
        out.push({ bytes, hash: sha256Hex(bytes), event });
      } catch (err) {
        throw atIndex(err, i);
      }
    });
  } else {
    const req = parseWith(uploadRequestJson, body, 'body');
    req.events.forEach((raw, i) => {
      try {
        const event = parseEvent(raw);
        const bytes = encodeCanonical(event);
        if (bytes.byteLength > LIMITS.maxEventBytes) {
          throw new TillsyncError('PAYLOAD_TOO_LARGE', `event of ${bytes.byteLength} bytes exceeds ${LIMITS.maxEventBytes}`);
        }
        out.push({ bytes, hash: sha256Hex(bytes), event });
      } catch (err) {
        throw atIndex(err, i);
      }
    });
  }
  let lastSeq = 0;
  out.forEach(({ event }, index) => {
    if (event.store !== cred.store || event.terminal !== cred.terminal) {
      throw new TillsyncError('WRONG_TERMINAL', `event ${index} belongs to ${event.store}/${event.terminal}`, {
        details: { index, expected: { store: cred.store, terminal: cred.terminal }, found: { store: event.store, terminal: event.terminal } },
      });
    }
    if (event.seq <= lastSeq) {
      throw new TillsyncError('VALIDATION_FAILED', `event ${index}: seqs must ascend within a batch`, { details: { index, seq: event.seq, after: lastSeq } });
    }
    lastSeq = event.seq;
  });
  return out;
}

/** Stored-value effects of an accepted event, and the business rules that may quarantine it. */
function customersOf(e: TillEvent): string[] {
  if (e.type === 'balance.delta') return [e.body.customer];
  if (e.type === 'payment.taken' && e.body.tender === 'account') return [e.body.customer];
  return [];
}
function vouchersOf(e: TillEvent): string[] {
  if (e.type === 'voucher.issued' || e.type === 'voucher.redeemed') return [e.body.voucher];
  if (e.type === 'payment.taken' && e.body.tender === 'voucher') return [e.body.voucher];
  return [];
}

/** Phase 2: run under the store's lock. */
export async function applyUpload(ctx: ServerContext, cred: CredentialRecord, events: readonly IncomingEvent[]): Promise<UploadResponse> {
  const { storage } = ctx;
  const { store, terminal } = cred;
  const [storeRec, hw] = await Promise.all([storage.getStore(store), storage.getHighWater(store, terminal)]);
  if (!storeRec) throw new TillsyncError('STORE_NOT_FOUND', `store ${store} does not exist`);
  const refs = await storage.getEventRefs(store, events.map((e) => e.event.id));

  const tx = await StoreTx.begin(ctx, store);
  const ledger = new ValueLedger(tx);
  const newEvents = events.filter((e) => e.event.seq > hw.seq);
  const customerIds = [...new Set(newEvents.flatMap((e) => customersOf(e.event)))];
  const known = await storage.getCustomers(store, customerIds);
  const knownCustomers = new Set(customerIds.filter((_, i) => known[i] !== undefined));
  await ledger.load('balance', customerIds);
  await ledger.load('voucher', newEvents.flatMap((e) => vouchersOf(e.event)));

  const res: UploadResponse = { ackSeq: hw.seq, accepted: 0, duplicates: 0, quarantined: 0, conflicts: [] };
  let next = hw.seq + 1;
  let lastHash = hw.hash;
  let quarantinedHere = 0;
  const idsInBatch = new Set<string>();

  events.forEach((inc, i) => {
    const e = inc.event;
    const ref = refs[i];
    if (e.seq <= hw.seq) {
      if (ref && ref.hash === inc.hash) res.duplicates++;
      else res.conflicts.push({ id: e.id, seq: e.seq, code: 'EVENT_CONFLICT' });
      return;
    }
    if (e.seq > next) {
      throw new TillsyncError('SEQ_GAP', `expected seq ${hw.seq + 1}, got ${e.seq}`, { details: { expectedSeq: hw.seq + 1, found: e.seq } });
    }
    if (e.prev !== lastHash) {
      throw new TillsyncError('CHAIN_BROKEN', `event seq ${e.seq}: prev does not match the stored chain`, {
        details: { seq: e.seq, expected: lastHash, found: e.prev },
      });
    }
    const stored: StoredEvent = { store, terminal, seq: e.seq, id: e.id, hash: inc.hash, bytes: inc.bytes, indexById: true };
    if (ref || idsInBatch.has(e.id)) {
      stored.indexById = false;
      stored.quarantine = { code: 'EVENT_CONFLICT', message: 'this event id is already held by another event' };
      res.conflicts.push({ id: e.id, seq: e.seq, code: 'EVENT_CONFLICT' });
      quarantinedHere++;
    } else {
      idsInBatch.add(e.id);
      const refusal = businessRefusal(e, storeRec.settings.currency, knownCustomers, ledger);
      if (refusal) {
        stored.quarantine = refusal;
        res.quarantined++;
        quarantinedHere++;
      } else {
        applyEffects(e, ledger);
        res.accepted++;
      }
    }
    tx.put({ kind: 'event', type: e.type, event: stored });
    next = e.seq + 1;
    lastHash = inc.hash;
  });

  res.ackSeq = next - 1;
  if (res.ackSeq === hw.seq) return res; // nothing new: duplicates and conflicts only
  ledger.include(terminal, res.ackSeq);
  const { exceptionsChanged } = ledger.finish();
  tx.counters.quarantined += quarantinedHere;
  tx.put({ kind: 'highWater', store, terminal, highWater: { seq: res.ackSeq, hash: lastHash, quarantined: hw.quarantined + quarantinedHere } });
  await tx.commit({ exceptionsChanged });
  return res;
}

function businessRefusal(e: TillEvent, currency: string, customers: Set<string>, ledger: ValueLedger): { code: string; message: string } | undefined {
  if (e.type === 'sale.completed' && e.body.currency !== currency) {
    return { code: 'CURRENCY_MISMATCH', message: `sale in ${e.body.currency}, store currency is ${currency}` };
  }
  for (const c of customersOf(e)) {
    if (!customers.has(c)) return { code: 'CUSTOMER_NOT_FOUND', message: `customer ${c} is not known to the cloud` };
  }
  // A voucher must exist before it is spent; issuing creates it.
  if (e.type !== 'voucher.issued') {
    for (const v of vouchersOf(e)) {
      if (!ledger.exists('voucher', v)) return { code: 'VOUCHER_NOT_FOUND', message: `voucher ${v} is not known to the cloud` };
    }
  }
  return undefined;
}

function applyEffects(e: TillEvent, ledger: ValueLedger): void {
  const from = { terminal: e.terminal, seq: e.seq, id: e.id };
  switch (e.type) {
    case 'balance.delta':
      ledger.apply('balance', e.body.customer, e.body.delta, from);
      return;
    case 'voucher.issued':
      ledger.apply('voucher', e.body.voucher, e.body.amount, from);
      return;
    case 'voucher.redeemed':
      ledger.apply('voucher', e.body.voucher, -e.body.amount, from);
      return;
    default:
      // Sales, payments, refunds and voids do not move stored value by themselves:
      // the terminal appends the balance.delta / voucher.* event in the same group.
      return;
  }
}

/** F9 dry run: what the cloud has, lacks, or holds with different content. */
export async function checkEvents(ctx: ServerContext, cred: CredentialRecord, body: unknown): Promise<CheckResponse> {
  const req = parseWith(checkRequest, body, 'body');
  const hw = await ctx.storage.getHighWater(cred.store, cred.terminal);
  const refs = await ctx.storage.getEventRefs(cred.store, req.events.map((e) => e.id));
  const out: CheckResponse = { have: 0, lack: 0, different: 0, differentSeqs: [] };
  req.events.forEach((e, i) => {
    const ref = refs[i];
    if (ref && ref.hash === e.hash && ref.terminal === cred.terminal && ref.seq === e.seq) out.have++;
    else if (ref || e.seq <= hw.seq) {
      out.different++;
      if (out.differentSeqs.length < 100) out.differentSeqs.push(e.seq);
    } else out.lack++;
  });
  return out;
}
