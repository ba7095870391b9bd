// Staff sign-in: staff ID + PIN → a session cookie (HttpOnly, set by the agent),
// then back to the page that sent us here. Only same-site paths are followed.
import { api, showError, showBusy } from './common.js';

const $ = (id) => document.getElementById(id);

function nextPage() {
  const next = new URLSearchParams(location.search).get('next') || '/';
  return next === '/' || next === '/checkout' ? next : '/';
}

$('sign-in-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const msg = $('sign-in-msg');
  showBusy(msg, 'Signing in…');
  $('sign-in').disabled = true;
  try {
    await api('POST', '/api/session', { staff: $('staff').value.trim(), pin: $('pin').value });
    location.replace(nextPage());
  } catch (err) {
    $('pin').value = '';
    await showError(msg, err, 'Not signed in');
    $('sign-in').disabled = false;
    $('pin').focus();
  }
});
