import { SEQ_KEY_DIGITS } from '../../events/level-util.ts';
import { FLIP_HIGH, FLIP_LOW, FLIP_SUM, flipEscape, FLIPPED_MAX, ID_FIXED, writeIdEntryHead } from './keys.ts';

/**
 * A commit's event keys and id-index entries, written into one reused buffer:
 * the native batch copies a key and a value the moment they are put (Batch::Put
 * in classic-level's binding), so the same bytes serve every event, with no
 * string key for the binding to encode per put and no buffer per entry. Each
 * answer is valid until the next call of the same method, or until a call for
 * another store, terminal or prefix lays the buffer out anew (`use` first, so
 * an id key and its entry share one layout).
 *
 * Layout: [event key: head + SEQ_KEY_DIGITS digits][id key: head + id][id entry].
 */
export class EventScratch {
  private buf = Buffer.alloc(0);
  private prefix = '';
  private store = '';
  private terminal = '';
  private idPrefix = '';
  private eventKeyView = this.buf;
  private idKeyAt = 0;
  private idHeadEnd = 0;
  private idEntryAt = 0;
  private idKeyView = this.buf;
  private idEntryView = this.buf;

  /** Lays the buffer out for one event's keys and entry (its views of before are then stale). */
  use(prefix: string, idPrefix: string, store: string, terminal: string): void {
    if (prefix !== this.prefix || idPrefix !== this.idPrefix || store !== this.store || terminal !== this.terminal) this.layout(prefix, store, terminal, idPrefix);
  }

  /** `<prefix><store>/<terminal>/<seqKey(seq)>` as bytes (the digits padded as `seqKey` pads them). */
  eventKey(prefix: string, store: string, terminal: string, seq: number): Uint8Array {
    if (prefix !== this.prefix || store !== this.store || terminal !== this.terminal) this.layout(prefix, store, terminal, this.idPrefix);
    const b = this.buf;
    const end = this.eventKeyView.byteLength;
    let v = seq;
    for (let i = end - 1; i >= end - SEQ_KEY_DIGITS; i--) {
      b[i] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    return this.eventKeyView;
  }

  /** `<idPrefix><store>/<flipId(id)>` as bytes (after `use` for the event). */
  idKey(idPrefix: string, store: string, id: string): Uint8Array {
    if (idPrefix !== this.idPrefix || store !== this.store) this.layout(this.prefix, store, this.terminal, idPrefix);
    if (FLIPPED_MAX * id.length > this.idEntryAt - this.idHeadEnd) this.layout(this.prefix, this.store, this.terminal, idPrefix, FLIPPED_MAX * id.length);
    const b = this.buf;
    let end = this.idHeadEnd;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      if (c >= FLIP_LOW && c <= FLIP_HIGH) b[end++] = FLIP_SUM - c;
      else end += b.write(flipEscape(c), end, 'latin1');
    }
    // Ids have one length (ULIDs): the view of that length is kept.
    if (this.idKeyView.byteLength !== end - this.idKeyAt) this.idKeyView = this.buf.subarray(this.idKeyAt, end);
    return this.idKeyView;
  }

  /**
   * `encodeIdEntry(terminal, seq, hash)` (after `use` for the event, which
   * put the terminal's bytes in place); `hashBytes`, when given, are the
   * hash's 32 bytes, copied instead of parsing the hex.
   */
  idEntry(terminal: string, seq: number, hash: string, hashBytes?: Uint8Array): Uint8Array {
    if (terminal !== this.terminal) this.layout(this.prefix, this.store, terminal, this.idPrefix);
    if (hashBytes?.byteLength === 32) {
      const b = this.buf;
      const at = this.idEntryAt;
      b.writeDoubleBE(seq, at);
      for (let i = 0; i < 32; i++) b[at + 8 + i] = hashBytes[i]!;
    } else writeIdEntryHead(this.buf, this.idEntryAt, seq, hash);
    return this.idEntryView;
  }

  private layout(prefix: string, store: string, terminal: string, idPrefix: string, idRoom = 160): void {
    const eventHead = `${prefix}${store}/${terminal}/`;
    const idHead = `${idPrefix}${store}/`;
    const need = 3 * eventHead.length + SEQ_KEY_DIGITS + 3 * idHead.length + Math.max(idRoom, 160) + ID_FIXED + 3 * terminal.length;
    if (need > this.buf.byteLength) this.buf = Buffer.allocUnsafe(Math.max(1024, 2 * need));
    const b = this.buf;
    const headEnd = b.write(eventHead, 0, 'utf8');
    this.eventKeyView = b.subarray(0, headEnd + SEQ_KEY_DIGITS);
    this.idKeyAt = headEnd + SEQ_KEY_DIGITS;
    this.idHeadEnd = this.idKeyAt + b.write(idHead, this.idKeyAt, 'utf8');
    this.idEntryAt = this.idHeadEnd + Math.max(idRoom, 160);
    this.idKeyView = b.subarray(0, 0);
    this.idEntryView = b.subarray(this.idEntryAt, this.idEntryAt + ID_FIXED + b.write(terminal, this.idEntryAt + ID_FIXED, 'utf8'));
    this.prefix = prefix;
    this.store = store;
    this.terminal = terminal;
    this.idPrefix = idPrefix;
  }
}

