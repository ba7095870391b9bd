/**
 * The cloud's LevelDB backend; its parts live in `level/` (see
 * level/level-storage.ts for which module does what). This file keeps the
 * import path everything above the seam uses.
 */
export { CLOUD_TUNING, LevelStorage, type OpenOptions } from './level/level-storage.ts';
export { decodeIdEntry, encodeIdEntry, flipId, unflipId } from './level/keys.ts';
export { EventRun, readRun } from './level/event-run.ts';
export { LAYOUT_VERSION } from './level/layout.ts';
