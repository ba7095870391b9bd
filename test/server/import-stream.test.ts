// The admin import counts rows while the body streams in and refuses it at the row limit, before
// the rest is read and without parsing it: a 60 MB, 272k-row body is answered IMPORT_INVALID while
// the client is still sending, and the cloud's memory stays bounded.
import t from 'tap';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { MAX_IMPORT_ROWS } from '../../src/server/import-rows.ts';
import { ADMIN, setupStore, startCloud } from './harness.ts';

const TOTAL_ROWS = 272_000;

function row(i: number): string {
  const id = `it-${String(i).padStart(7, '0')}`;
  return JSON.stringify({ id, sku: `SKU-${i}`, name: `Item ${i} ${'with a long descriptive name '.repeat(4)}`, barcodes: [], price: 100 + (i % 900), taxRate: 0 });
}

t.test('a JSON import over the row limit is refused while it streams in, with bounded memory', async (t) => {
  const { app } = await startCloud(t);
  await setupStore(t, app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= TOTAL_ROWS) return void this.push(null);
      const rows: string[] = [];
      for (let k = 0; k < 1000 && sent < TOTAL_ROWS; k++, sent++) rows.push(row(sent));
      this.push(`${sent === rows.length ? '[' : ','}${rows.join(',')}${sent >= TOTAL_ROWS ? ']' : ''}`);
    },
  });
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  t.teardown(() => clearInterval(sampler));
  const answer = await new Promise<{ status: number; text: string; sentAtAnswer: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to the import within 120 s')), 120_000);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/admin/stores/s1/items', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } }, (res) => {
      const sentAtAnswer = sent;
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, text, sentAtAnswer }); });
    });
    req.on('error', () => {}); // the server may close while we still send
    body.pipe(req);
  });
  body.destroy();
  clearInterval(sampler);
  t.equal(answer.status, 400);
  t.equal(JSON.parse(answer.text).error.code, 'IMPORT_INVALID');
  t.ok(answer.sentAtAnswer < TOTAL_ROWS, `answered before the whole body was sent (${answer.sentAtAnswer} of ${TOTAL_ROWS} rows; limit ${MAX_IMPORT_ROWS})`);
  const growthMb = (peak - baseline) / 1024 / 1024;
  t.comment(`RSS growth while importing: ${growthMb.toFixed(0)} MB`);
  t.ok(growthMb < 250, `RSS grew ${growthMb.toFixed(0)} MB (a full parse of the body costs ~500 MB)`);
  const items = await app.inject({ method: 'GET', url: '/v1/admin/stores/s1', headers: { authorization: `Bearer ${ADMIN}` } });
  t.equal(items.statusCode, 200, 'the cloud still answers');
});
