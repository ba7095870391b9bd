// The Sync Manager's recovery tools (issue 22 item 4), so a store needs no
// shell: re-enroll a terminal whose credential the cloud revoked (paste the new
// credential the back office gave), recover the log from the cloud after
// damage or a restored backup, download the files the agent exported (a full
// resync's unsynced sales, a recovery's set-aside events) and a support bundle
// (status, sync history, log lines; no card data, no tokens), or send it to
// the cloud, where support reads it on the dashboard.
import { api, confirmDialog, el, formatBytes, formatTime, plural, showBusy, showError, showOk } from './common.js';

const $ = (id) => document.getElementById(id);

/** Runs one button's request: the button disabled meanwhile, `fn`'s text (or the refusal) written to `out`. */
async function act(button, out, busyText, refusedPrefix, fn) {
  button.disabled = true;
  showBusy(out, busyText);
  try {
    showOk(out, await fn());
  } catch (err) {
    await showError(out, err, refusedPrefix);
  } finally {
    button.disabled = false;
  }
}

export function initRecoveryTools({ dialog }) {
  let lastState = null;

  async function refreshExports() {
    const list = $('exports-list');
    const empty = $('exports-empty');
    try {
      const { exports } = await api('GET', '/api/exports');
      list.replaceChildren(...exports.map((f) => el('li', { 'data-export': f.name },
        el('a', { href: `/api/exports/${encodeURIComponent(f.name)}`, download: f.name, text: f.name }),
        el('span', { class: 'muted small', text: ` ${f.kind === 'unsynced' ? 'sales not uploaded before a full resync' : 'events set aside by a recovery'}, ${formatBytes(f.bytes)}, ${formatTime(f.modified)}` }),
      )));
      empty.hidden = exports.length > 0;
      empty.textContent = 'No exports on this terminal.';
    } catch (err) {
      list.replaceChildren();
      empty.hidden = false;
      empty.textContent = err.code === 'FORBIDDEN_ROLE' ? 'A manager can see and download exports.' : `Exports could not be read (${err.code}).`;
    }
  }

  $('reenroll-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = $('result-reenroll');
    const input = $('reenroll-token');
    const token = input.value.trim();
    if (token === '') {
      await showError(out, { code: 'VALIDATION_FAILED', hint: 'Paste the new terminal credential from the back office' }, 'Not re-enrolled');
      input.focus();
      return;
    }
    await act($('btn-reenroll'), out, 'Re-enrolling…', 'Not re-enrolled', async () => {
      await api('POST', '/api/credential', { token });
      input.value = '';
      return 'Re-enrolled: the new credential is saved on this terminal and sync starts again with it.';
    });
  });

  $('btn-recover').addEventListener('click', async () => {
    const out = $('result-recover');
    const ok = await confirmDialog(dialog, {
      title: 'Recover from the cloud',
      body: [
        "This terminal's events that the cloud holds are written back into the local log; local events the cloud holds differently are set aside in an export you can download, then appended again.",
        'Selling pauses for the few seconds it takes.',
      ],
      confirmLabel: 'Recover',
      danger: true,
    });
    if (!ok) {
      showOk(out, 'Cancelled; nothing was changed.');
      return;
    }
    await act($('btn-recover'), out, 'Recovering from the cloud…', 'Not recovered', async () => {
      const r = await api('POST', '/api/recover', { fromCloud: true });
      const parts = [
        r.restored ? `events ${r.restored.from}–${r.restored.to} restored from the cloud` : 'nothing to restore from the cloud',
        r.reappended ? `${plural(r.reappended, 'local event')} appended again` : '',
        r.exportedTo ? `set-aside events exported (see Exports)` : '',
        r.lost ? `events ${r.lost.from}–${r.lost.to} are neither here nor on the cloud` : '',
      ].filter(Boolean);
      await refreshExports();
      return `Recovery done: ${parts.join('; ')}. The log now ends at event ${r.head}.`;
    });
  });

  $('btn-send-bundle').addEventListener('click', () => act($('btn-send-bundle'), $('result-send-bundle'), 'Sending the support bundle…', 'Not sent', async () => {
    const r = await api('POST', '/api/support-bundle/send', {});
    return `Sent to the cloud (${formatBytes(r.bytes)}): support finds it on the dashboard under this terminal's History as ${r.id}.`;
  }));

  /** Marks the re-enrollment as the thing to do while the credential is revoked. */
  function render(status) {
    const revoked = status.sync.connection.state === 'revoked';
    const damaged = status.log.health !== 'ok' || (status.sync.connection.state === 'stuck' && /^LOG_/.test(status.sync.connection.error));
    const state = `${revoked}:${damaged}`;
    if (state === lastState) return;
    lastState = state;
    $('reenroll-op').dataset.tone = revoked ? 'bad' : '';
    $('reenroll-help').textContent = revoked
      ? "The cloud revoked this terminal's credential: selling goes on, but nothing syncs. Ask the back office to re-enroll this terminal (dashboard: Re-enroll), then paste the new credential here."
      : "Only needed when the cloud revoked this terminal's credential. The back office's dashboard (Re-enroll) gives the new one.";
    $('recover-op').dataset.tone = damaged ? 'bad' : '';
  }

  refreshExports();
  return { render, refreshExports };
}
