// The JavaScript OT core against the vectors shared with editor/core/ot.py, and its laws.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import * as ot from "../../editor/static/editor/ot.js";

const VECTORS = JSON.parse(readFileSync(new URL("../vectors/ot.json", import.meta.url), "utf8"));
const FIELDS = ["a", "a_prime", "a_then_b_prime", "b", "b_prime", "composed", "name", "result", "text"];

describe("shared vectors", () => {
  test("the vector file holds many uniquely named cases with the documented fields", () => {
    assert.ok(VECTORS.length >= 150);
    assert.equal(new Set(VECTORS.map((c) => c.name)).size, VECTORS.length);
    for (const c of VECTORS) assert.deepEqual(Object.keys(c).sort(), FIELDS);
  });

  for (const c of VECTORS) {
    test(`reproduces every field of: ${c.name}`, () => {
      assert.deepEqual(ot.parse(c.a), c.a);
      assert.deepEqual(ot.parse(c.b), c.b);
      const [aPrime, bPrime] = ot.transform(c.a, c.b);
      assert.deepEqual(aPrime, c.a_prime);
      assert.deepEqual(bPrime, c.b_prime);
      assert.deepEqual(ot.compose(c.a, bPrime), c.composed);
      assert.equal(ot.apply(ot.apply(c.text, c.a), bPrime), c.a_then_b_prime);
      assert.equal(ot.apply(ot.apply(c.text, c.b), aPrime), c.result);
      assert.equal(ot.apply(c.text, c.composed), c.result);
    });
  }
});

describe("code points", () => {
  test("an emoji has length one and a skin tone modifier is its own code point", () => {
    assert.equal(ot.length("😀"), 1);
    assert.equal(ot.length("👍🏽"), 2);
    assert.equal(ot.length("e\u0301中"), 3);
    assert.equal(ot.apply("a😀b", [{ pos: 2, insert: "x" }]), "a😀xb");
    assert.equal(ot.apply("😀😀", [{ pos: 1, delete: 1 }]), "😀");
  });

  test("a position past an emoji counted in UTF-16 units is refused", () => {
    assert.throws(() => ot.apply("😀", [{ pos: 2, insert: "x" }]), /insert past end/);
  });

  test("offset walks whole code points and stops at the end", () => {
    assert.equal(ot.offset("😀a😀", 2), 3);
    assert.equal(ot.offset("😀a😀", 1, 2), 3);
    assert.equal(ot.offset("ab", 5), 2);
  });
});

describe("transformIndex", () => {
  const table = [
    [3, [{ pos: 1, insert: "xy" }], false, 5],
    [3, [{ pos: 5, insert: "xy" }], false, 3],
    [3, [{ pos: 3, insert: "xy" }], false, 5],
    [3, [{ pos: 3, insert: "xy" }], true, 3],
    [3, [{ pos: 3, insert: "😀" }], false, 4],
    [5, [{ pos: 1, delete: 2 }], false, 3],
    [3, [{ pos: 1, delete: 4 }], false, 1],
    [3, [{ pos: 3, delete: 2 }], false, 3],
    [3, [{ pos: 0, delete: 1 }, { pos: 0, insert: "abc" }], false, 5],
    [0, [{ pos: 0, delete: 1 }], false, 0],
  ];
  for (const [index, op, own, expected] of table) {
    test(`moves ${index} through ${JSON.stringify(op)} (own ${own}) to ${expected}`, () => {
      assert.equal(ot.transformIndex(index, op, { own }), expected);
    });
  }
});

describe("refusals", () => {
  const malformed = [
    [{ pos: 0, insert: "x" }, null, "non-empty list"],
    ["[]", null, "non-empty list"],
    [null, null, "non-empty list"],
    [[], null, "non-empty list"],
    [[1], null, "not an object"],
    [[["pos", 0]], null, "not an object"],
    [[{ pos: -1, insert: "x" }], null, "pos"],
    [[{ pos: true, insert: "x" }], null, "pos"],
    [[{ pos: 1.5, insert: "x" }], null, "pos"],
    [[{ pos: "1", insert: "x" }], null, "pos"],
    [[{ insert: "x" }], null, "pos"],
    [[{ pos: 0 }], null, "{pos, insert}"],
    [[{ pos: 0, insert: "x", x: 1 }], null, "{pos, insert}"],
    [[{ pos: 0, insert: "x", delete: 1 }], null, "{pos, insert}"],
    [[{ pos: 0, insert: "" }], null, "non-empty string"],
    [[{ pos: 0, insert: 5 }], null, "non-empty string"],
    [[{ pos: 0, delete: 0 }], null, "delete"],
    [[{ pos: 0, delete: true }], null, "delete"],
    [[{ pos: 0, insert: "a\u0000b" }], null, "U+0000"],
    [[{ pos: 0, insert: "a\ud800" }], null, "lone surrogate"],
    [[{ pos: 0, insert: "\udfff" }], null, "lone surrogate"],
    [[{ pos: 0, insert: "x" }, { pos: 0, insert: "x" }, { pos: 0, insert: "x" }], 2, "at most 2"],
    [[{ pos: 0, insert: "x" }, { pos: 0, delete: 0 }], null, "component 1"],
  ];
  for (const [raw, maxComponents, message] of malformed) {
    test(`parse refuses ${JSON.stringify(raw)} naming ${message}`, () => {
      assert.throws(
        () => ot.parse(raw, { maxComponents }),
        (err) => err instanceof ot.OperationError && err.message.includes(message),
      );
    });
  }

  test("checkRange names the positions of an op that does not fit", () => {
    assert.throws(() => ot.checkRange([{ pos: 2, delete: 2 }], 3), /delete past end of text \(pos 2, delete 2, len 3\)/);
    assert.throws(
      () => ot.checkRange([{ pos: 0, delete: 1 }, { pos: 3, insert: "x" }], 3),
      /component 1: insert past end of text \(pos 3, len 2\)/,
    );
  });

  test("checkText accepts emoji and combining marks", () => {
    ot.checkText("😀👍🏽e\u0301中文\n");
  });
});

// --- laws on random input (a seeded generator, so a failure is reproducible) -----

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

const ALPHABET = ["a", "b", " ", "\n", "😀", "👍🏽", "e\u0301", "中"];

function randomText(rnd, maxChunks) {
  let text = "";
  const chunks = Math.floor(rnd() * (maxChunks + 1));
  for (let i = 0; i < chunks; i++) text += ALPHABET[Math.floor(rnd() * ALPHABET.length)];
  return text;
}

function randomOp(rnd, size) {
  const op = [];
  const count = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < count; i++) {
    if (size > 0 && rnd() < 0.45) {
      const pos = Math.floor(rnd() * size);
      const n = 1 + Math.floor(rnd() * Math.min(4, size - pos));
      op.push({ pos, delete: n });
      size -= n;
    } else {
      const text = randomText(rnd, 3) || "x";
      op.push({ pos: Math.floor(rnd() * (size + 1)), insert: text });
      size += ot.length(text);
    }
  }
  return op;
}

describe("laws", () => {
  test("transformed ops converge on 500 random pairs", () => {
    const rnd = random(1);
    for (let i = 0; i < 500; i++) {
      const text = randomText(rnd, 10);
      const a = randomOp(rnd, ot.length(text));
      const b = randomOp(rnd, ot.length(text));
      const [a2, b2] = ot.transform(a, b);
      assert.equal(ot.apply(ot.apply(text, a), b2), ot.apply(ot.apply(text, b), a2), JSON.stringify({ text, a, b }));
    }
  });

  test("compose agrees with applying in turn on 500 random pairs", () => {
    const rnd = random(2);
    for (let i = 0; i < 500; i++) {
      const text = randomText(rnd, 10);
      const a = randomOp(rnd, ot.length(text));
      const middle = ot.apply(text, a);
      const b = randomOp(rnd, ot.length(middle));
      assert.equal(ot.apply(text, ot.compose(a, b)), ot.apply(middle, b), JSON.stringify({ text, a, b }));
    }
  });

  test("transformIndex keeps a caret on the code point it points at", () => {
    const rnd = random(3);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rnd, 10) + "|";
      const op = randomOp(rnd, ot.length(text) - 1);
      const caret = ot.length(text) - 1; // the marker is the last code point; no op deletes it
      const after = ot.apply(text, op);
      assert.equal([...after][ot.transformIndex(caret, op)], "|", JSON.stringify({ text, op }));
    }
  });
});
