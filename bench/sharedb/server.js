// ShareDB 7 with its in-memory database (MemoryDB) and in-process pub/sub, serving
// plain text (ot-text-unicode: positions count code points, as ours do) over
// WebSocket on loopback. The peer the benchmarks measure the project against.
//
//   node server.js --port 8123 [--documents 1] [--initial-chars 1000]
//
// Prints "listening <port>" once every document exists and the socket is open.
'use strict';
const http = require('http');
const WebSocket = require('ws');
const ShareDB = require('sharedb');
const WebSocketJSONStream = require('@teamwork/websocket-json-stream');
const textUnicode = require('ot-text-unicode').type;
const { option } = require('./args');

ShareDB.types.register(textUnicode);

const port = Number(option('port', 0));
const documents = Number(option('documents', 1));
const initialChars = Number(option('initial-chars', 1000));

const backend = new ShareDB(); // MemoryDB and MemoryPubSub by default

// Every document starts with the same filler text, like the project's populated ones.
function createDocuments(done) {
  const connection = backend.connect();
  let left = documents;
  for (let i = 0; i < documents; i++) {
    connection.get('bench', `doc-${i}`).create('x'.repeat(initialChars), textUnicode.uri, (err) => {
      if (err) throw err;
      if (--left === 0) done();
    });
  }
}

createDocuments(() => {
  const server = http.createServer();
  const wss = new WebSocket.Server({ server });
  wss.on('connection', (ws) => backend.listen(new WebSocketJSONStream(ws)));
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening ${server.address().port}`);
  });
  const stop = () => process.exit(0); // open sockets would keep close() waiting
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
