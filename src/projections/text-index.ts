/**
 * In-memory token index with ranked, case- and accent-insensitive prefix search.
 *
 * Derived state: it is rebuilt from the persisted views on open and kept current
 * by their change listeners, so it never needs its own durability.
 * Tokens live in a sorted array (rebuilt lazily after changes) for prefix ranges
 * by binary search, and a Map token → ids for postings.
 */

/** Lower-case, strip diacritics (é → e, ñ → n), fold ß/æ/ø, keep letters and digits. */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/æ/g, 'ae')
    .replace(/ø/g, 'o')
    .replace(/œ/g, 'oe');
}

export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const t of normalizeText(text).split(/[^\p{L}\p{N}]+/u)) if (t) out.push(t);
  return out;
}

/** A key (SKU, phone, email) compacted to letters and digits: "COL-004" → "col004". */
export function compactKey(text: string): string {
  return normalizeText(text).replace(/[^\p{L}\p{N}]+/gu, '');
}

export interface IndexedDoc {
  /** Tokens matched by prefix (name words). */
  words: string[];
  /** Compacted keys (see compactKey) that score highest on exact match (SKU, phone digits). */
  keys: string[];
  /** Tie-break order (normalized name). */
  sortKey: string;
}

export interface SearchHit {
  id: string;
  score: number;
}

export class TokenIndex {
  private readonly docs = new Map<string, IndexedDoc>();
  private readonly postings = new Map<string, Set<string>>();
  private sorted: string[] = [];
  private dirty = false;

  get size(): number {
    return this.docs.size;
  }

  set(id: string, doc: IndexedDoc | undefined): void {
    const old = this.docs.get(id);
    if (old) {
      for (const t of [...old.words, ...old.keys]) {
        const set = this.postings.get(t);
        if (!set) continue;
        set.delete(id);
        if (set.size === 0) {
          this.postings.delete(t);
          this.dirty = true;
        }
      }
      this.docs.delete(id);
    }
    if (!doc) return;
    this.docs.set(id, doc);
    for (const t of [...doc.words, ...doc.keys]) {
      let set = this.postings.get(t);
      if (!set) {
        set = new Set();
        this.postings.set(t, set);
        this.dirty = true;
      }
      set.add(id);
    }
  }

  clear(): void {
    this.docs.clear();
    this.postings.clear();
    this.sorted = [];
    this.dirty = false;
  }

  private tokens(): string[] {
    if (this.dirty) {
      this.sorted = [...this.postings.keys()].sort();
      this.dirty = false;
    }
    return this.sorted;
  }

  /** [lo, hi) range of tokens starting with `prefix`. */
  private range(prefix: string): [number, number] {
    const tokens = this.tokens();
    let lo = 0;
    let hi = tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (tokens[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < tokens.length && tokens[end]!.startsWith(prefix)) end++;
    return [lo, end];
  }

  /**
   * Every query token must prefix-match some token of the doc (AND).
   * Score: exact key match 8, exact word 4, prefix 2 per query token, +1 when the
   * first query token starts the name. Ties: shorter name, then alphabetical.
   */
  search(query: string, limit = 20): SearchHit[] {
    const q = tokenize(query);
    if (q.length === 0) return [];
    const tokens = this.tokens();
    // Start from the query token with the narrowest token range.
    const ranges = q.map((t) => this.range(t));
    let best = 0;
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i]![1] - ranges[i]![0] < ranges[best]![1] - ranges[best]![0]) best = i;
    }
    const candidates = new Set<string>();
    const addRange = ([lo, hi]: [number, number]): void => {
      for (let i = lo; i < hi; i++) for (const id of this.postings.get(tokens[i]!)!) candidates.add(id);
    };
    addRange(ranges[best]!);
    // A key typed with separators ("COL-004", "555-0199") matches as one compact token.
    const compact = q.join('');
    if (q.length > 1) addRange(this.range(compact));

    const hits: Array<SearchHit & { sortKey: string }> = [];
    for (const id of candidates) {
      const doc = this.docs.get(id)!;
      let score = 0;
      let all = true;
      if (q.length > 1) {
        for (const k of doc.keys) {
          if (k === compact) score = Math.max(score, 8 * q.length);
          else if (k.startsWith(compact)) score = Math.max(score, 2 * q.length);
        }
        if (score > 0) {
          hits.push({ id, score, sortKey: doc.sortKey });
          continue;
        }
      }
      for (const qt of q) {
        let s = 0;
        for (const k of doc.keys) {
          if (k === qt) s = Math.max(s, 8);
          else if (k.startsWith(qt)) s = Math.max(s, 2);
        }
        for (const w of doc.words) {
          if (w === qt) s = Math.max(s, 4);
          else if (w.startsWith(qt)) s = Math.max(s, 2);
        }
        if (s === 0) {
          all = false;
          break;
        }
        score += s;
      }
      if (!all) continue;
      if (doc.words[0]?.startsWith(q[0]!)) score += 1;
      hits.push({ id, score, sortKey: doc.sortKey });
    }
    hits.sort((a, b) => b.score - a.score || a.sortKey.length - b.sortKey.length || (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    return hits.slice(0, limit).map(({ id, score }) => ({ id, score }));
  }
}
