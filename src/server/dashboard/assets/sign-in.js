// Cloud dashboard sign-in: the admin token is posted once (JSON) and answered with an
// HttpOnly session cookie; the token is then cleared from the form. Only this origin's
// own paths are followed after signing in.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const next = () => {
    const n = new URLSearchParams(location.search).get('next') || '/';
    return n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/\\') ? n : '/';
  };
  $('sign-in-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = $('sign-in-msg');
    msg.className = 'muted';
    msg.textContent = 'Signing in…';
    $('sign-in').disabled = true;
    const token = $('token').value.trim();
    $('token').value = '';
    try {
      const res = await fetch('/dashboard/session', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ token }),
      });
      if (res.ok) {
        location.replace(next());
        return;
      }
      const body = await res.json().catch(() => ({}));
      const code = body && body.error && body.error.code;
      msg.className = 'bad';
      msg.textContent = code === 'UNAUTHORIZED' ? 'Not signed in: that is not the admin token (UNAUTHORIZED).'
        : code === 'RATE_LIMITED' ? 'Too many wrong tokens: wait a minute and try again (RATE_LIMITED).'
          : `Not signed in (${code || res.status}).`;
    } catch {
      msg.className = 'bad';
      msg.textContent = 'Not signed in: the cloud did not answer.';
    }
    $('sign-in').disabled = false;
    $('token').focus();
  });
})();
