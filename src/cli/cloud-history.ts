/**
 * F12 from the cloud: replay a store's or a terminal's history in order, and
 * audit it — every terminal's seqs continue without gaps from 1 and every
 * event's `prev` is the hash of the one before, recomputed here from the
 * canonical bytes (so a cloud that altered a stored event is caught too), and
 * the stored history ends exactly at the terminal's acknowledged high-water
 * mark, with its hash (a deleted tail is a finding, not a shorter clean log).
 * A record the cloud cannot read (its storage fails, LEVEL_CORRUPTION or
 * LEVEL_IO_ERROR behind a 5xx, or an answer that does not decode) is a
 * RECORD_UNREADABLE finding named by its seq, and the audit goes on past it.
 * Needs the admin credential.
 */
import { cloudDayAnswer, type DaySummary } from '../events/day-summary.ts';
import { z } from 'zod';
import { isTillsyncError, TillsyncError } from '../errors.ts';
import { encodeCanonical, GENESIS_HASH, sha256Hex } from '../events/codec.ts';
import type { AuditFinding, AuditReport } from '../terminal/audit.ts';

const eventsPage = z.object({
  events: z.array(z.object({ seq: z.number().int(), hash: z.string(), event: z.record(z.string(), z.unknown()), quarantine: z.object({ code: z.string() }).passthrough().optional() })),
  next: z.number().int().nullable(),
});
const terminalsList = z.object({
  terminals: z.array(z.object({ id: z.string(), ackSeq: z.number().int().nonnegative().optional(), ackHash: z.string().optional() }).passthrough()),
});

export interface CloudAccess {
  cloud: string;
  adminToken: string;
  store: string;
}

async function get<T>(access: CloudAccess, path: string, schema: z.ZodType<T>): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${access.cloud}${path}`, { headers: { authorization: `Bearer ${access.adminToken}`, accept: 'application/json' } });
  } catch (err) {
    throw new TillsyncError('CLOUD_UNREACHABLE', `no cloud answers at ${access.cloud}`, { cause: err });
  }
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new TillsyncError('CLOUD_REFUSED', `${e?.code ?? res.status}: ${e?.message ?? 'request refused'}`, {
      details: { status: res.status, ...(typeof e?.code === 'string' ? { remoteCode: e.code } : {}) },
    });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new TillsyncError('CLOUD_BAD_RESPONSE', `unexpected answer from ${path}`);
  return parsed.data;
}

/** The cloud could not read what was asked (its storage failed, or its answer does not decode): a finding, not the end. */
function unreadable(err: unknown): err is TillsyncError {
  if (isTillsyncError(err, 'CLOUD_BAD_RESPONSE')) return true;
  return isTillsyncError(err, 'CLOUD_REFUSED') && typeof err.details?.status === 'number' && err.details.status >= 500;
}

export async function cloudTerminals(access: CloudAccess): Promise<string[]> {
  return (await cloudTerminalMarks(access)).map((t) => t.id);
}

/** Every terminal of the store with its acknowledged high-water mark (seq and hash). */
export async function cloudTerminalMarks(access: CloudAccess): Promise<Array<{ id: string; ackSeq: number | undefined; ackHash: string | undefined }>> {
  const r = await get(access, `/v1/admin/stores/${encodeURIComponent(access.store)}/terminals`, terminalsList);
  return r.terminals.map((t) => ({ id: t.id, ackSeq: t.ackSeq, ackHash: t.ackHash })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A terminal's stored events in seq order, page by page. */
export async function* cloudEvents(access: CloudAccess, terminal: string, from = 1): AsyncGenerator<z.infer<typeof eventsPage>['events']> {
  let next: number | null = from;
  while (next !== null) {
    const page: z.infer<typeof eventsPage> = await get(access, `/v1/admin/stores/${encodeURIComponent(access.store)}/events?terminal=${encodeURIComponent(terminal)}&from=${next}&limit=1000`, eventsPage);
    if (page.events.length > 0) yield page.events;
    next = page.next;
  }
}

const eventsPath = (access: CloudAccess, terminal: string, from: number, limit: number) =>
  `/v1/admin/stores/${encodeURIComponent(access.store)}/events?terminal=${encodeURIComponent(terminal)}&from=${from}&limit=${limit}`;
const MAX_FINDINGS = 100;

export async function auditCloud(access: CloudAccess, onProgress?: (done: number, total: number) => void): Promise<AuditReport & { terminals: string[] }> {
  const marks = await cloudTerminalMarks(access);
  const findings: AuditFinding[] = [];
  let events = 0;
  for (const { id: terminal, ackSeq, ackHash } of marks) {
    let expect = 1;
    /** Hash of the event before `expect`; undefined after an unreadable one (its hash is unknown). */
    let prev: string | undefined = GENESIS_HASH;
    let last: { seq: number; hash: string | undefined } = { seq: 0, hash: GENESIS_HASH };
    let next: number | null = 1;
    while (next !== null && findings.length <= MAX_FINDINGS) {
      let page: z.infer<typeof eventsPage>;
      try {
        page = await get(access, eventsPath(access, terminal, next, 1000), eventsPage);
      } catch (err) {
        if (!unreadable(err)) throw err;
        // Find the record that cannot be read: one seq at a time from here.
        try {
          page = await get(access, eventsPath(access, terminal, next, 1), eventsPage);
        } catch (one) {
          if (!unreadable(one)) throw one;
          // Past the acknowledged mark there is nothing to name: the stored tail beyond it cannot be read.
          if (ackSeq !== undefined && next > ackSeq) {
            findings.push({ code: 'RECORD_UNREADABLE', terminal, seq: next, detail: `the cloud cannot read its events from seq ${next} on (past the acknowledged seq ${ackSeq}): ${one.message}` });
            break;
          }
          findings.push({ code: 'RECORD_UNREADABLE', terminal, seq: next, detail: `the cloud cannot read this event: ${one.message}` });
          if (next !== expect) findings.push({ code: 'SEQ_GAP', terminal, seq: expect, detail: `next stored seq is ${next}` });
          last = { seq: next, hash: undefined };
          expect = next + 1;
          prev = undefined;
          next += 1;
          continue;
        }
      }
      for (const rec of page.events) {
        if (rec.seq !== expect) {
          findings.push({ code: 'SEQ_GAP', terminal, seq: expect, detail: `next stored seq is ${rec.seq}` });
          expect = rec.seq;
          prev = undefined;
        }
        const hash = sha256Hex(encodeCanonical(rec.event));
        if (hash !== rec.hash) findings.push({ code: 'CHAIN_BROKEN', terminal, seq: rec.seq, detail: 'stored content does not hash to the stored hash' });
        if (prev !== undefined && rec.event.prev !== prev) findings.push({ code: 'CHAIN_BROKEN', terminal, seq: rec.seq, detail: 'prev does not match the hash of the event before' });
        prev = rec.hash;
        last = { seq: rec.seq, hash: rec.hash };
        expect++;
        events++;
      }
      onProgress?.(events, events);
      next = page.next;
    }
    // The stored history must end at what the cloud acknowledged to the terminal.
    if (ackSeq !== undefined && findings.length <= MAX_FINDINGS) {
      if (last.seq < ackSeq) {
        findings.push({ code: 'SEQ_GAP', terminal, seq: last.seq + 1, detail: `stored events end at seq ${last.seq}, but seq ${ackSeq} was acknowledged to the terminal: the tail ${last.seq + 1}..${ackSeq} is missing` });
      } else if (last.seq > ackSeq) {
        findings.push({ code: 'SEQ_GAP', terminal, seq: ackSeq + 1, detail: `events stored past the acknowledged seq ${ackSeq} (up to ${last.seq})` });
      } else if (ackHash !== undefined && last.hash !== undefined && last.hash !== ackHash) {
        findings.push({ code: 'CHAIN_BROKEN', terminal, seq: last.seq, detail: 'the newest stored event does not hash to the acknowledged high-water hash' });
      }
    }
  }
  return { ok: findings.length === 0, store: access.store, terminal: '*', terminals: marks.map((m) => m.id), events, from: 1, to: events, findings };
}

/** The cloud's summary of one terminal's business day (admin), for `tillsync audit --report`. */
export async function cloudDay(access: CloudAccess, terminal: string, day: string, q: { timeZone: string; from: number; to: number }): Promise<DaySummary> {
  const qs = `tz=${encodeURIComponent(q.timeZone)}&from=${q.from}&to=${q.to}`;
  const path = `/v1/admin/stores/${encodeURIComponent(access.store)}/terminals/${encodeURIComponent(terminal)}/days/${encodeURIComponent(day)}?${qs}`;
  return (await get(access, path, cloudDayAnswer)).summary;
}
