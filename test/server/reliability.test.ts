// Atomicity of a batch, lost acknowledgement, dropped connection mid-body, cloud restart mid-upload.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { decode } from '@msgpack/msgpack';
import { delta, redeem, sale, setupStore, startCloud, subdir, terminalLog, upload, uploadBody, MSGPACK } from './harness.ts';
import type { FastifyInstance } from 'fastify';

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

t.test('an injected storage failure in the middle of a batch commits nothing', async (t) => {
  let armed = false;
  const cloud = await startCloud(t, { faults: { beforeOp: (op, i) => { if (armed && i === 4) throw new Error(`injected at ${op.kind}`); } } });
  const { app, storage } = cloud;
  const { tokens } = await setupStore(t, app);
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append([sale(), delta('c1', -300), redeem('GIFT-1', 500), sale(200)]);
  const before = { hw: await storage.getHighWater('s1', 't1'), counters: await storage.getCounters('s1'), c1: await storage.getBalances('s1', ['c1']) };
  armed = true;
  const r = await upload(app, tokens.t1!, evs);
  t.equal(r.status, 503);
  t.equal(r.body.error.code, 'STORAGE_FAILED');
  t.same(await storage.getHighWater('s1', 't1'), before.hw, 'high-water unchanged');
  t.same(await storage.getCounters('s1'), before.counters, 'feed head and counters unchanged');
  t.same(await storage.getBalances('s1', ['c1']), before.c1, 'views unchanged');
  t.same(await storage.readEvents('s1', 't1', 1, 10), [], 'no event');
  t.same(await storage.getEventRefs('s1', evs.map((e) => e.event.id)), evs.map(() => undefined), 'no id');
  armed = false;
  const ok = await upload(app, tokens.t1!, evs);
  t.same(ok.body, { ackSeq: 4, accepted: 4, duplicates: 0, quarantined: 0, conflicts: [] });
  t.equal((await storage.getBalances('s1', ['c1']))[0]?.balance, 9700);
});

t.test('lost acknowledgement: the retry is answered as duplicates, nothing counted twice', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app);
  const port = await listen(app);
  // A TCP proxy that, while `drop` is set, forwards the request but swallows the reply and cuts the client.
  let drop = true;
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk) => {
      if (drop) {
        client.destroy();
        upstream.destroy();
      } else client.write(chunk);
    });
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    proxy.close();
  });
  const proxyPort = (proxy.address() as AddressInfo).port;
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append([sale(), delta('c1', -2500)]);
  const send = () => fetch(`http://127.0.0.1:${proxyPort}/v1/events`, {
    method: 'POST', headers: { authorization: `Bearer ${tokens.t1}`, 'content-type': MSGPACK }, body: uploadBody(evs),
  });
  await t.rejects(send(), 'the reply never arrives');
  t.equal((await storage.getHighWater('s1', 't1')).seq, 2, 'but the cloud committed');
  const feedHead = (await storage.getCounters('s1')).feedHead;
  drop = false;
  const retry = await send();
  t.same(decode(new Uint8Array(await retry.arrayBuffer())), { ackSeq: 2, accepted: 0, duplicates: 2, quarantined: 0, conflicts: [] });
  t.equal((await storage.getBalances('s1', ['c1']))[0]?.balance, 7500, 'the delta counted once');
  t.equal((await storage.getCounters('s1')).feedHead, feedHead, 'no new feed entries');
});

t.test('a connection dropped mid-body stores nothing and the server keeps serving', async (t) => {
  const { app, storage } = await startCloud(t);
  const { tokens } = await setupStore(t, app);
  const port = await listen(app);
  const log = await terminalLog(t, 's1', 't1');
  const evs = await log.append([sale(), sale(300)]);
  const payload = uploadBody(evs);
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.t1}\r\nContent-Type: ${MSGPACK}\r\nContent-Length: ${payload.length}\r\n\r\n`);
      s.write(payload.subarray(0, payload.length >> 1), () => {
        s.destroy();
        resolve();
      });
    });
  });
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  t.equal((await storage.getHighWater('s1', 't1')).seq, 0, 'nothing stored');
  t.equal((await upload(app, tokens.t1!, evs)).body.accepted, 2);
});

t.test('cloud restart mid-upload: reopen the same folder, resend, exactly the union', async (t) => {
  const dir = subdir(t, 'cloud-restart');
  const first = await startCloud(t, { dir });
  const { tokens } = await setupStore(t, first.app);
  const log = await terminalLog(t, 's1', 't1');
  const a = await log.append([sale(), delta('c1', -1000)]);
  const b = await log.append([sale(200), delta('c1', -2000), sale(300)]);
  t.equal((await upload(first.app, tokens.t1!, a)).body.ackSeq, 2);
  const inFlight = upload(first.app, tokens.t1!, b).catch((err: unknown) => ({ status: 0, body: undefined, err }));
  const closing = first.close();
  const [res] = await Promise.all([inFlight, closing]);
  t.comment(`in-flight upload answered ${res.status}`);

  const second = await startCloud(t, { dir });
  const hw = await second.storage.getHighWater('s1', 't1');
  t.ok(hw.seq === 2 || hw.seq === 5, `all of the batch or none of it (hw ${hw.seq})`);
  if (res.status === 200) t.equal(hw.seq, 5, 'an acknowledged batch survived the restart');
  const again = await upload(second.app, tokens.t1!, [...a, ...b]);
  t.equal(again.body.ackSeq, 5);
  t.equal(again.body.accepted + again.body.duplicates, 5, 'every event accounted for once');
  t.equal((await second.storage.getBalances('s1', ['c1']))[0]?.balance, 7000, 'balance = opening + sum of deltas');
  t.same((await second.storage.readEvents('s1', 't1', 1, 10)).map((e) => e.seq), [1, 2, 3, 4, 5]);
});
