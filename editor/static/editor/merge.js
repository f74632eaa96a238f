/**
 * Keeping a person's unacknowledged edits when the server's text turns out to be other
 * than the one they were made on (a snapshot after a refused op or a lost history).
 *
 * `textDiff(old, new)` finds what changed as an op in the wire format of ot.js; the
 * finer it is, the better the edits merged over it keep their place, so it narrows down
 * in steps, as editor/core/diff.py does: the common prefix and suffix of the whole text, then
 * the lines that differ (Myers' O(ND) diff, given up for one replacement past a bound
 * of work), then the common prefix and suffix of each changed run of lines. It works
 * in UTF-16 units, never cuts a surrogate pair, and returns positions in code points.
 * `rebase` moves edits onto the new text with ot.transform. No DOM, no I/O.
 */

import * as ot from "./ot.js";

// Myers' diff gives up (the changed lines become one replacement) past this many steps
// of its inner loops, or this many differing lines: its time is O((N + M) D) and the
// path it keeps to trace back is O(D²).
const MAX_DIFF_STEPS = 4_000_000;
const MAX_DIFF_LINES = 1_000;

function isHigh(unit) {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLow(unit) {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * Narrow `old[a0:a1]` and `new[b0:b1]` (UTF-16 indices) by their common prefix and
 * suffix, never between the two halves of a surrogate pair: [a0, a1, b0, b1].
 */
function trimmed(old, text, a0, a1, b0, b1) {
  const limit = Math.min(a1 - a0, b1 - b0);
  let prefix = 0;
  while (prefix < limit && old.charCodeAt(a0 + prefix) === text.charCodeAt(b0 + prefix)) prefix++;
  if (prefix > 0 && isHigh(old.charCodeAt(a0 + prefix - 1))) prefix--;
  let suffix = 0;
  while (suffix < limit - prefix && old.charCodeAt(a1 - suffix - 1) === text.charCodeAt(b1 - suffix - 1)) suffix++;
  if (suffix > 0 && isLow(old.charCodeAt(a1 - suffix))) suffix--;
  return [a0 + prefix, a1 - suffix, b0 + prefix, b1 - suffix];
}

/** `text[start:end]` cut after each "\n", with the UTF-16 index each line starts at (and `end`). */
function lines(text, start, end) {
  const parts = [];
  const at = [start];
  let from = start;
  while (from < end) {
    const cut = text.indexOf("\n", from);
    const stop = cut === -1 || cut >= end ? end : cut + 1;
    parts.push(text.slice(from, stop));
    at.push(stop);
    from = stop;
  }
  return { parts, at };
}

/**
 * The ranges [i1, i2, j1, j2] where the sequences of numbers `a` and `b` differ, in
 * order, by Myers' greedy O(ND) algorithm; null past MAX_DIFF_STEPS or MAX_DIFF_LINES.
 */
function differing(a, b) {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_DIFF_LINES);
  const v = new Int32Array(2 * max + 3); // v[k + max + 1]: the furthest x on diagonal k
  const trace = []; // trace[d]: v over diagonals -d..d before round d
  let steps = 0;
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice(max + 1 - d, max + 2 + d));
    for (let k = -d; k <= d; k += 2) {
      const at = k + max + 1;
      let x = k === -d || (k !== d && v[at - 1] < v[at + 1]) ? v[at + 1] : v[at - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
        steps++;
      }
      v[at] = x;
      steps++;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    if (steps > MAX_DIFF_STEPS) return null;
  }
  if (found < 0) return null;
  // Walk back from (n, m): each round took one line out or in, then slid down a snake.
  const ranges = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const before = trace[d]; // before[k + d]
    const k = x - y;
    const down = k === -d || (k !== d && before[k - 1 + d] < before[k + 1 + d]);
    const prevK = down ? k + 1 : k - 1;
    const prevX = before[prevK + d];
    const prevY = prevX - prevK;
    const startX = down ? prevX : prevX + 1; // where the snake began
    const startY = down ? prevY + 1 : prevY;
    x = startX;
    y = startY;
    const last = ranges[ranges.length - 1];
    if (last && last[0] === x) {
      // Adjacent to the change found just after it: one range.
      last[0] = prevX;
      last[2] = prevY;
    } else {
      ranges.push([prevX, x, prevY, y]);
    }
    x = prevX;
    y = prevY;
  }
  return ranges.reverse();
}

/**
 * An op that turns `old` into `text`, positions in code points.
 * Law: ot.apply(old, textDiff(old, text)) === text; [] when the two are equal. A single
 * contiguous change is at most one delete and one insert of the code points that
 * differ; changes on different lines stay apart, so edits merged over them keep their
 * place.
 */
export function textDiff(old, text) {
  if (old === text) return [];
  const [a0, a1, b0, b1] = trimmed(old, text, 0, old.length, 0, text.length);
  let hunks = [[a0, a1, b0, b1]];
  if (a0 < a1 && b0 < b1) {
    // Whole lines, so that the lines cut by the common prefix and suffix compare equal
    // when they are; the text outside [a0, a1) and [b0, b1) is the same on both sides.
    const back = a0 === 0 ? 0 : a0 - (old.lastIndexOf("\n", a0 - 1) + 1);
    const next = old.indexOf("\n", a1);
    const forward = next === -1 ? old.length - a1 : next + 1 - a1;
    const left = lines(old, a0 - back, a1 + forward);
    const right = lines(text, b0 - back, b1 + forward);
    const ids = new Map();
    const id = (line) => {
      let n = ids.get(line);
      if (n === undefined) ids.set(line, (n = ids.size));
      return n;
    };
    const ranges = differing(left.parts.map(id), right.parts.map(id));
    if (ranges !== null) {
      hunks = ranges.map(([i1, i2, j1, j2]) => trimmed(old, text, left.at[i1], left.at[i2], right.at[j1], right.at[j2]));
    }
  }
  return toOp(old, text, hunks);
}

/** The op of `hunks` (UTF-16 ranges of `old` replaced by ranges of `text`, in order). */
function toOp(old, text, hunks) {
  // Everything between hunks is unchanged, so each hunk starts where it starts in the
  // new text: count code points up to it, going on from the hunk before.
  const op = [];
  let unit = 0;
  let pos = 0;
  for (const [a0, a1, b0, b1] of hunks) {
    if (a0 === a1 && b0 === b1) continue;
    pos += ot.length(text.slice(unit, b0));
    unit = b0;
    if (a1 > a0) op.push({ pos, delete: ot.length(old.slice(a0, a1)) });
    if (b1 > b0) op.push({ pos, insert: text.slice(b0, b1) });
  }
  return op;
}

/**
 * Move `mine`, edits made on `base`, onto `text`, what `base` became meanwhile:
 * [theirs, mine'] where theirs applies after mine and mine' after the change to `text`.
 * Law: ot.apply(ot.apply(base, mine), theirs) === ot.apply(text, mine'). The server's
 * change is the first argument of transform, so its inserts win ties, as on the server.
 */
export function rebase(base, mine, text) {
  return ot.transform(textDiff(base, text), mine);
}
