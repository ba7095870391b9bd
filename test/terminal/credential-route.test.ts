/**
 * POST /api/credential with bad bodies, against a real agent and cloud on
 * loopback: every one is a 4xx with a documented code, agent.json stays byte
 * for byte what it was, and the agent keeps answering. Found by the request
 * fuzzer: a token with a control character, a character outside Latin-1 or a
 * lone surrogate was written into agent.json and then made the sync worker's
 * next request throw (500 INTERNAL_ERROR, credential already replaced); one
 * with spaces or non-ASCII was stored although no bearer header can carry it.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS } from '../../src/errors.ts';
import { api, smallEnvironment } from '../helpers/env.ts';

type Failure = { error?: { code: string } };

const BAD_BODIES: Array<[string, unknown]> = [
  ['newlines', { token: 'abcd\nefgh\nijkl\nmnop' }],
  ['carriage return + header injection', { token: 'abcdefghijklmnop\r\nx-evil: 1' }],
  ['NUL characters', { token: 'x\u0000'.repeat(10) }],
  ['a tab', { token: 'abcdefgh\tijklmnop' }],
  ['right-to-left override', { token: '\u202e'.repeat(20) }],
  ['lone surrogates', { token: '\ud800'.repeat(16) }],
  ['an emoji', { token: 'tsk_abcdefghijklmn\u{1f4a9}' }],
  ['Latin-1 letters', { token: '\u00e9'.repeat(20) }],
  ['spaces', { token: 'a b c d e f g h i j' }],
  ['NBSP', { token: 'tsk_abcdefgh\u00a0ijklmnop' }],
  ['zero-width space', { token: 'tsk_abcdefgh\u200bijklmnop' }],
  ['a card number', { token: '4111111111111111' }],
  ['a card number in text', { token: 'ref-4111-1111-1111-1111-thanks' }],
  ['too long', { token: 'x'.repeat(201) }],
  ['too short', { token: 'x'.repeat(15) }],
  ['empty', { token: '' }],
  ['a number', { token: 1234567890123456 }],
  ['null', { token: null }],
  ['an array', { token: ['tsk_abcdefghijklmnop'] }],
  ['an object', { token: { value: 'tsk_abcdefghijklmnop' } }],
  ['no token', {}],
  ['an extra key', { token: 'tsk_abcdefghijklmnop', extra: 1 }],
  ['a bare array', []],
  ['a bare string', 'tsk_abcdefghijklmnop'],
];

t.test('POST /api/credential: every bad body is a documented 4xx and changes nothing', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const file = join(agent.dataDir, 'agent.json');
  const before = readFileSync(file, 'utf8');

  for (const [what, body] of BAD_BODIES) {
    const r = await api<Failure>(agent, 'POST', '/api/credential', body);
    const code = r.body?.error?.code ?? '(none)';
    t.ok(r.status >= 400 && r.status < 500, `${what}: 4xx (got ${r.status} ${code})`);
    t.ok(Object.hasOwn(ERRORS, code) && code !== 'INTERNAL_ERROR', `${what}: a documented code (${code})`);
    t.equal(readFileSync(file, 'utf8'), before, `${what}: agent.json untouched`);
  }
  const status = await api<{ terminal: string }>(agent, 'GET', '/api/status');
  t.equal(status.status, 200, 'the agent still answers');
  t.equal(status.body.terminal, 'till-1');

  // A well-formed credential is still accepted and written (the route works; this one is not the cloud's).
  const ok = await api(agent, 'POST', '/api/credential', { token: 'tsk_abcdefghijklmnop-_.~+/=' });
  t.equal(ok.status, 200, 'a token68 credential is accepted');
  t.match(readFileSync(file, 'utf8'), /"token": "tsk_abcdefghijklmnop-_\.~\+\/="/, 'and written into agent.json');
});

t.test('POST /api/credential many times at once: every one succeeds and agent.json holds one of them whole', async (t) => {
  // Found by the request fuzzer: two writes at once shared one temp file, so the
  // second rename failed with ENOENT and the request answered 500 INTERNAL_ERROR.
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const tokens = Array.from({ length: 16 }, (_, i) => `tsk_concurrent_${String(i).padStart(4, '0')}_abcdef`);
  const answers = await Promise.all(tokens.map((token) => api<Failure>(agent, 'POST', '/api/credential', { token })));
  t.same(answers.map((r) => r.status), tokens.map(() => 200), 'every concurrent credential change answered 200');
  const written = JSON.parse(readFileSync(join(agent.dataDir, 'agent.json'), 'utf8')) as { token: string };
  // Concurrent requests reach the agent in any order (under load, not the order sent): the one kept on
  // disk must be one of them, whole, and the very one the agent now syncs with.
  t.ok(tokens.includes(written.token), 'agent.json holds one of the tokens, whole');
  t.equal((agent as unknown as { opts: { token: string } }).opts.token, written.token, 'the agent uses the token on disk');
  t.notOk(readdirSync(agent.dataDir).some((f) => f.endsWith('.tmp')), 'no temp file left behind');
});
