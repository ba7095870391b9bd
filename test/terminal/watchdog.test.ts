/**
 * F8 restore and the watchdog, through the real agent over HTTP with a real
 * cloud on loopback and the fault-injecting TCP proxy between them.
 *
 * A stalled connection: the proxy keeps accepting connections and bytes but
 * forwards them into a black hole (a TCP server that reads and never answers,
 * never closes), so the terminal's requests neither fail nor finish. The
 * agent's request timeout is set far beyond the test, so only the watchdog
 * (or POST /api/restore) can end a hung pass.
 *
 * - With a short `stallMs`, the watchdog sees no progress while sales are
 *   pending and restarts by itself (`watchdogRestarts` rises, no manual
 *   restart); once the proxy forwards again, the pending sales upload.
 * - With a `stallMs` far beyond the test, POST /api/restore recovers at once:
 *   `restarts` rises and the pending sales drain; the watchdog never fired.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { join } from 'node:path';
import type { Environment } from '../../src/cli/demo-env.ts';
import { TerminalAgent, type AgentStatus } from '../../src/terminal/agent.ts';
import { FaultProxy } from '../replication/helpers/fault-proxy.ts';
import { api, smallEnvironment, until } from '../helpers/env.ts';
import { within, WAIT_MS } from '../helpers/wait.ts';

const STORE = 'store-1';
const FAR = 600_000; // beyond any test: neither the request timeout nor a long watchdog can act

/** A TCP server that accepts and reads everything and never answers nor closes. */
class BlackHole {
  private readonly sockets = new Set<net.Socket>();
  /** Request lines received ("POST /v1/events", "GET /v1/sync-state"...). */
  readonly requests: string[] = [];
  port = 0;

  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<BlackHole> {
    const hole: BlackHole = new BlackHole(net.createServer((s) => {
      hole.sockets.add(s);
      s.on('close', () => hole.sockets.delete(s));
      s.on('error', () => s.destroy());
      s.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString('latin1').matchAll(/(?:^|\r\n)((?:GET|POST) \S+) HTTP\/1\.1/g)) hole.requests.push(m[1]!);
      });
    }));
    await new Promise<void>((resolve) => hole.server.listen(0, '127.0.0.1', resolve));
    hole.port = (hole.server.address() as net.AddressInfo).port;
    return hole;
  }

  saw(prefix: string): boolean {
    return this.requests.some((r) => r.startsWith(prefix));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await within(new Promise<void>((resolve) => this.server.close(() => resolve())), WAIT_MS, 'the black hole to close');
  }
}

interface Rig {
  env: Environment;
  agent: TerminalAgent;
  proxy: FaultProxy;
  hole: BlackHole;
  cloudPort: number;
  status(): Promise<AgentStatus>;
  cloudAck(): Promise<number>;
  sell(): Promise<void>;
  /** The proxy stops forwarding: open connections are cut, every new one goes into the black hole. */
  stall(): void;
  /** The proxy forwards to the cloud again (connections already in the black hole stay there). */
  unstall(): void;
}

/** A cloud, and one agent whose cloudUrl is the proxy (enrolled through the admin API). */
async function rig(t: Test, stallMs: number): Promise<Rig> {
  const dir = t.testdir();
  const env = await smallEnvironment(join(dir, 'env'), { terminals: [] });
  t.teardown(() => env.stop());
  const cloudPort = Number(new URL(env.cloudUrl).port);
  const proxy = await FaultProxy.start(cloudPort);
  t.teardown(() => proxy.close());
  const hole = await BlackHole.start();
  t.teardown(() => hole.close());
  const { token } = await env.admin<{ token: string }>('POST', `/v1/admin/stores/${STORE}/terminals`, { id: 'till-p' });
  const agent = await TerminalAgent.start({
    store: STORE, terminal: 'till-p', token, cloudUrl: proxy.url, dataDir: join(dir, 'till-p'),
    cloudTimeoutMs: FAR,
    worker: { uploadPollMs: 200, download: { intervalMs: 500 }, stallMs, backoff: { initialMs: 50, maxMs: 1_000 } },
  });
  // Registered last, so it runs first: the agent goes before the proxy and the cloud.
  t.teardown(() => agent.stop());
  const status = async (): Promise<AgentStatus> => (await api<AgentStatus>(agent, 'GET', '/api/status')).body;
  return {
    env, agent, proxy, hole, cloudPort, status,
    cloudAck: async () => {
      const r = await env.admin<{ terminals: Array<{ id: string; ackSeq: number }> }>('GET', `/v1/admin/stores/${STORE}/terminals`);
      return r.terminals.find((x) => x.id === 'till-p')!.ackSeq;
    },
    sell: async () => {
      const r = await api<{ sale: string }>(agent, 'POST', '/api/sales', { lines: [{ item: 'itm-cola', qty: 1 }], payments: [{ tender: 'cash', tendered: 200 }] });
      t.equal(r.status, 201, 'sale taken while the connection is stalled');
    },
    stall: () => {
      proxy.setTarget(hole.port);
      proxy.dropAll();
    },
    unstall: () => proxy.setTarget(cloudPort),
  };
}

/** Through the proxy while it forwards: catalog down, one sale up. */
async function warmUp(t: Test, r: Rig): Promise<void> {
  await until('catalog downloaded through the proxy', () => r.agent.terminal.searchItems('cola').length === 1);
  await r.sell();
  await until('first sale uploaded through the proxy', async () => (await r.status()).sync.pending === 0);
  t.equal(await r.cloudAck(), 2);
  t.equal(r.hole.requests.length, 0, 'nothing went to the black hole yet');
}

t.test('the watchdog restarts a stalled connection by itself; uploads complete once it forwards again', async (t) => {
  const r = await rig(t, 2_000);
  await warmUp(t, r);
  const start = await r.status();
  // On a slow machine the warm-up itself can outlast the 2 s stall limit once (a restart
  // then, not a failure): what counts is the rise from here.
  const before = start.sync.watchdogRestarts;
  t.equal(start.sync.restarts, 0);

  r.stall();
  await r.sell();
  await r.sell();
  t.equal((await r.status()).sync.pending, 4, 'two sales pending');
  await until('an upload pass is stuck in the stalled connection', () => r.hole.saw('POST /v1/events') || r.hole.saw('GET /v1/sync-state'));

  // No progress while work is pending: the watchdog fires, more than once while the stall lasts.
  const fired = await until('the watchdog restarted the stalled passes', async () => {
    const s = await r.status();
    return s.sync.watchdogRestarts >= before + 2 ? s : undefined;
  }, 30_000);
  t.equal(fired.sync.restarts, 0, 'no manual restore was involved');
  t.equal(fired.sync.pending, 4, 'nothing got through the stall');
  t.equal(await r.cloudAck(), 2, 'the cloud has not seen the pending sales');
  const holeConnectionsBefore = r.hole.requests.length;
  await until('the restarted passes run into the stall again', () => r.hole.requests.length > holeConnectionsBefore);

  // The proxy forwards again. A pass hung in the black hole can only be ended by the watchdog
  // (its request timeout is ten minutes away); the restarted pass reaches the cloud.
  // No call to the agent in between.
  r.unstall();
  const done = await until('pending sales uploaded after the stall ends', async () => {
    const s = await r.status();
    return s.sync.pending === 0 ? s : undefined;
  }, 30_000);
  t.equal(done.sync.uploaded, 6);
  t.equal(done.sync.restarts, 0, 'still no manual restore');
  t.equal(await r.cloudAck(), 6, 'the cloud holds every sale');
  await until('online again', async () => (await r.status()).sync.connection.state === 'online');
});

t.test('POST /api/restore recovers a stalled connection at once, without waiting for the watchdog', async (t) => {
  const r = await rig(t, FAR);
  await warmUp(t, r);

  r.stall();
  await r.sell();
  await until('the upload pass is stuck in the stalled connection', async () => {
    const s = await r.status();
    return (r.hole.saw('POST /v1/events') || r.hole.saw('GET /v1/sync-state')) && s.sync.activity !== null;
  });
  // The proxy forwards again, but the pass already in the black hole stays hung:
  // its request timeout and the watchdog are both ten minutes away.
  r.unstall();
  const before = await r.status();
  t.equal(before.sync.pending, 2, 'the sale is still pending');
  t.equal(before.sync.restarts, 0);
  t.equal(before.sync.watchdogRestarts, 0);

  const restored = await api<unknown>(r.agent, 'POST', '/api/restore');
  t.equal(restored.status, 200);
  t.equal((await r.status()).sync.restarts, 1, 'restore restarted both directions');
  const done = await until('pending sale uploaded after restore', async () => {
    const s = await r.status();
    return s.sync.pending === 0 ? s : undefined;
  }, 30_000);
  t.equal(done.sync.uploaded, 4);
  t.equal(done.sync.restarts, 1);
  t.equal(done.sync.watchdogRestarts, 0, 'the watchdog never fired: restore did it');
  t.equal(done.lastOperation?.name, 'restore');
  t.equal(done.lastOperation?.ok, true);
  t.equal(await r.cloudAck(), 4, 'the cloud holds the sale');
});
