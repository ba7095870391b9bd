/**
 * The Sync Manager's alarm (issue 22 item 2): the verdict (alarm.ts), then the
 * same through a real agent's status as a card sale waits in local mode.
 */
import t from 'tap';
import { alarmOf, cardWindowOf, DEFAULT_ALARM_THRESHOLDS, type AlarmInput } from '../../src/terminal/alarm.ts';
import type { AgentStatus } from '../../src/terminal/agent.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';
import { describeStatus } from '../../src/cli/terminal-commands.ts';

const NOW = 1_800_000_000_000;
const MIN = 60_000;
const calm: AlarmInput = { sync: { connection: { state: 'online', since: NOW - 5 * MIN }, quarantined: 0 }, unsynced: { sales: 0, amount: 0 }, oldestCardAgeMs: null };
const codes = (i: AlarmInput) => alarmOf(i, NOW).reasons.map((r) => `${r.code}:${r.level}`);

t.test('the verdict: amber first, then red, each reason with what to do', async (t) => {
  t.same(alarmOf(calm, NOW), { level: 'ok', reasons: [] }, 'online with nothing waiting: no alarm');
  const offline = (ms: number): AlarmInput => ({ ...calm, sync: { ...calm.sync, connection: { state: 'offline', since: NOW - ms, error: 'CLOUD_UNREACHABLE', retryAt: null } } });
  t.same(codes(offline(10 * MIN)), [], 'a short outage is no alarm');
  t.same(codes(offline(31 * MIN)), ['offline:amber']);
  t.same(codes(offline(5 * 60 * MIN)), ['offline:red']);
  t.same(codes({ ...calm, sync: { ...calm.sync, connection: { state: 'local', since: NOW - 10 * 60 * MIN, until: null } } }), [], 'local mode is the store\'s choice: not an alarm by itself');
  t.same(codes({ ...calm, sync: { ...calm.sync, connection: { state: 'stuck', since: NOW - MIN, error: 'LOG_BEHIND_CLOUD', message: 'x' } } }), ['offline:red'], 'a stuck sync is red at once');
  t.same(codes({ ...calm, unsynced: { sales: 3, amount: 49_999 } }), []);
  t.same(codes({ ...calm, unsynced: { sales: 3, amount: 50_000 } }), ['unsynced-amount:amber']);
  t.same(codes({ ...calm, unsynced: { sales: 30, amount: 200_000 } }), ['unsynced-amount:red']);
  const day = DEFAULT_ALARM_THRESHOLDS.cardWindowMs;
  t.same(codes({ ...calm, oldestCardAgeMs: day * 0.49 }), []);
  t.same(codes({ ...calm, oldestCardAgeMs: day * 0.5 }), ['card-window:amber']);
  t.same(codes({ ...calm, oldestCardAgeMs: day * 0.8 }), ['card-window:red']);
  t.match(alarmOf({ ...calm, oldestCardAgeMs: day + MIN }, NOW).reasons[0]?.text, /past the processor's 24 h offline window/);
  t.same(codes({ ...calm, sync: { ...calm.sync, quarantined: 2 } }), ['quarantine:red']);
  t.same(codes({ ...calm, logHealth: 'ok' }), [], 'a healthy log is no alarm');
  t.same(codes({ ...calm, logHealth: 'corrupted' }), ['log-damaged:red'], 'damaged storage (sales refused) is red at once');
  const both = alarmOf({ ...calm, unsynced: { sales: 3, amount: 60_000 }, sync: { ...calm.sync, quarantined: 1 } }, NOW);
  t.equal(both.level, 'red', 'the worst reason sets the level');
  t.ok(both.reasons.every((r) => r.text.length > 0 && r.todo.length > 0), 'every reason says what is wrong and what to do');
});

t.test('through the agent: a card sale waiting in local mode turns amber, then red, and clears once uploaded', async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'], alarms: { amountAmberCents: 100, amountRedCents: 1_000_000, cardWindowMs: 3_000 } });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const status = async () => (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  await until('catalog downloaded', async () => (await api<{ items: unknown[] }>(agent, 'GET', '/api/items?q=cola')).body.items.length === 1);
  t.equal((await status()).alarm.level, 'ok');
  await api(agent, 'POST', '/api/local-mode', { on: true, hours: 1 });
  const card = { token: 'tok_test_0001', brand: 'visa', last4: '4242', authCode: 'A1234' };
  const sale = await api(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-coffee', qty: 1 }], payments: [{ tender: 'card', amount: 500, card }, { tender: 'cash', tendered: 5_000 }] });
  t.equal(sale.status, 201);
  const amber = await until('amber', async () => {
    const a = (await status()).alarm;
    return a.level === 'amber' ? a : undefined;
  });
  t.ok(amber.reasons.some((r) => r.code === 'unsynced-amount'), 'money only on this terminal');
  const red = await until('red once the card payment nears the window', async () => {
    const a = (await status()).alarm;
    return a.level === 'red' ? a : undefined;
  });
  t.ok(red.reasons.some((r) => r.code === 'card-window' && r.level === 'red'), 'the card payment is past 80 % of the offline window');
  t.match(describeStatus(await status()), /^alarm \(red\):\s+The oldest card payment not yet uploaded/m, 'tillsync status names it, before anything else');
  await api(agent, 'POST', '/api/local-mode', { on: false });
  await until('all clear once uploaded', async () => (await status()).alarm.level === 'ok');
});

t.test('the card deadline: counts down from the oldest card payment, escalating as the alarm does', async (t) => {
  const H = 3_600_000;
  t.same(cardWindowOf(24 * H, undefined, null), { windowMs: 24 * H, oldest: null, deadline: null, leftMs: null, level: 'ok' }, 'nothing waiting');
  t.same(cardWindowOf(24 * H, NOW, 6 * H), { windowMs: 24 * H, oldest: NOW, deadline: NOW + 24 * H, leftMs: 18 * H, level: 'ok' });
  t.equal(cardWindowOf(24 * H, NOW, 12 * H).level, 'amber', 'amber from half the window, as the alarm');
  t.equal(cardWindowOf(24 * H, NOW, 0.8 * 24 * H).level, 'red', 'red from 80 %');
  const past = cardWindowOf(24 * H, NOW, 25 * H);
  t.same([past.leftMs, past.level], [-H, 'red'], 'past the deadline: negative time left');
});

t.test("the store's card processor window is a store setting: the cloud pushes it, the terminal counts down to it", async (t) => {
  const env = await smallEnvironment(t.testdir(), { terminals: ['till-1'] });
  t.teardown(() => env.stop());
  const agent = env.agents[0]!;
  const status = async () => (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  t.equal((await status()).cardWindow.windowMs, DEFAULT_ALARM_THRESHOLDS.cardWindowMs, 'a store without the setting: 24 h');

  for (const bad of [0, 721, 1.5, '12']) {
    const res = await fetch(`${env.cloudUrl}/v1/admin/stores/${env.store}/settings`, {
      method: 'PATCH', headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ cardOfflineWindowHours: bad }),
    });
    t.equal(((await res.json()) as { error?: { code?: string } }).error?.code, 'VALIDATION_FAILED', `window ${JSON.stringify(bad)} refused`);
  }
  const store = await env.admin<{ settings: Record<string, unknown> }>('GET', `/v1/admin/stores/${env.store}`);
  t.notOk('cardOfflineWindowHours' in store.settings, 'a refused setting changed nothing');

  await env.admin('PATCH', `/v1/admin/stores/${env.store}/settings`, { cardOfflineWindowHours: 2 });
  await until('the setting reached the terminal', async () => (await status()).cardWindow.windowMs === 2 * 3_600_000);
  await api(agent, 'POST', '/api/local-mode', { on: true, hours: 1 });
  const card = { token: 'tok_test_0002', brand: 'visa', last4: '4242', authCode: 'A1235' };
  const before = Date.now();
  t.equal((await api(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-coffee', qty: 1 }], payments: [{ tender: 'card', amount: 500, card }, { tender: 'cash', tendered: 5_000 }] })).status, 201);
  const w = (await status()).cardWindow;
  t.ok(w.oldest !== null && w.oldest >= before - 1_000, 'the oldest card payment is the one just taken');
  t.equal(w.deadline, w.oldest! + 2 * 3_600_000, 'its deadline: two hours after it');
  t.ok(w.leftMs !== null && w.leftMs > 0 && w.leftMs <= 2 * 3_600_000, 'counting down');
  t.equal(w.level, 'ok', 'far from the deadline: no alarm');
  t.match(describeStatus(await status()), /^card deadline:\s+[\d.]+ h left \(the processor's window: 2\.0 h\)/m, 'tillsync status shows it');
  await api(agent, 'POST', '/api/local-mode', { on: false });
  await until('no card payment waiting once uploaded', async () => (await status()).cardWindow.leftMs === null);
});
