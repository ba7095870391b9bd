/**
 * F12 from the cloud: replay a store's or a terminal's history in order, and
 * audit it — every terminal's seqs continue without gaps from 1 and every
 * event's `prev` is the hash of the one before, recomputed here from the
 * canonical bytes (so a cloud that altered a stored event is caught too).
 * Needs the admin credential.
 */
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import { encodeCanonical, GENESIS_HASH, sha256Hex } from '../events/codec.ts';
import type { AuditFinding, AuditReport } from '../terminal/audit.ts';

const eventsPage = z.object({
  events: z.array(z.object({ seq: z.number().int(), hash: z.string(), event: z.record(z.string(), z.unknown()), quarantine: z.object({ code: z.string() }).passthrough().optional() })),
  next: z.number().int().nullable(),
});
const terminalsList = z.object({ terminals: z.array(z.object({ id: z.string() }).passthrough()) });

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
    throw new TillsyncError('CLOUD_REFUSED', `${e?.code ?? res.status}: ${e?.message ?? 'request refused'}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new TillsyncError('CLOUD_BAD_RESPONSE', `unexpected answer from ${path}`);
  return parsed.data;
}

export async function cloudTerminals(access: CloudAccess): Promise<string[]> {
  const r = await get(access, `/v1/admin/stores/${encodeURIComponent(access.store)}/terminals`, terminalsList);
  return r.terminals.map((t) => t.id).sort();
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

export async function auditCloud(access: CloudAccess, onProgress?: (done: number, total: number) => void): Promise<AuditReport & { terminals: string[] }> {
  const terminals = await cloudTerminals(access);
  const findings: AuditFinding[] = [];
  let events = 0;
  for (const terminal of terminals) {
    let expect = 1;
    let prev = GENESIS_HASH;
    for await (const page of cloudEvents(access, terminal)) {
      for (const rec of page) {
        if (rec.seq !== expect) {
          findings.push({ code: 'SEQ_GAP', terminal, seq: expect, detail: `next stored seq is ${rec.seq}` });
          expect = rec.seq;
        }
        const hash = sha256Hex(encodeCanonical(rec.event));
        if (hash !== rec.hash) findings.push({ code: 'CHAIN_BROKEN', terminal, seq: rec.seq, detail: 'stored content does not hash to the stored hash' });
        if (rec.event.prev !== prev) findings.push({ code: 'CHAIN_BROKEN', terminal, seq: rec.seq, detail: 'prev does not match the hash of the event before' });
        prev = rec.hash;
        expect++;
        events++;
        if (findings.length > 100) break;
      }
      onProgress?.(events, events);
    }
  }
  return { ok: findings.length === 0, store: access.store, terminal: '*', terminals, events, from: 1, to: events, findings };
}
