/**
 * The error registry and the README agree: every code is documented in the
 * README's "Errors" table with its HTTP status, and nothing documented is missing
 * from the registry.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ERRORS, TillsyncError, isTillsyncError } from '../src/errors.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.split(/^## /m).find((s) => s.startsWith('Errors'));

t.test('README has an Errors section', async (t) => {
  t.ok(section, 'a "## Errors" section exists');
});

t.test('every code is documented with its status, and only those', async (t) => {
  const documented = new Map<string, number>();
  for (const m of (section ?? '').matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/gm)) documented.set(m[1]!, Number(m[2]));
  const codes = Object.keys(ERRORS);
  t.same([...documented.keys()].filter((c) => !(c in ERRORS)), [], 'nothing documented that does not exist');
  t.same(codes.filter((c) => !documented.has(c)), [], 'nothing undocumented');
  for (const c of codes) {
    if (documented.has(c)) t.equal(documented.get(c), ERRORS[c as keyof typeof ERRORS].status, `${c} status`);
  }
});

t.test('codes are UPPER_SNAKE with a 4xx/5xx status and a hint', async (t) => {
  for (const [code, def] of Object.entries(ERRORS)) {
    t.match(code, /^[A-Z][A-Z0-9_]+$/);
    t.ok(def.status >= 400 && def.status < 600, `${code} status`);
    t.ok(def.hint.length > 10, `${code} hint`);
  }
});

t.test('TillsyncError carries code, status, cause and a JSON body', async (t) => {
  const cause = new Error('disk');
  const err = new TillsyncError('DISK_FULL', 'disk full', { cause, details: { free: 0 } });
  t.equal(err.code, 'DISK_FULL');
  t.equal(err.status, 507);
  t.equal(err.cause, cause);
  t.same(err.toJSON(), { error: { code: 'DISK_FULL', message: 'disk full', details: { free: 0 } } });
  t.ok(isTillsyncError(err, 'DISK_FULL'));
  t.notOk(isTillsyncError(new Error('x')));
});
