// The Sync Manager page: the state on the left (live from the status stream),
// the options on the right. Every button writes its outcome next to itself; a
// refusal is shown with its code and what to do about it.
import {
  api, confirmDialog, describeConnection, el, errorHints, formatAge, formatBytes, formatCents, formatTime,
  plural, showBusy, showError, showOk, watchStatus,
} from './common.js';
import { initRecoveryTools } from './recovery-tools.js';

const $ = (id) => document.getElementById(id);
const dialog = $('confirm');

const OPERATION_NAMES = {
  'sync-up': 'Sync up',
  'sync-down': 'Sync down',
  'full-resync': 'Full data resync',
  restore: 'Restore sync service',
  'force-resync': 'Force full resync',
  'force-resync-dry-run': 'Force full resync: checking with the cloud',
  cleanup: 'Clean up old transactions',
  audit: 'Audit',
  recover: 'Recover from the cloud',
};
const ACTIVITY_NAMES = { connect: 'Connecting to the cloud', upload: 'Uploading', download: 'Downloading' };

let status = null;
let statusAt = 0;
/** Buttons whose own request is in flight. */
const busy = new Set();
/** The local-mode request in flight: the checkbox shows what the person asked for meanwhile. */
let localModePending = false;

// ------------------------------------------------------------------ rendering

function render() {
  if (!status) return;
  const s = status.sync;
  $('where').textContent = `Store ${status.store} · Terminal ${status.terminal}`;

  renderAlarm(status.alarm);
  const conn = describeConnection(s);
  $('conn').dataset.tone = conn.tone;
  $('conn-label').textContent = conn.label;
  $('conn-detail').textContent = conn.detail;

  $('uploaded').textContent = String(s.uploaded);
  // In store terms: sales and money; the events behind them as the detail.
  const u = status.unsynced;
  $('pending').textContent = String(u.sales);
  $('pending').closest('.counter').dataset.tone = s.pending > 0 ? 'warn' : '';
  renderPendingDetail();
  $('quarantined').textContent = String(s.quarantined);
  $('quarantined').closest('.counter').dataset.tone = s.quarantined > 0 ? 'bad' : '';

  $('last-up').textContent = lastUpText(s);
  $('last-up').dataset.tone = upFailed(s) ? 'bad' : '';
  $('last-down').textContent = lastDownText(s);
  $('last-down').dataset.tone = downFailed(s) ? 'bad' : '';
  renderAge();
  $('exceptions').textContent = s.openExceptions === null ? 'unknown (not told by the cloud yet)' : s.openExceptions === 0 ? 'none' : plural(s.openExceptions, 'open exception');
  $('exceptions').dataset.tone = s.openExceptions ? 'warn' : '';
  $('log-size').textContent = formatBytes(s.logBytes);
  const log = status.log;
  const kept = log.head - log.base;
  const health = log.health === 'ok' ? 'healthy' : log.health;
  $('log-range').textContent = log.head === 0
    ? `empty; ${health}`
    : `${kept === 0 ? 'no events kept' : `events ${log.base + 1}–${log.head} kept`}${log.base > 0 ? ` (1–${log.base} cleaned up)` : ''}; ${health}`;
  $('feed').textContent = s.feedHead === null
    ? `change ${s.feedCursor} applied`
    : s.feedCursor >= s.feedHead ? `up to date (change ${s.feedCursor})` : `change ${s.feedCursor} of ${s.feedHead}`;
  $('push').textContent = `${s.streamConnected ? 'connected' : 'not connected'}; ${plural(s.restarts, 'restart')}, ${plural(s.watchdogRestarts, 'watchdog restart')}`;

  renderActivity();

  const cb = $('local-mode');
  if (!localModePending) cb.checked = s.localMode.on;
  const hours = $('local-hours');
  hours.disabled = s.localMode.on || localModePending;

  const running = status.operation !== null;
  for (const id of ['btn-sync-up', 'btn-sync-down', 'btn-full-resync', 'btn-restore', 'btn-force-resync', 'btn-cleanup']) {
    const b = $(id);
    b.disabled = running || busy.size > 0;
    b.setAttribute('aria-disabled', String(b.disabled));
  }
}

function upFailed(s) {
  return s.lastUpError !== null && (s.lastUp === null || s.lastUpError.at >= s.lastUp.at);
}
function downFailed(s) {
  return s.lastDownError !== null && (s.lastDown === null || s.lastDownError.at >= s.lastDown.at);
}

function lastUpText(s) {
  const parts = [];
  if (s.lastUp) {
    const u = s.lastUp;
    const extra = [u.duplicates ? `${u.duplicates} already there` : '', u.quarantined ? `${u.quarantined} quarantined` : '', u.conflicts ? `${plural(u.conflicts, 'conflict')}` : '']
      .filter(Boolean).join(', ');
    parts.push(`${formatTime(u.at)}: ${u.uploaded} uploaded${extra ? `, ${extra}` : ''}`);
  } else parts.push('not yet');
  if (upFailed(s)) parts.push(`failed ${formatTime(s.lastUpError.at)}: ${s.lastUpError.code}`);
  return parts.join(' · ');
}

function lastDownText(s) {
  const parts = [];
  if (s.lastDown) parts.push(`${formatTime(s.lastDown.at)}: ${plural(s.lastDown.changes, 'change')} downloaded`);
  else parts.push('not yet');
  if (downFailed(s)) parts.push(`failed ${formatTime(s.lastDownError.at)}: ${s.lastDownError.code}`);
  return parts.join(' · ');
}

/** The agent's alarm: amber, then red, each reason with what to do; hidden when all is well. */
function renderAlarm(alarm) {
  const box = $('alarm');
  box.hidden = alarm.level === 'ok';
  box.dataset.level = alarm.level;
  $('alarm-title').textContent = alarm.level === 'red' ? 'Act now' : alarm.level === 'amber' ? 'Needs attention' : '';
  $('alarm-reasons').replaceChildren(...alarm.reasons.map((r) => {
    const li = document.createElement('li');
    li.dataset.code = r.code;
    li.dataset.level = r.level;
    li.textContent = r.text;
    const todo = document.createElement('span');
    todo.className = 'alarm-todo';
    todo.textContent = r.todo;
    li.append(todo);
    return li;
  }));
}

/** "$41.20, oldest 2 h ago · 7 events": the age keeps growing between pushes. */
function renderPendingDetail() {
  const s = status.sync;
  const u = status.unsynced;
  const events = plural(s.pending, 'event');
  $('pending-detail').textContent = u.sales > 0
    ? `${formatCents(u.amount)}, oldest ${formatAge(u.oldestAgeMs + (Date.now() - statusAt))} ago · ${events}`
    : s.pending > 0 ? `${events} (refunds, voids or adjustments)` : 'everything is on the cloud';
}

/** The oldest unsynced payment's age keeps growing between pushes. */
function renderAge() {
  if (!status) return;
  renderPendingDetail();
  const s = status.sync;
  const el = $('oldest-payment');
  if (s.oldestUnsyncedPaymentAgeMs === null) {
    el.textContent = 'none — every payment is on the cloud';
    el.dataset.tone = '';
  } else {
    el.textContent = `${formatAge(s.oldestUnsyncedPaymentAgeMs + (Date.now() - statusAt))} old (event ${s.oldestUnsyncedPayment.seq})`;
    el.dataset.tone = 'warn';
  }
  renderCardDeadline();
}

/**
 * Counts down to the card processor's offline window for the oldest card
 * payment the cloud does not have; the tone escalates as the alarm does
 * (amber from half the window, red from 80 % and past it).
 */
function renderCardDeadline() {
  const w = status.cardWindow;
  const el = $('card-deadline');
  const window = formatAge(w.windowMs);
  if (w.leftMs === null) {
    el.textContent = `no card payment waiting (the processor's window: ${window})`;
    el.dataset.tone = '';
    return;
  }
  const elapsed = Date.now() - statusAt;
  const left = w.leftMs - elapsed;
  const age = w.windowMs - left;
  const level = age >= w.windowMs * 0.8 ? 'red' : age >= w.windowMs / 2 ? 'amber' : 'ok';
  el.textContent = left > 0 ? `${formatAge(left)} left of the processor's ${window} window` : `past the processor's ${window} window by ${formatAge(-left)}: upload now`;
  el.dataset.tone = level === 'red' ? 'bad' : level === 'amber' ? 'warn' : 'ok';
  el.dataset.level = level;
}

function renderActivity() {
  const op = status.operation;
  const act = status.sync.activity;
  const bar = $('progress');
  const label = $('activity-label');
  const box = $('activity');
  if (op) {
    const name = OPERATION_NAMES[op.name] || op.name;
    const phase = op.phase && op.phase !== op.name ? ` — ${op.phase}` : '';
    label.textContent = `${name}${phase}${op.total > 0 ? `: ${op.done} of ${op.total}` : '…'}`;
    setBar(bar, op.done, op.total);
    box.dataset.active = 'operation';
  } else if (act) {
    label.textContent = `${ACTIVITY_NAMES[act.op] || act.op}${act.total > 0 ? `: ${act.done} of ${act.total}` : '…'}`;
    setBar(bar, act.done, act.total);
    box.dataset.active = 'sync';
  } else {
    label.textContent = 'Idle';
    bar.hidden = true;
    delete box.dataset.active;
  }
}

function setBar(bar, done, total) {
  bar.hidden = false;
  if (total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
  } else {
    bar.removeAttribute('value'); // indeterminate
  }
}

function setLive(connected) {
  const live = $('live');
  live.dataset.state = connected ? 'live' : 'down';
  live.textContent = connected ? 'Live' : 'Reconnecting to the terminal agent…';
}

// ------------------------------------------------------------------ actions

/** Runs one button's request with the button marked busy and the outcome written next to it. */
async function runOp(key, busyText, fn) {
  const out = $(`result-${key}`);
  busy.add(key);
  render();
  showBusy(out, busyText);
  try {
    const text = await fn();
    if (text === null) out.textContent = '';
    else showOk(out, text);
  } catch (err) {
    await showError(out, err);
  } finally {
    busy.delete(key);
    render();
  }
}

$('local-mode').addEventListener('change', async (ev) => {
  const on = ev.target.checked;
  const out = $('result-local-mode');
  const hoursText = $('local-hours').value.trim();
  const body = { on };
  if (on && hoursText !== '') {
    const hours = Number(hoursText);
    if (!Number.isFinite(hours) || hours < 0.1 || hours > 336) {
      ev.target.checked = false;
      await showError(out, { code: 'VALIDATION_FAILED', hint: 'Enter the hours as a number from 0.1 to 336 (14 days), or leave the box empty', message: 'hours out of range' });
      return;
    }
    body.hours = hours;
  }
  localModePending = true;
  render();
  showBusy(out, on ? 'Turning local mode on…' : 'Turning local mode off…');
  try {
    const st = await api('POST', '/api/local-mode', body);
    status = st;
    statusAt = Date.now();
    const until = st.sync.localMode.until;
    showOk(out, on
      ? `Local mode is on${until ? ` until ${formatTime(until)}` : ' until you turn it off'}. No network calls; sales stay on this terminal.`
      : 'Local mode is off. Syncing now.');
  } catch (err) {
    ev.target.checked = !on;
    await showError(out, err);
  } finally {
    localModePending = false;
    render();
  }
});

$('btn-sync-up').addEventListener('click', () => runOp('sync-up', 'Uploading…', async () => {
  const r = await api('POST', '/api/sync/up', {});
  const extra = [r.duplicates ? `${r.duplicates} already on the cloud` : '', r.quarantined ? `${r.quarantined} quarantined` : '', r.conflicts ? plural(r.conflicts, 'conflict') : '']
    .filter(Boolean).join(', ');
  return `Sync up done: ${plural(r.uploaded, 'event')} uploaded${extra ? `, ${extra}` : ''}; the cloud has everything up to event ${r.ackSeq}.`;
}));

$('btn-sync-down').addEventListener('click', () => runOp('sync-down', 'Downloading…', async () => {
  const r = await api('POST', '/api/sync/down', {});
  return `Sync down done: ${plural(r.changes, 'change')} downloaded; up to date with change ${r.cursor} of ${r.head}.`;
}));

$('btn-restore').addEventListener('click', () => runOp('restore', 'Restarting the sync service…', async () => {
  const { sync: s } = await api('POST', '/api/restore', {});
  return `Sync service restarted (restart ${s.restarts} since the agent started). Connection: ${describeConnection(s).label}.`;
}));

$('btn-full-resync').addEventListener('click', async () => {
  const ok = await confirmDialog(dialog, {
    title: 'Full data resync',
    body: [
      'All downloaded items, customers and balances on this terminal are discarded and downloaded again from the cloud.',
      status && status.sync.pending > 0
        ? `${plural(status.sync.pending, 'transaction')} not yet on the cloud will be uploaded first; if that fails, nothing is discarded.`
        : 'Every transaction of this terminal is already on the cloud.',
    ],
    confirmLabel: 'Resync everything',
    danger: true,
  });
  if (!ok) {
    showOk($('result-full-resync'), 'Cancelled; nothing was changed.');
    return;
  }
  const describe = (r) => {
    const d = r.digest;
    const exported = r.exportedTo
      ? ` ${plural(r.exportedEvents, 'unsynced event')} could not be uploaded first: they were exported to ${r.exportedTo.split('/').pop()} (under Recovery → Exports) and stay on this terminal to upload later.`
      : '';
    return `Full data resync done: ${plural(r.changes, 'change')} downloaded; verified against the cloud: `
      + `${plural(d.items.count, 'item')}, ${plural(d.customers.count, 'customer')}, ${plural(d.balances.count, 'balance')}, ${plural(d.vouchers.count, 'voucher')}.${exported}`;
  };
  let refusal = null;
  await runOp('full-resync', 'Resyncing everything…', async () => {
    try {
      return describe(await api('POST', '/api/resync/full', {}));
    } catch (err) {
      if (err.code === 'UNSYNCED_EVENTS') refusal = err;
      throw err;
    }
  });
  if (!refusal) return;
  // The override: the sales that cannot reach the cloud now are written to a file first (they stay in the log too).
  const anyway = await confirmDialog(dialog, {
    title: 'Resync without uploading first?',
    body: [
      'Some sales could not be uploaded to the cloud first.',
      'Resync anyway: they are exported to a file you can download (Recovery → Exports), they stay on this terminal, and they upload when the cloud answers.',
    ],
    confirmLabel: 'Export and resync',
    danger: true,
  });
  if (!anyway) return;
  let exportedFirst = null;
  await runOp('full-resync', 'Exporting unsynced sales, then resyncing…', async () => {
    try {
      return describe(await api('POST', '/api/resync/full', { exportUnsynced: true }));
    } catch (err) {
      if (err.details && err.details.exportedTo) exportedFirst = err.details;
      throw err;
    }
  });
  if (exportedFirst) {
    // The resync stopped after the export: the file is there all the same.
    $('result-full-resync').append(el('span', { class: 'exported', text: ` ${plural(exportedFirst.exportedEvents, 'unsynced event')} were exported first to ${String(exportedFirst.exportedTo).split('/').pop()} (under Recovery → Exports); nothing was discarded.` }));
  }
  await tools.refreshExports();
});

$('btn-force-resync').addEventListener('click', async () => {
  const out = $('result-force-resync');
  let dry;
  busy.add('force-resync');
  render();
  showBusy(out, 'Checking with the cloud…');
  try {
    dry = await api('POST', '/api/resync/force', { dryRun: true });
  } catch (err) {
    await showError(out, err);
    return;
  } finally {
    busy.delete('force-resync');
    render();
  }
  const summary = `Cloud has ${dry.have}, lacks ${dry.lack}, different ${dry.different} (of ${plural(dry.total, 'local event')}).`;
  showOk(out, `Dry run: ${summary}`);
  const ok = await confirmDialog(dialog, {
    title: 'Force full resync',
    body: [
      `The cloud has ${dry.have}, lacks ${dry.lack}, different ${dry.different} of the ${plural(dry.total, 'event')} kept on this terminal.`,
      dry.different > 0
        ? `${plural(dry.different, 'event')} differ from what the cloud holds; the cloud keeps its copy and reports them as conflicts.`
        : 'Events the cloud already has are skipped.',
      'Upload every local transaction again now?',
    ],
    confirmLabel: 'Upload everything again',
    danger: true,
  });
  if (!ok) {
    showOk(out, `Cancelled after the dry run. ${summary}`);
    return;
  }
  await runOp('force-resync', 'Uploading every local transaction again…', async () => {
    const r = await api('POST', '/api/resync/force', { dryRun: false });
    const extra = [r.quarantined ? `${r.quarantined} quarantined` : '', r.conflicts ? `${plural(r.conflicts, 'conflict')} (events ${r.conflictSeqs.join(', ')})` : '']
      .filter(Boolean).join(', ');
    return `Force full resync done: uploaded ${r.uploaded}, skipped ${r.skipped} already on the cloud${extra ? `, ${extra}` : ''} (of ${plural(r.total, 'event')}).`;
  });
});

$('btn-cleanup').addEventListener('click', async () => {
  const out = $('result-cleanup');
  const text = $('cleanup-days').value.trim();
  const days = Number(text);
  if (text === '' || !Number.isInteger(days) || days < 0 || days > 3650) {
    await showError(out, { code: 'VALIDATION_FAILED', message: 'days must be a whole number from 0 to 3650' });
    return;
  }
  const ok = await confirmDialog(dialog, {
    title: 'Clean up old transactions',
    body: [
      `Transactions the cloud has acknowledged and older than ${plural(days, 'day')} are removed from this terminal to free disk space.`,
      'Nothing the cloud has not acknowledged is ever removed. Items, customers and balances stay.',
    ],
    confirmLabel: 'Clean up',
    danger: true,
  });
  if (!ok) {
    showOk(out, 'Cancelled; nothing was removed.');
    return;
  }
  await runOp('cleanup', 'Cleaning up…', async () => {
    const r = await api('POST', '/api/cleanup', { olderThanDays: days });
    const kept = r.keptUnacknowledged ? `; kept ${plural(r.keptUnacknowledged, 'event')} not yet on the cloud` : '';
    return `Clean up done: removed ${plural(r.events, 'event')}, freed ${formatBytes(Math.max(0, r.bytesFreed))}${kept}.`;
  });
});

// ------------------------------------------------------------------ start

errorHints();
const tools = initRecoveryTools({ dialog });
watchStatus({
  onStatus(s) {
    status = s;
    statusAt = Date.now();
    render();
    tools.render(s);
  },
  onLink: setLive,
});
setInterval(renderAge, 1000);
