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
  // Documents are numbered; postings, dedupe and tie-break ranks work on numbers.
  private readonly numberOf = new Map<string, number>();
  private ids: Array<string | undefined> = [];
  private docs: Array<IndexedDoc | undefined> = [];
  private free: number[] = [];
  private readonly postings = new Map<string, number[]>();
  /** Name words and keys (SKU, phone, email) are ranged separately: see `search`. */
  private readonly wordRefs = new Map<string, number>();
  private readonly keyRefs = new Map<string, number>();
  private sortedWords: string[] = [];
  private sortedKeys: string[] = [];
  /** Tie-break order of each document (shorter name first, then alphabetical). */
  private rank = new Int32Array(0);
  private stamp = new Uint32Array(0);
  private generation = 0;
  private dirty = false;
  /** Results of short queries (the expensive ones), dropped on any change. */
  private readonly cache = new Map<string, SearchHit[]>();

  get size(): number {
    return this.numberOf.size;
  }

  set(id: string, doc: IndexedDoc | undefined): void {
    this.cache.clear();
    this.dirty = true;
    const n = this.numberOf.get(id);
    if (n !== undefined) {
      const old = this.docs[n]!;
      this.unref(old.words, this.wordRefs);
      this.unref(old.keys, this.keyRefs);
      for (const t of new Set([...old.words, ...old.keys])) {
        const list = this.postings.get(t);
        if (!list) continue;
        const i = list.indexOf(n);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.postings.delete(t);
      }
      this.numberOf.delete(id);
      this.ids[n] = undefined;
      this.docs[n] = undefined;
      this.free.push(n);
    }
    if (!doc) return;
    const m = this.free.pop() ?? this.ids.length;
    this.numberOf.set(id, m);
    this.ids[m] = id;
    this.docs[m] = doc;
    this.ref(doc.words, this.wordRefs);
    this.ref(doc.keys, this.keyRefs);
    for (const t of new Set([...doc.words, ...doc.keys])) {
      let list = this.postings.get(t);
      if (!list) {
        list = [];
        this.postings.set(t, list);
      }
      list.push(m);
    }
  }

  private ref(tokens: readonly string[], refs: Map<string, number>): void {
    for (const t of tokens) refs.set(t, (refs.get(t) ?? 0) + 1);
  }

  private unref(tokens: readonly string[], refs: Map<string, number>): void {
    for (const t of tokens) {
      const n = (refs.get(t) ?? 1) - 1;
      if (n <= 0) refs.delete(t);
      else refs.set(t, n);
    }
  }

  clear(): void {
    this.numberOf.clear();
    this.ids = [];
    this.docs = [];
    this.free = [];
    this.postings.clear();
    this.wordRefs.clear();
    this.keyRefs.clear();
    this.sortedWords = [];
    this.sortedKeys = [];
    this.cache.clear();
    this.dirty = false;
  }

  /** Re-sorts tokens and ranks after changes (lazily, on the next search). */
  private refresh(): void {
    if (!this.dirty) return;
    this.sortedWords = [...this.wordRefs.keys()].sort();
    this.sortedKeys = [...this.keyRefs.keys()].sort();
    const order: number[] = [];
    for (let i = 0; i < this.docs.length; i++) if (this.docs[i]) order.push(i);
    order.sort((a, b) => {
      const x = this.docs[a]!.sortKey;
      const y = this.docs[b]!.sortKey;
      return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
    });
    this.rank = new Int32Array(this.docs.length);
    order.forEach((doc, r) => { this.rank[doc] = r; });
    if (this.stamp.length < this.docs.length) this.stamp = new Uint32Array(this.docs.length * 2);
    this.dirty = false;
  }

  /** The tokens of `sorted` starting with `prefix` (two binary searches). */
  private static range(sorted: readonly string[], prefix: string): [number, number] {
    const lower = (target: string): number => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! < target) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    return [lower(prefix), lower(`${prefix}\uffff`)];
  }

  /**
   * Every query token must prefix-match some token of the doc (AND).
   * Score: exact key match 8, exact word 4, prefix 2 per query token, +1 when the
   * first query token starts the name. Ties: shorter name, then alphabetical.
   *
   * Keys (SKUs, phones) take part in prefix matching only for a token with a
   * digit or of 3+ characters: otherwise every SKU sharing a category letter
   * would match a one-letter query. Only the best `limit` hits are kept while
   * scoring (no sort of every match).
   */
  search(query: string, limit = 20): SearchHit[] {
    const q = tokenize(query);
    if (q.length === 0 || limit <= 0) return [];
    this.refresh();
    const cacheKey = q.join(' ').length <= 3 ? `${limit}:${q.join(' ')}` : undefined;
    const cached = cacheKey === undefined ? undefined : this.cache.get(cacheKey);
    if (cached) return cached.map((h) => ({ ...h }));

    const keyish = (t: string) => t.length >= 3 || /\d/.test(t);
    const span = (t: string): number => {
      const [a, b] = TokenIndex.range(this.sortedWords, t);
      if (!keyish(t)) return b - a;
      const [c, d] = TokenIndex.range(this.sortedKeys, t);
      return b - a + d - c;
    };
    let best = 0;
    let bestSpan = span(q[0]!);
    for (let i = 1; i < q.length; i++) {
      const s = span(q[i]!);
      if (s < bestSpan) {
        best = i;
        bestSpan = s;
      }
    }
    const gen = ++this.generation;
    if (gen === 0xffffffff) {
      this.stamp.fill(0);
      this.generation = 1;
    }
    const candidates: number[] = [];
    const addRange = (sorted: readonly string[], prefix: string): void => {
      const [lo, hi] = TokenIndex.range(sorted, prefix);
      for (let i = lo; i < hi; i++) {
        for (const n of this.postings.get(sorted[i]!)!) {
          if (this.stamp[n] === this.generation) continue;
          this.stamp[n] = this.generation;
          candidates.push(n);
        }
      }
    };
    const first = q[best]!;
    addRange(this.sortedWords, first);
    if (keyish(first)) addRange(this.sortedKeys, first);
    // A key typed with separators ("COL-004", "555-0199") matches as one compact token.
    const compact = q.join('');
    if (q.length > 1) addRange(this.sortedKeys, compact);

    const topDoc: number[] = [];
    const topScore: number[] = [];
    const better = (score: number, doc: number, i: number): boolean =>
      score !== topScore[i]! ? score > topScore[i]! : this.rank[doc]! < this.rank[topDoc[i]!]!;
    const offer = (doc: number, score: number): void => {
      if (topDoc.length === limit && !better(score, doc, limit - 1)) return;
      let i = topDoc.length;
      while (i > 0 && better(score, doc, i - 1)) i--;
      topDoc.splice(i, 0, doc);
      topScore.splice(i, 0, score);
      if (topDoc.length > limit) {
        topDoc.pop();
        topScore.pop();
      }
    };
    const firstKeyish = q.map(keyish);

    for (const n of candidates) {
      const doc = this.docs[n]!;
      let score = 0;
      if (q.length > 1) {
        for (const k of doc.keys) {
          if (k === compact) score = Math.max(score, 8 * q.length);
          else if (k.startsWith(compact)) score = Math.max(score, 2 * q.length);
        }
        if (score > 0) {
          offer(n, score);
          continue;
        }
      }
      let all = true;
      for (let qi = 0; qi < q.length; qi++) {
        const qt = q[qi]!;
        let s = 0;
        if (firstKeyish[qi]) {
          for (const k of doc.keys) {
            if (k === qt) s = 8;
            else if (s < 2 && k.startsWith(qt)) s = 2;
          }
        }
        if (s < 4) {
          for (const w of doc.words) {
            if (w === qt) {
              s = Math.max(s, 4);
              break;
            }
            if (s < 2 && w.startsWith(qt)) s = 2;
          }
        }
        if (s === 0) {
          all = false;
          break;
        }
        score += s;
      }
      if (!all) continue;
      if (doc.words[0]?.startsWith(q[0]!)) score += 1;
      offer(n, score);
    }
    const hits = topDoc.map((n, i) => ({ id: this.ids[n]!, score: topScore[i]! }));
    if (cacheKey !== undefined) this.cache.set(cacheKey, hits.map((h) => ({ ...h })));
    return hits;
  }
}
