/**
 * One download pass: pulls feed pages from the stored feed cursor up to the
 * cloud's head.
 *
 * - Every change is validated with `parseChange`; a page must be ascending,
 *   after `since`, and end at its `cursor`. A page failing any check is not
 *   applied at all (CLOUD_BAD_RESPONSE, retried with backoff).
 * - Each page and its cursor are applied with `log.applyChanges(changes, cursor)`:
 *   one atomic write, so the cursor never runs ahead of the data and never skips.
 * - The cursor is only ever read from the log, so a restart resumes exactly
 *   after the last applied page.
 */
import { TillsyncError } from '../errors.ts';
import type { Change } from '../events/event-types.ts';
import type { EventLog } from '../events/event-log.ts';
import { parseChange } from '../events/validate.ts';
import { CloudError, toCloudError } from './cloud-error.ts';
import { LIMITS, type FeedPage } from './protocol.ts';
import type { PassContext } from './retry-loop.ts';
import type { CloudTransport } from './transport.ts';

export interface DownloadOptions {
  /** Changes asked per page (default 1000). */
  pageSize?: number;
}

export interface DownloadResult {
  changes: number;
  cursor: number;
  head: number;
}

export interface DownloadHooks {
  /** A page is on disk. */
  onPage?(cursor: number, head: number, progress: { done: number; total: number }): void;
}

export class DownloadLoop {
  private readonly pageSize: number;

  constructor(
    private readonly log: EventLog,
    private readonly transport: CloudTransport,
    opts: DownloadOptions = {},
    private readonly hooks: DownloadHooks = {},
  ) {
    this.pageSize = Math.min(LIMITS.maxFeedPage, Math.max(1, opts.pageSize ?? 1000));
  }

  async run(ctx: PassContext): Promise<DownloadResult> {
    const start = this.log.feedCursor;
    let since = start;
    let applied = 0;
    for (;;) {
      const page = await this.transport.feed(since, this.pageSize, { signal: ctx.signal });
      ctx.progress();
      const changes = checkPage(page, since);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (page.cursor === since) {
        if (page.head > since) {
          throw new CloudError('CLOUD_BAD_RESPONSE', `feed page after ${since} is empty but the head is ${page.head}`, { kind: 'retry' });
        }
        return { changes: applied, cursor: since, head: page.head };
      }
      try {
        await this.log.applyChanges(changes, page.cursor);
      } catch (err) {
        throw toCloudError(err, 'apply feed page');
      }
      applied += changes.length;
      since = page.cursor;
      ctx.progress();
      this.hooks.onPage?.(since, page.head, { done: since - start, total: Math.max(since, page.head) - start });
      if (since >= page.head) return { changes: applied, cursor: since, head: page.head };
    }
  }
}

function checkPage(page: FeedPage, since: number): Change[] {
  const bad = (why: string, cause?: unknown): CloudError =>
    new CloudError('CLOUD_BAD_RESPONSE', `feed page after ${since}: ${why}`, { kind: 'retry', ...(cause !== undefined ? { cause } : {}) });
  if (page.cursor < since) throw bad(`cursor ${page.cursor} goes backwards`);
  if (page.head < page.cursor) throw bad(`head ${page.head} is behind cursor ${page.cursor}`);
  if (page.changes.length > LIMITS.maxFeedPage) throw bad(`${page.changes.length} changes exceed the page limit`);
  const changes: Change[] = [];
  let last = since;
  for (let i = 0; i < page.changes.length; i++) {
    let c: Change;
    try {
      c = parseChange(page.changes[i]);
    } catch (err) {
      const code = err instanceof TillsyncError ? err.code : 'VALIDATION_FAILED';
      throw bad(`change ${i} is invalid (${code}): ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (c.cursor <= last) throw bad(`change ${i} has cursor ${c.cursor}, not after ${last}`);
    last = c.cursor;
    changes.push(c);
  }
  if (last !== page.cursor) throw bad(`page cursor ${page.cursor} is not its last change's ${last}`);
  return changes;
}
