// Shared by the Sync Manager and the checkout page: the agent's JSON API, the
// live status stream, money in integer cents, and plain-words errors.
// Plain ES module, no build step; it only ever talks to the local agent.

/** An error the agent answered with: `{ error: { code, message } }`. */
export class ApiError extends Error {
  constructor(code, message, status, details) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** Calls the agent; resolves with the JSON body, rejects with an ApiError. */
export async function api(method, path, body) {
  let res;
  try {
    // Every write is JSON (the agent refuses anything else from a browser).
    const write = method !== 'GET';
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: write ? { 'content-type': 'application/json' } : {},
      body: write ? JSON.stringify(body ?? {}) : undefined,
    });
  } catch (err) {
    throw new ApiError('AGENT_UNREACHABLE', 'the terminal agent did not answer', 0);
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError('CLOUD_BAD_RESPONSE', `unreadable answer (${res.status})`, res.status);
  }
  if (!res.ok) {
    const e = json && json.error ? json.error : {};
    if (e.code === 'AUTH_REQUIRED' && location.pathname !== '/sign-in') toSignIn();
    throw new ApiError(e.code || 'INTERNAL_ERROR', e.message || `request failed (${res.status})`, res.status, e.details);
  }
  return json;
}

// ------------------------------------------------------------------ who is signed in

/** The session ended (sign-out, idle, agent restart): sign in again, then come back here. */
export function toSignIn() {
  location.assign(`/sign-in?next=${encodeURIComponent(location.pathname)}`);
}

let sessionPromise;
/** Who is signed in, with the agent's limits: `{ actor, refundLimit, checkoutWarnings }` (fetched once). */
export function currentSession() {
  if (!sessionPromise) sessionPromise = api('GET', '/api/session');
  return sessionPromise;
}

/** Fills the top bar's #who with the signed-in staff member and a sign-out button. */
async function showWho() {
  const who = document.getElementById('who');
  if (!who) return;
  let session;
  try {
    session = await currentSession();
  } catch {
    return;
  }
  const a = session.actor;
  const name = document.createElement('span');
  name.id = 'who-name';
  // "Morgan (manager)" already says the role; "Casey" gets it added.
  name.textContent = a.name.toLowerCase().includes(`(${a.role})`) ? a.name : `${a.name} (${a.role})`;
  const out = document.createElement('button');
  out.type = 'button';
  out.id = 'sign-out';
  out.className = 'link';
  out.textContent = 'Sign out';
  out.addEventListener('click', async () => {
    await api('DELETE', '/api/session', {}).catch(() => {});
    toSignIn();
  });
  who.replaceChildren(name, out);
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => { void showWho(); });
  else void showWho();
}

// ------------------------------------------------------------------ errors in plain words

let hintsPromise;
/** code → what to do, from GET /api/errors (fetched once). */
export function errorHints() {
  if (!hintsPromise) hintsPromise = api('GET', '/api/errors').catch(() => ({}));
  return hintsPromise;
}

/** { code, hint, message } for any failure, with the hint the agent documents for the code. */
export async function explain(err) {
  const code = err && err.code ? err.code : 'INTERNAL_ERROR';
  const hints = await errorHints();
  const message = err && err.message ? err.message : String(err);
  // A page's own check says what to do in the store's words (`hint`); the agent's refusals use its hints.
  return { code, hint: (err && err.hint) || hints[code] || message, message };
}

/** Writes a refusal into `el`: the code, what to do, and the agent's own words in small print. */
export async function showError(el, err, prefix = 'Refused') {
  const { code, hint, message } = await explain(err);
  el.replaceChildren();
  el.className = 'result is-error';
  const head = document.createElement('strong');
  head.textContent = `${prefix}: ${hint}`;
  const detail = document.createElement('span');
  detail.className = 'detail';
  detail.textContent = ` (${code}${message && message !== hint ? ` — ${message}` : ''})`;
  el.append(head, detail);
}

export function showOk(el, text) {
  el.className = 'result is-ok';
  el.textContent = text;
}

export function showBusy(el, text) {
  el.className = 'result is-busy';
  el.textContent = text;
}

// ------------------------------------------------------------------ money (integer cents, no float math)

/** 1250 → "$12.50"; -5 → "-$0.05". */
export function formatCents(cents) {
  if (!Number.isSafeInteger(cents)) return '—';
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const dollars = String(Math.trunc(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}$${dollars}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * "12.50" → 1250, "12.5" → 1250, "$1,234" → 123400, "0.05" → 5. Parsed as
 * text (whole part and cents separately), never through a float. Returns null
 * for anything else (more than 2 decimals, letters, negative, empty).
 */
export function parseCents(text) {
  const m = /^\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d{1,9})?(?:\.(\d{1,2}))?\s*$/.exec(String(text));
  if (!m || (m[1] === undefined && m[2] === undefined)) return null;
  const whole = m[1] === undefined ? 0 : Number(m[1].replace(/,/g, ''));
  const frac = m[2] === undefined ? 0 : Number(m[2].padEnd(2, '0'));
  return whole * 100 + frac;
}

/** Cents as an editable amount: 1250 → "12.50". */
export function centsToInput(cents) {
  return `${Math.trunc(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

// ------------------------------------------------------------------ other formatting

export function formatTime(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const sameDay = d.toDateString() === new Date().toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return sameDay ? time : `${d.toLocaleDateString()} ${time}`;
}

export function formatAge(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days ${h % 24} h`;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return 'not measured yet';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** The connection state in a few words, and a tone for its colour. */
export function describeConnection(sync) {
  const c = sync.connection;
  switch (c.state) {
    case 'online':
      return { tone: 'ok', label: 'Online', detail: `since ${formatTime(c.since)}` };
    case 'offline':
      return {
        tone: 'warn',
        label: 'Offline',
        detail: `cloud unreachable${c.error ? ` (${c.error})` : ''}${c.retryAt ? `, next try ${formatTime(c.retryAt)}` : ''}; selling continues from local storage`,
      };
    case 'local':
      return {
        tone: 'local',
        label: c.until ? `Local mode until ${formatTime(c.until)}` : 'Local mode',
        detail: c.until ? 'no network calls; ends by itself and syncs at once' : 'no network calls until turned off',
      };
    case 'stuck':
      return { tone: 'bad', label: 'Stuck', detail: `${c.error}: ${c.message}` };
    case 'revoked':
      return { tone: 'bad', label: 'Credential revoked', detail: 'selling continues offline; re-enroll this terminal to sync again' };
    default:
      return { tone: 'warn', label: String(c.state), detail: '' };
  }
}

// ------------------------------------------------------------------ live status

/**
 * Subscribes to the agent's WebSocket status stream and reconnects by itself
 * (0.5 s, doubling to 5 s). `onStatus(status)` gets every pushed AgentStatus;
 * `onLink(connected)` tells whether the page is live.
 */
export function watchStatus({ onStatus, onLink }) {
  let delay = 500;
  let ws;
  let stopped = false;
  const connect = () => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${scheme}://${location.host}/api/status/stream`);
    ws.addEventListener('open', () => {
      delay = 500;
      onLink(true);
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && msg.type === 'status' && msg.status) onStatus(msg.status);
    });
    ws.addEventListener('close', () => {
      onLink(false);
      if (stopped) return;
      setTimeout(connect, delay);
      delay = Math.min(5000, delay * 2);
    });
    ws.addEventListener('error', () => ws.close());
  };
  connect();
  return () => {
    stopped = true;
    ws.close();
  };
}

/** Shows a modal <dialog> and resolves true when the person confirms. */
export function confirmDialog(dialog, { title, body, confirmLabel = 'Confirm', danger = false }) {
  dialog.querySelector('[data-title]').textContent = title;
  const bodyEl = dialog.querySelector('[data-body]');
  bodyEl.replaceChildren(...(Array.isArray(body) ? body : [body]).map((p) => {
    const el = document.createElement('p');
    el.textContent = p;
    return el;
  }));
  const ok = dialog.querySelector('[data-confirm]');
  ok.textContent = confirmLabel;
  ok.classList.toggle('danger', danger);
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
    dialog.querySelector('[data-cancel]').focus();
  });
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
