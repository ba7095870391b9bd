'use strict';
/**
 * The peer's terminal (bench/sync.ts case e): a local PouchDB (LevelDB
 * adapter) filled, before the clock starts, with the events of a JSON-lines
 * file (argv[3]; one event per line, its id as _id), then on `go`
 * `replicate.to` the server at argv[4] with batch_size 1000 (otherwise
 * PouchDB's defaults). Answers over IPC: {ready: docs}, then {done: {docs, ms}}.
 */
const { createReadStream } = require('node:fs');
const { createInterface } = require('node:readline');
const PouchDB = require('pouchdb-node');

const [dir, jsonl, url] = process.argv.slice(2);
const local = new PouchDB(`${dir}/local`);

async function fill() {
  let docs = [];
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(jsonl) })) {
    if (line === '') continue;
    const e = JSON.parse(line);
    docs.push({ _id: e.id, ...e });
    if (docs.length === 1000) {
      await local.bulkDocs(docs);
      n += docs.length;
      docs = [];
    }
  }
  if (docs.length > 0) await local.bulkDocs(docs);
  return n + docs.length;
}

process.on('message', async (m) => {
  try {
    if (m.go) {
      const t0 = performance.now();
      const r = await local.replicate.to(url, { batch_size: 1000 });
      const ms = performance.now() - t0;
      if (!r.ok) throw new Error(`replication ended with errors: ${JSON.stringify(r.errors).slice(0, 500)}`);
      process.send({ done: { docs: r.docs_written, ms } });
    } else if (m.stop) {
      await local.close();
      process.exit(0);
    }
  } catch (err) {
    process.send({ error: String(err && err.stack || err) });
  }
});
fill().then((docs) => process.send({ ready: docs }), (err) => process.send({ error: String(err && err.stack || err) }));
