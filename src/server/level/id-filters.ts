/**
 * The lifecycle of the per-store id filters (id-filter.ts) over the LevelDB id
 * index: a store's filter is made on first use and loaded from the index in
 * the background; until it is loaded it answers "may hold" for every id, so
 * every id is looked up. Commits add their ids before they write, and make
 * the filter if there is none yet, so the load's scan, which starts after
 * that, misses none. Safe to miss, never wrong: a filter whose load failed
 * stays unloaded.
 */
import { BIG_READS, type Sublevel } from '../../events/level-util.ts';
import { IdFilter } from '../id-filter.ts';
import { unflipId } from './keys.ts';

export class IdFilters {
  private readonly filters = new Map<string, IdFilter>();
  private readonly loads = new Map<string, Promise<void>>();

  constructor(private readonly ids: Sublevel) {}

  /** The store's filter, made (and its load started) on first use. */
  of(store: string): IdFilter {
    let f = this.filters.get(store);
    if (!f) {
      f = new IdFilter();
      this.filters.set(store, f);
      this.loads.set(store, this.load(store, f));
    }
    return f;
  }

  /** Resolves once the store's filter is loaded (or its load failed). */
  async loaded(store: string): Promise<void> {
    this.of(store);
    await this.loads.get(store);
  }

  private async load(store: string, f: IdFilter): Promise<void> {
    try {
      const it = this.ids.keys({ gt: `${store}/`, lt: `${store}0`, ...BIG_READS });
      try {
        const skip = store.length + 1;
        for (;;) {
          const page = await it.nextv(10_000);
          if (page.length === 0) break;
          for (const k of page) f.add(unflipId(k.slice(skip)));
        }
      } finally {
        await it.close();
      }
      f.loaded();
    } catch {
      // Left unloaded (the database closed meanwhile): every id is looked up.
    }
  }
}
