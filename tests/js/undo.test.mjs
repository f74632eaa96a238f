// Undo of one's own edits in a shared text: inversion, grouping, and transformation
// through everyone else's edits.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import * as ot from "../../editor/static/editor/ot.js";
import { PAUSE_MS, UndoHistory, changedRange, invert } from "../../editor/static/editor/undo.js";

const VECTORS = JSON.parse(readFileSync(new URL("../vectors/ot.json", import.meta.url), "utf8"));

/** One person's view of a shared text: their own edits recorded, others' transformed through. */
class Person {
  constructor(text) {
    this.text = text;
    this.clock = 0;
    this.history = new UndoHistory({ now: () => this.clock });
  }
  mine(op, selection = null) {
    const before = this.text;
    this.text = ot.apply(this.text, op);
    this.history.record(op, before, selection);
  }
  type(pos, chars, { gap = 50 } = {}) {
    for (const ch of chars) {
      this.clock += gap;
      this.mine([{ pos: pos++, insert: ch }]);
    }
  }
  theirs(op) {
    this.text = ot.apply(this.text, op);
    this.history.transform(op);
  }
  undo(selection = null) {
    const step = this.history.undo(this.text, selection);
    if (step) this.text = ot.apply(this.text, step.op);
    return step;
  }
  redo(selection = null) {
    const step = this.history.redo(this.text, selection);
    if (step) this.text = ot.apply(this.text, step.op);
    return step;
  }
}

describe("invert", () => {
  for (const c of VECTORS) {
    test(`undoes a and b of the shared vector: ${c.name}`, () => {
      for (const op of [c.a, c.b, c.composed]) {
        const after = ot.apply(c.text, op);
        assert.equal(ot.apply(after, invert(op, c.text)), c.text);
      }
    });
  }

  test("restores deleted emoji by code point", () => {
    const before = "a😀b👍🏽c";
    const op = [{ pos: 1, delete: 3 }, { pos: 2, insert: "X" }];
    assert.equal(ot.apply(ot.apply(before, op), invert(op, before)), before);
  });
});

describe("grouping", () => {
  test("typing makes one step per word, its trailing space included", () => {
    const p = new Person("");
    p.type(0, "hello world");
    assert.equal(p.history.undoStack.length, 2);
    p.undo();
    assert.equal(p.text, "hello ");
    p.undo();
    assert.equal(p.text, "");
    assert.equal(p.undo(), null);
  });

  test("a pause, a line break, a moved caret or a paste starts a new step", () => {
    const p = new Person("");
    p.type(0, "ab");
    p.type(2, "c", { gap: PAUSE_MS + 1 }); // after a pause
    p.type(3, "d"); // joins "c"
    p.type(4, "\n");
    p.type(5, "ef");
    p.type(0, "Z"); // the caret moved to the start
    p.mine([{ pos: 8, insert: "pasted" }]);
    assert.equal(p.text, "Zabcd\nefpasted");
    const seen = [];
    while (p.undo()) seen.push(p.text);
    assert.deepEqual(seen, ["Zabcd\nef", "abcd\nef", "abcd\n", "abcd", "ab", ""]);
  });

  test("typing over a selection is one step with what is typed after it", () => {
    const p = new Person("say hello world");
    p.type(0, "x");
    p.clock += 10;
    p.mine([{ pos: 5, delete: 5 }, { pos: 5, insert: "t" }], { start: 5, end: 10 });
    p.type(6, "here");
    assert.equal(p.text, "xsay there world");
    assert.deepEqual(p.undo().selection, { start: 5, end: 10 });
    assert.equal(p.text, "xsay hello world");
    p.undo();
    assert.equal(p.text, "say hello world");
  });

  test("a run of backspaces and a run of deletes are one step each", () => {
    const p = new Person("0123456789");
    for (const pos of [9, 8, 7]) p.mine([{ pos, delete: 1 }]);
    for (let i = 0; i < 2; i++) p.mine([{ pos: 1, delete: 1 }]);
    assert.equal(p.text, "03456");
    assert.equal(p.history.undoStack.length, 2);
    assert.deepEqual(p.undo().selection, { start: 1, end: 3 });
    assert.equal(p.text, "0123456");
    assert.deepEqual(p.undo().selection, { start: 7, end: 10 });
    assert.equal(p.text, "0123456789");
  });
});

describe("with other people's edits", () => {
  test("undo removes only one's own text, around what others typed inside it", () => {
    const p = new Person("XY");
    p.type(1, "abc");
    p.theirs([{ pos: 3, insert: "123" }]); // inside "abc"
    p.theirs([{ pos: 0, insert: ">" }]);
    assert.equal(p.text, ">Xab123cY");
    p.undo();
    assert.equal(p.text, ">X123Y");
    p.redo();
    assert.equal(p.text, ">Xab123cY");
  });

  test("an undone deletion comes back where others' edits moved it", () => {
    const p = new Person("one two three");
    p.mine([{ pos: 4, delete: 4 }]); // "two "
    p.theirs([{ pos: 0, insert: "zero " }]);
    p.theirs([{ pos: 14, insert: "!" }]);
    assert.equal(p.text, "zero one three!");
    const step = p.undo();
    assert.equal(p.text, "zero one two three!");
    assert.deepEqual(step.selection, { start: 9, end: 13 });
  });

  test("an own edit others deleted entirely undoes to nothing, without an error", () => {
    const p = new Person("keep ");
    p.type(5, "mine");
    p.theirs([{ pos: 3, delete: 6 }]); // "p mine"
    assert.equal(p.text, "kee");
    const step = p.undo();
    assert.deepEqual(step.op, []);
    assert.equal(step.selection, null);
    assert.equal(p.text, "kee");
    assert.equal(p.history.canRedo, false);
  });

  test("redo is cleared by a new own edit, not by others' edits", () => {
    const p = new Person("");
    p.type(0, "ab");
    p.undo();
    p.theirs([{ pos: 0, insert: "Q" }]);
    assert.ok(p.history.canRedo);
    p.redo(); // back where it was: before what others typed at that spot since
    assert.equal(p.text, "abQ");
    p.undo();
    p.type(1, "z");
    assert.equal(p.history.canRedo, false);
  });

  test("undoing every step, interleaved at random with others' edits, never removes their text", () => {
    let seed = 7;
    const random = (n) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const p = new Person("0123456789");
      const count = (re) => (p.text.match(re) || []).length;
      for (let i = 0; i < 12; i++) {
        const size = ot.length(p.text);
        const pos = random(size + 1);
        p.clock += random(2) ? 10 : PAUSE_MS + 1;
        if (random(3) === 0 && pos < size) {
          const op = [{ pos, delete: 1 + random(Math.min(3, size - pos)) }];
          if (random(2)) p.mine(op);
          else p.theirs(op);
        } else if (random(2)) {
          p.mine([{ pos, insert: "abc".slice(0, 1 + random(3)) }]);
        } else {
          p.theirs([{ pos, insert: "XYZ".slice(0, 1 + random(3)) }]);
        }
      }
      for (let steps = 0; p.history.canUndo; steps++) {
        const theirs = count(/[XYZ]/g);
        p.undo();
        assert.ok(count(/[XYZ]/g) >= theirs, `round ${round}: an undo removed others' text`);
        if (random(2)) p.theirs([{ pos: random(ot.length(p.text) + 1), insert: "X" }]);
      }
      assert.equal(count(/[abc]/g), 0, `round ${round}: own text left after undoing everything: ${p.text}`);
    }
  });
});

test("the selection before an edit comes back with its undo, moved by others' edits; redo puts back the one undone from", () => {
  const p = new Person("hello world");
  p.mine([{ pos: 6, delete: 5 }, { pos: 6, insert: "X" }], { start: 6, end: 11 }); // "world" selected, X typed
  p.theirs([{ pos: 0, insert: ">>" }]);
  assert.equal(p.text, ">>hello X");
  const undone = p.undo({ start: 9, end: 9 });
  assert.equal(p.text, ">>hello world");
  assert.deepEqual(undone.selection, { start: 8, end: 13 });
  p.theirs([{ pos: 2, delete: 2 }]); // "he"
  const redone = p.redo({ start: 6, end: 11 });
  assert.equal(p.text, ">>llo X");
  assert.deepEqual(redone.selection, { start: 7, end: 7 });
  const again = p.undo(null);
  assert.deepEqual(again.selection, { start: 6, end: 11 });
  assert.equal(p.text, ">>llo world");
});

test("changedRange covers what an op inserted and where it deleted", () => {
  assert.deepEqual(changedRange([{ pos: 2, insert: "ab" }]), { start: 2, end: 4 });
  assert.deepEqual(changedRange([{ pos: 5, delete: 3 }]), { start: 5, end: 5 });
  assert.equal(changedRange([]), null);
});
