// Runs collab.js's transform, compose and apply on cases read as JSON from stdin, so
// that tests/test_node_client.py can hold them to the server's own OT
// (editor.core.ot). Each case: {"text", "a", "b", "c"}: a and b concurrent on text
// (b committed first), c made after a. Prints one JSON list of results.
'use strict';
const collab = require('./collab');

const length = (s) => Array.from(s).length;
const applied = (text, op) => {
  const chars = Array.from(text);
  collab.apply(chars, op);
  return chars.join('');
};

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const results = JSON.parse(input).map(({ text, a, b, c }) => {
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
  });
  process.stdout.write(JSON.stringify(results));
});
