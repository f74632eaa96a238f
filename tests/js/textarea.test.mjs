// The editor adapter's text arithmetic: diffs around the caret and UTF-16 <-> code points.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as ot from "../../editor/static/editor/ot.js";
import { diff, sanitize, shown, toCodePoint, toUtf16 } from "../../editor/static/editor/textarea.js";

describe("diff", () => {
  const cases = [
    ["typing a repeated letter lands at the caret", "aa", "aaa", 2, [{ pos: 1, insert: "a" }]],
    ["typing at the start", "bc", "abc", 1, [{ pos: 0, insert: "a" }]],
    ["backspace in a run of one letter", "aaa", "aa", 1, [{ pos: 1, delete: 1 }]],
    ["forward delete at the start", "aa", "a", 0, [{ pos: 0, delete: 1 }]],
    ["an emoji counts one code point", "😀😀", "😀x😀", 3, [{ pos: 1, insert: "x" }]],
    ["deleting an emoji deletes one code point", "a😀b", "ab", 1, [{ pos: 1, delete: 1 }]],
    [
      "replacing an emoji by one sharing its high surrogate keeps the pair whole",
      "😀",
      "😁",
      2,
      [{ pos: 0, delete: 1 }, { pos: 0, insert: "😁" }],
    ],
    [
      "replacing an emoji by one sharing its low surrogate keeps the pair whole",
      "\ud83d\ude00",
      "\ud83e\ude00",
      2,
      [{ pos: 0, delete: 1 }, { pos: 0, insert: "\ud83e\ude00" }],
    ],
    ["a selection replaced by a paste", "hello world", "hello there", 11, [{ pos: 6, delete: 5 }, { pos: 6, insert: "there" }]],
    ["nothing changed", "same", "same", 2, []],
  ];
  for (const [name, before, after, caret, ops] of cases) {
    test(name, () => {
      const change = diff(before, after, caret);
      assert.deepEqual(change.ops, ops);
      assert.equal(ops.length ? ot.apply(before, ops) : before, after);
    });
  }

  test("any diff turns the old text into the new one, whatever the caret", () => {
    const texts = ["", "a", "ab😀", "😀😀", "e\u0301x", "👍🏽 ok", "line\nline\n"];
    for (const before of texts) {
      for (const after of texts) {
        for (let caret = 0; caret <= after.length; caret++) {
          const { ops } = diff(before, after, caret);
          assert.equal(ops.length ? ot.apply(before, ot.parse(ops)) : before, after, JSON.stringify({ before, after, caret }));
        }
      }
    }
  });
});

describe("units", () => {
  test("UTF-16 and code point indexes convert both ways", () => {
    const text = "a😀b👍🏽c";
    assert.equal(toCodePoint(text, 3), 2);
    assert.equal(toUtf16(text, 2), 3);
    for (let cp = 0; cp <= ot.length(text); cp++) assert.equal(toCodePoint(text, toUtf16(text, cp)), cp);
  });

  test("a carriage return is shown as one visible character, keeping positions", () => {
    assert.equal(shown("a\r\nb"), "a\u240d\nb");
    assert.equal(ot.length(shown("a\r\nb")), ot.length("a\r\nb"));
  });

  test("U+0000 and lone surrogates are replaced before they reach an op", () => {
    assert.equal(sanitize("a\u0000b\ud800c😀"), "a\ufffdb\ufffdc😀");
  });
});
