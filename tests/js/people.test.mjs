// Colours of the people in a document, and what is announced when they come and go.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PALETTE, arrivals, assignColors } from "../../editor/static/editor/people.js";

test("no two people present share a colour, however many there are", () => {
  for (const count of [2, 5, 12, 13, 40]) {
    const ids = Array.from({ length: count }, (_, i) => i * 7 + 1);
    const colors = assignColors(ids);
    assert.equal(colors.size, count);
    assert.equal(new Set(colors.values()).size, count);
  }
});

test("every tab computes the same colours, whatever order it learnt of the people in", () => {
  const a = assignColors([3, 17, 42, 5]);
  const b = assignColors([42, 5, 3, 17, 5]);
  assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
});

test("two people preferring one colour: the lower id keeps it", () => {
  const alone = assignColors([1]);
  const clashing = [...Array(200).keys()].map((n) => n + 2).find((id) => assignColors([id]).get(String(id)) === alone.get("1"));
  assert.ok(clashing, "some id prefers the same colour as id 1");
  const both = assignColors([clashing, 1]);
  assert.equal(both.get("1"), alone.get("1"));
  assert.notEqual(both.get(String(clashing)), alone.get("1"));
  assert.ok(PALETTE.includes(both.get(String(clashing))));
});

test("joins and leaves are put into words", () => {
  assert.deepEqual(arrivals(["ada"], ["ada", "grace"]), ["grace joined"]);
  assert.deepEqual(arrivals(["ada", "grace"], ["grace"]), ["ada left"]);
  assert.deepEqual(arrivals([], []), []);
});
