/**
 * Local mode (F2): the technician's "work offline" switch.
 *
 * - Persisted in the log's meta (`localMode`) through the log's single writer,
 *   so it survives a restart; a persisted value is validated when read back.
 * - Active while `on` and (no `until` or clock < `until`). While active the
 *   sync worker makes no network call at all.
 * - Expiry is a timer at `until`; when it fires the setting is switched off on
 *   disk and `onExpire` runs (the worker then syncs at once). A restart after the
 *   expiry sees an inactive setting without waiting for any timer.
 */
import { z } from 'zod';
import { TillsyncError } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';
import { setTimeoutAt, type Clock, type Timers } from './timers.ts';

/** Local mode for a set time: the same range on the page, the CLI and the API, hours. */
export const LOCAL_MODE_HOURS = { min: 0.1, max: 24 * 14 } as const;

export interface LocalModeSetting {
  on: boolean;
  /** Clock time (ms) when it ends by itself; null = until turned off. */
  until: number | null;
  /** When it was turned on (ms), null when off. */
  since: number | null;
}

export interface LocalModeRequest {
  on: boolean;
  /** Clock time (ms) when local mode ends by itself. Must be in the future. */
  until?: number;
}

export const LOCAL_MODE_META_KEY = 'localMode';
const OFF: LocalModeSetting = { on: false, until: null, since: null };

const settingSchema = z.strictObject({
  on: z.boolean(),
  until: z.number().int().nonnegative().nullable(),
  since: z.number().int().nonnegative().nullable(),
});

export class LocalMode {
  private setting: LocalModeSetting = OFF;
  private cancelExpiry: (() => void) | undefined;

  constructor(
    private readonly log: EventLog,
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly onExpire: () => void,
  ) {}

  /** Reads the persisted setting and arms its expiry. A damaged record reads as off. */
  async load(): Promise<LocalModeSetting> {
    const raw = await this.log.readMeta<unknown>(LOCAL_MODE_META_KEY);
    const parsed = settingSchema.safeParse(raw);
    this.setting = parsed.success ? parsed.data : OFF;
    this.arm();
    return this.current;
  }

  get current(): LocalModeSetting {
    return { ...this.setting };
  }

  isActive(now = this.clock.now()): boolean {
    return this.setting.on && (this.setting.until === null || now < this.setting.until);
  }

  /** Turns local mode on (optionally until a time) or off; resolves once persisted. */
  async set(req: LocalModeRequest): Promise<LocalModeSetting> {
    const now = this.clock.now();
    if (req.until !== undefined && (!Number.isSafeInteger(req.until) || req.until <= now)) {
      throw new TillsyncError('VALIDATION_FAILED', 'local mode "until" must be a time in the future', {
        details: { path: 'until', found: req.until, now },
      });
    }
    const next: LocalModeSetting = req.on ? { on: true, until: req.until ?? null, since: now } : OFF;
    await this.log.setMeta({ [LOCAL_MODE_META_KEY]: next });
    this.setting = next;
    this.arm();
    return this.current;
  }

  dispose(): void {
    this.cancelExpiry?.();
    this.cancelExpiry = undefined;
  }

  private arm(): void {
    this.dispose();
    const until = this.setting.until;
    if (!this.setting.on || until === null) return;
    this.cancelExpiry = setTimeoutAt(this.clock, this.timers, until, () => {
      this.cancelExpiry = undefined;
      this.setting = OFF;
      // Persist the switch-off; the worker syncs at once regardless (isActive is already false).
      this.log.setMeta({ [LOCAL_MODE_META_KEY]: OFF }).catch(() => {});
      this.onExpire();
    });
  }
}
