'use strict';
/**
 * The peer's server (bench/sync.ts case e): express-pouchdb over PouchDB's
 * LevelDB adapter, default settings, on 127.0.0.1:0, its databases under
 * argv[2]. Tells the parent its port over IPC; stops when told to.
 */
const express = require('express');
const PouchDB = require('pouchdb-node');
const expressPouchdb = require('express-pouchdb');

const dir = process.argv[2];
const ServerPouch = PouchDB.defaults({ prefix: `${dir}/` });
const app = express();
app.use('/', expressPouchdb(ServerPouch, { mode: 'minimumForPouchDB', logPath: `${dir}/log.txt`, configPath: `${dir}/config.json` }));
const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (m) => {
  if (m && m.stop) server.close(() => process.exit(0));
});
