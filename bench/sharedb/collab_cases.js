// Runs collab.js on cases read as JSON from stdin, so that tests/test_node_client.py
// can hold it to the server's own OT (editor.core.ot). Prints one JSON list of results.
//
// {"text", "a", "b", "c"}: a and b concurrent on text (b committed first), c made
// after a; the result has transform, compose and apply's answers.
// {"text", "events"}: a full client holding text at revision 0 meets events in turn,
// {"type": [pos, char]} or {"remote": ops} (the next revision, someone else's), then
// the ack of its first op; the result has what it sent and the text it holds.
'use strict';
const collab = require('./collab');

const length = (s) => Array.from(s).length;
const applied = (text, op) => {
  const chars = Array.from(text);
  collab.apply(chars, op);
  return chars.join('');
};

function pair({ text, a, b, c }) {
  const opA = collab.fromComponents(a, length(text));
  const opB = collab.fromComponents(b, length(text));
  const [aOverB, bOverA] = collab.transform(opA, opB);
  const afterA = applied(text, opA);
  const opC = collab.fromComponents(c, length(afterA));
  return {
    after_a: afterA,
    a_over_b: collab.toComponents(aOverB),
    b_over_a: collab.toComponents(bOverA),
    a_then_c: collab.toComponents(collab.compose(opA, opC)),
  };
}

function session({ text, events }) {
  const client = new collab.CollabClient({ url: null, headers: {}, full: true });
  const sent = [];
  client.send = (message) => sent.push(message);
  client.joined = { resolve() {}, reject() {}, snapshot: '' };
  client.handle({ type: 'snapshot', rev: 0, content: text });
  client.handle({ type: 'ready', rev: 0 });
  let rev = 0;
  for (const event of events) {
    if (event.type) client.type(...event.type).catch(() => {});
    else client.handle({ type: 'op', rev: ++rev, client: 'other', seq: rev, ops: event.remote });
  }
  client.handle({ type: 'ack', seq: 1, rev: rev + 1 });
  return { sent, text: client.chars.join(''), rev: client.rev, failure: client.failure && String(client.failure) };
}

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const results = JSON.parse(input).map((c) => (c.events ? session(c) : pair(c)));
  process.stdout.write(JSON.stringify(results));
});
