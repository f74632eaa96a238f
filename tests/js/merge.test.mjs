// The text diff that merges a person's edits into a snapshot, and its laws on random texts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { rebase, textDiff } from "../../editor/static/editor/merge.js";
import * as ot from "../../editor/static/editor/ot.js";

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Few distinct pieces, so that texts share lines and code units (surrogate halves
// included: 😀 and 😁 share their high one, 😀 and 🙀 their low one).
const PIECES = ["a", "b", "\n", "\n", "😀", "😁", "🙀", "👍🏽", "é", " "];

function randomText(rnd, size) {
  let text = "";
  for (let i = 0; i < size; i++) text += PIECES[Math.floor(rnd() * PIECES.length)];
  return text;
}

/** `text` with a few random code point runs deleted, inserted or replaced. */
function edited(rnd, text) {
  let points = Array.from(text);
  const edits = 1 + Math.floor(rnd() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (points.length + 1));
    const cut = Math.min(Math.floor(rnd() * 4), points.length - at);
    const put = Array.from(randomText(rnd, Math.floor(rnd() * 4)));
    points = [...points.slice(0, at), ...put, ...points.slice(at + cut)];
  }
  return points.join("");
}

describe("textDiff", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    test(`turns the old text into the new one, in code points, on random texts with emoji and newlines (seed ${seed})`, () => {
      const rnd = random(seed);
      for (let round = 0; round < 150; round++) {
        const old = randomText(rnd, Math.floor(rnd() * 40));
        const text = rnd() < 0.2 ? randomText(rnd, Math.floor(rnd() * 40)) : edited(rnd, old);
        const op = textDiff(old, text);
        // parse refuses an insert holding half of a surrogate pair
        if (op.length) assert.deepEqual(ot.parse(op), op);
        assert.equal(ot.apply(old, op), text, JSON.stringify({ old, text, op }));
        if (old === text) assert.deepEqual(op, []);
      }
    });
  }

  test("on texts of many lines, most of them shared, it is exact and touches only changed lines", () => {
    const rnd = random(21);
    const vocabulary = ["", "a", "b 😀", "👍🏽 c", "dd", "e é"];
    for (let round = 0; round < 40; round++) {
      const old = Array.from({ length: 200 }, () => vocabulary[Math.floor(rnd() * vocabulary.length)]);
      const lines = [...old];
      for (let e = 0; e < 10; e++) {
        const at = Math.floor(rnd() * (lines.length + 1));
        lines.splice(at, Math.floor(rnd() * 3), ...(rnd() < 0.5 ? [`new ${e}`] : []));
      }
      const [a, b] = [old.join("\n"), lines.join("\n")];
      const op = textDiff(a, b);
      assert.equal(ot.apply(a, op), b);
      const inserted = op.filter((c) => "insert" in c).reduce((n, c) => n + ot.length(c.insert), 0);
      assert.ok(inserted <= ot.length(b) / 4, "not one replacement of the whole");
    }
  });

  test("one contiguous change is one delete and one insert of exactly what differs", () => {
    assert.deepEqual(textDiff("hello world", "hello brave world"), [{ pos: 6, insert: "brave " }]);
    assert.deepEqual(textDiff("a😀b", "a😁b"), [
      { pos: 1, delete: 1 },
      { pos: 1, insert: "😁" },
    ]);
    assert.deepEqual(textDiff("x😀", "x🙀"), [
      { pos: 1, delete: 1 },
      { pos: 1, insert: "🙀" },
    ]);
    assert.deepEqual(textDiff("", ""), []);
    assert.deepEqual(textDiff("abc", ""), [{ pos: 0, delete: 3 }]);
  });

  test("changes on different lines stay apart, each trimmed to what differs", () => {
    const old = "one\ntwo\nthree\nfour\n";
    const text = "zero\none\ntwo\nthree!\nfour\nfive\n";
    assert.deepEqual(textDiff(old, text), [
      { pos: 0, insert: "zero\n" },
      { pos: 18, insert: "!" },
      { pos: 25, insert: "five\n" },
    ]);
  });

  test("texts too different for the line diff's bound become one replacement, still exact", () => {
    const rnd = random(9);
    const lines = (n) => Array.from({ length: n }, () => `${Math.floor(rnd() * 1e9)}\n`).join("");
    const old = `same\n${lines(1500)}end`;
    const text = `same\n${lines(1500)}end`;
    const op = textDiff(old, text);
    assert.equal(ot.apply(old, op), text);
    assert.equal(op.length, 2, "one delete and one insert");
    assert.equal(op[0].pos, 5, "after the common prefix");
  });
});

describe("rebase", () => {
  test("a person's edit keeps its place among changes on other lines", () => {
    const base = "title\n\nfirst line\nsecond line\n";
    const theirs = "Title\n\nfirst line\nsecond line\nthird line\n";
    const mine = [{ pos: 17, insert: " (mine)" }]; // at the end of "first line"
    const [over, rebased] = rebase(base, mine, theirs);
    const expected = "Title\n\nfirst line (mine)\nsecond line\nthird line\n";
    assert.equal(ot.apply(theirs, rebased), expected);
    assert.equal(ot.apply(ot.apply(base, mine), over), expected);
  });

  for (const seed of [11, 12, 13, 14]) {
    test(`the two ways round give one text that holds every insert of mine (seed ${seed})`, () => {
      const rnd = random(seed);
      for (let round = 0; round < 100; round++) {
        const base = randomText(rnd, Math.floor(rnd() * 30));
        const text = edited(rnd, base);
        const at = Math.floor(rnd() * (ot.length(base) + 1));
        const mine = [{ pos: at, insert: "«mine»" }];
        const [theirs, rebased] = rebase(base, mine, text);
        const merged = ot.apply(text, rebased);
        assert.equal(ot.apply(ot.apply(base, mine), theirs), merged);
        assert.ok(merged.includes("«mine»"), JSON.stringify({ base, text, merged }));
      }
    });
  }
});
