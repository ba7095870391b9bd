// Cloud dashboard: keeps the server-rendered overview live (polls the same HTML
// fragment the page was rendered with, swapped in only when it changed), and
// sends the page's actions to the admin API as JSON with the session cookie:
// resolve an exception, release a quarantined event, re-enroll a revoked
// terminal. No admin token is ever held here; a re-enrolled terminal's new
// credential is shown once, to be pasted into that terminal's Sync Manager, and
// forgotten when the person presses Done.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const pollMs = Number(document.body.dataset.pollMs) || 2000;
  let lastOverview = null;
  let lastHistory = null;
  let history = null; // { store, terminal } shown below the stores
  let busy = false;

  const flash = (text, cls) => {
    const f = $('flash');
    f.className = cls;
    f.textContent = text;
  };
  const signedOut = () => location.replace('/sign-in?next=/');

  async function fragment(path) {
    const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'text/html' } });
    if (res.status === 401) {
      signedOut();
      throw new Error('signed out');
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  }

  async function refresh() {
    const html = await fragment('/dashboard/overview');
    if (html !== lastOverview) {
      $('overview').innerHTML = html;
      lastOverview = html;
    }
    if (history) {
      const q = `store=${encodeURIComponent(history.store)}&terminal=${encodeURIComponent(history.terminal)}`;
      const h = await fragment(`/dashboard/history?${q}`);
      if (h !== lastHistory) {
        $('history').innerHTML = h;
        lastHistory = h;
      }
      $('history').hidden = false;
    }
  }

  async function tick() {
    if (!busy) {
      busy = true;
      try {
        await refresh();
        $('live').className = 'ok';
        $('live').textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
      } catch {
        $('live').className = 'bad';
        $('live').textContent = 'Not updating: the cloud did not answer (retrying)';
      }
      busy = false;
    }
    setTimeout(tick, pollMs);
  }

  async function post(path) {
    const res = await fetch(path, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{}',
    });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) signedOut();
    if (!res.ok) {
      const e = (body && body.error) || {};
      throw new Error(`${e.message || `HTTP ${res.status}`} (${e.code || res.status})`);
    }
    return body;
  }

  const enc = encodeURIComponent;
  document.addEventListener('click', async (ev) => {
    const b = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
    if (!b) return;
    const d = b.dataset;
    if (d.action === 'history') {
      history = { store: d.store, terminal: d.terminal };
      lastHistory = null;
      await refresh().catch(() => {});
      $('history').scrollIntoView({ block: 'nearest' });
      return;
    }
    b.disabled = true;
    try {
      if (d.action === 'resolve') {
        const r = await post(`/v1/admin/stores/${enc(d.store)}/exceptions/${enc(d.id)}/resolve`);
        flash(`Exception ${r.id} resolved.`, 'ok');
      } else if (d.action === 'reenroll') {
        if (!confirm(`Give ${d.terminal} a new credential? Its old one stays revoked.`)) {
          b.disabled = false;
          return;
        }
        const r = await post(`/v1/admin/stores/${enc(d.store)}/terminals/${enc(d.terminal)}/token`);
        $('new-credential-for').textContent = `${r.terminal} (store ${r.store})`;
        $('new-credential-token').textContent = r.token;
        $('new-credential').hidden = false;
        flash(`${r.terminal} re-enrolled: paste the new credential into its Sync Manager.`, 'ok');
      } else if (d.action === 'release') {
        const r = await post(`/v1/admin/stores/${enc(d.store)}/quarantine/${enc(d.terminal)}/${enc(d.seq)}/release`);
        const n = r.released.length;
        flash(`Released ${n} event${n === 1 ? '' : 's'} of ${d.terminal} (seq ${r.released.map((e) => e.seq).join(', ')}).`, 'ok');
      }
    } catch (err) {
      flash(`Refused: ${err.message}`, 'bad');
      b.disabled = false;
    }
    await refresh().catch(() => {});
  });

  $('new-credential-done').addEventListener('click', () => {
    $('new-credential-token').textContent = '';
    $('new-credential').hidden = true;
  });

  $('sign-out').addEventListener('click', async () => {
    await fetch('/dashboard/session', { method: 'DELETE', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: '{}' }).catch(() => {});
    signedOut();
  });

  tick();
})();
