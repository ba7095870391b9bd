/**
 * The head record: an independent, fsynced note of the highest acknowledged
 * seq and its hash, kept OUTSIDE LevelDB's write-ahead log.
 *
 * Why: LevelDB (as classic-level opens it, without paranoid checks) drops the
 * rest of a write-ahead-log block whose checksum fails and opens as if nothing
 * happened ("ignoring error ... dropping N bytes" in db/LOG). The batches lost
 * that way take the log's own head with them, so nothing inside LevelDB can
 * tell. This file can: the event log writes it after every durable batch that
 * moved the head and before it acknowledges that batch, so a head below the
 * recorded one on open means acknowledged events were lost.
 *
 * Guarantees:
 * - `write(head)` resolves only after the record is on disk (fdatasync).
 * - Torn writes cannot destroy it: two fixed-size slots are written in turn,
 *   each with its own checksum; the valid slot with the highest generation wins.
 * - A crash between the LevelDB batch and this write leaves the record one
 *   batch BEHIND the log (never ahead), which `EventLog` accepts and repairs.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from './codec.ts';

/** File name inside the LevelDB folder (LevelDB ignores names it does not own). */
export const HEAD_RECORD_FILE = 'TILLSYNC-HEAD';
const SLOT_BYTES = 256;

export interface RecordedHead {
  seq: number;
  hash: string;
}

interface Slot extends RecordedHead {
  gen: number;
}

function encodeSlot(slot: Slot): Buffer {
  const body = `tillsync-head 1 ${slot.gen} ${slot.seq} ${slot.hash}`;
  const text = `${body} ${sha256Hex(Buffer.from(body)).slice(0, 16)}\n`;
  const buf = Buffer.alloc(SLOT_BYTES, 0x20);
  buf.write(text, 0, 'latin1');
  return buf;
}

function decodeSlot(buf: Buffer): Slot | undefined {
  const m = /^(tillsync-head 1 (\d{1,16}) (\d{1,16}) ([0-9a-f]{64})) ([0-9a-f]{16})\n/.exec(buf.toString('latin1'));
  if (!m || sha256Hex(Buffer.from(m[1]!)).slice(0, 16) !== m[5]) return undefined;
  return { gen: Number(m[2]), seq: Number(m[3]), hash: m[4]! };
}

export class HeadRecord {
  private gen: number;
  private constructor(
    private readonly fh: FileHandle,
    /** What the file held when opened (undefined: new, or no valid slot). */
    readonly recorded: RecordedHead | undefined,
    /** True when the file existed with content but no slot was valid. */
    readonly unreadable: boolean,
    gen: number,
  ) {
    this.gen = gen;
  }

  /** Opens (creating, mode 0600) the record in a LevelDB folder. */
  static async open(dir: string): Promise<HeadRecord> {
    const fh = await open(join(dir, HEAD_RECORD_FILE), 'a+', 0o600).then(async (h) => {
      // 'a+' only to create without truncating; positional writes need 'r+'.
      await h.close();
      return open(join(dir, HEAD_RECORD_FILE), 'r+');
    });
    const buf = Buffer.alloc(SLOT_BYTES * 2);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const slots = [decodeSlot(buf.subarray(0, SLOT_BYTES)), decodeSlot(buf.subarray(SLOT_BYTES))].filter((s): s is Slot => s !== undefined);
    const best = slots.sort((a, b) => b.gen - a.gen)[0];
    return new HeadRecord(fh, best ? { seq: best.seq, hash: best.hash } : undefined, bytesRead > 0 && !best, best?.gen ?? 0);
  }

  /** Records `head` durably (the other slot than the last write). */
  async write(head: RecordedHead): Promise<void> {
    const gen = this.gen + 1;
    await this.fh.write(encodeSlot({ gen, seq: head.seq, hash: head.hash }), 0, SLOT_BYTES, (gen % 2) * SLOT_BYTES);
    await this.fh.datasync();
    this.gen = gen;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
