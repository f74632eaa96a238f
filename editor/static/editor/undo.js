/**
 * Undo and redo of this person's own edits, in a shared text. No DOM.
 *
 * Each step holds the op that would invert one of this person's edits (or a group of
 * them typed together), in positions of the current text. When anyone else's edit
 * arrives, every step is transformed through it, so undoing later removes or restores
 * only this person's text, wherever others' edits moved it:
 *
 *     for the newest step s and another person's op r, both against the current text:
 *       [s', r'] = transform(s, r)   // s' applies after r; r' after s
 *     then the next step down against r', and so on.
 *
 * A step that others' edits made moot (they deleted everything it would remove) becomes
 * an empty op: undoing it changes nothing. An insert of others' inside text this step
 * would delete survives (see ot.transform), so no step ever deletes others' text.
 *
 * Typing is grouped into steps as in a native editor: one step per word typed (its
 * trailing spaces included), per run of deletions, per line break, per paste, per
 * selection replaced (with the typing that follows), and a new step after a pause of
 * PAUSE_MS or when the caret moved.
 */

import * as ot from "./ot.js";

/** A pause in typing longer than this (ms) starts a new undo step. */
export const PAUSE_MS = 1000;
/** The most steps kept on each stack; the oldest are forgotten. */
export const MAX_STEPS = 500;

const SPACE = /^\s$/u;

/**
 * The op that undoes `op` on the text it produced from `before`.
 * Law: apply(apply(before, op), invert(op, before)) == before.
 */
export function invert(op, before) {
  const inverse = [];
  let cursor = 0; // UTF-16 index into `before`
  for (const item of ot.toTrace(op)) {
    if (typeof item === "string") {
      inverse.push(-ot.length(item));
    } else if (item > 0) {
      inverse.push(item);
      cursor = ot.offset(before, item, cursor);
    } else {
      const end = ot.offset(before, -item, cursor);
      inverse.push(before.slice(cursor, end));
      cursor = end;
    }
  }
  // Built over the text after `op`: retains and deletes count code points of it.
  return ot.fromTrace(inverse.filter((item) => item !== 0 && item !== ""));
}

/** The range [start, end] (code points of the result) an op inserted or deleted at. */
export function changedRange(op) {
  let start = null;
  let end = null;
  let pos = 0;
  for (const item of ot.toTrace(op)) {
    if (typeof item === "string") {
      const size = ot.length(item);
      start = start === null ? pos : Math.min(start, pos);
      end = Math.max(end ?? 0, pos + size);
      pos += size;
    } else if (item > 0) {
      pos += item;
    } else {
      start = start === null ? pos : Math.min(start, pos);
      end = Math.max(end ?? 0, pos);
    }
  }
  return start === null ? null : { start, end };
}

/** What kind of edit an op is, for grouping: a typed run, a deletion, or anything else. */
function shapeOf(op) {
  // A character typed over a selection starts a step that the typing after it joins.
  if (op.length === 2 && "delete" in op[0] && "insert" in op[1] && op[1].pos === op[0].pos) {
    const shape = shapeOf([op[1]]);
    return shape.kind === "insert" ? { ...shape, fresh: true } : { kind: "other" };
  }
  if (op.length !== 1) return { kind: "other" };
  const [comp] = op;
  if ("insert" in comp) {
    const text = comp.insert;
    if (ot.length(text) !== 1 || text === "\n") return { kind: "other" };
    return { kind: "insert", pos: comp.pos, end: comp.pos + 1, space: SPACE.test(text) };
  }
  return { kind: "delete", pos: comp.pos, end: comp.pos + comp.delete };
}

/** Where a selection {start, end} ends up after `op` (a collapsed one stays put at an insert). */
function moveSelection(selection, op) {
  if (selection === null) return null;
  const collapsed = selection.start === selection.end;
  return {
    start: ot.transformIndex(selection.start, op, { own: collapsed }),
    end: ot.transformIndex(selection.end, op, { own: true }),
  };
}

/**
 * Transform each step of `steps` (the newest last) through `op`, newest first. A step's
 * selection lives in the text its op leaves, so it moves through `op` as rebased past
 * the step's op: what `transform` hands down to the next step anyway.
 */
function transformSteps(steps, op) {
  for (let i = steps.length - 1; i >= 0 && op.length; i--) {
    const step = steps[i];
    const [mine, theirs] = ot.transform(step.op, op);
    if (step.caret !== null) step.caret = ot.transformIndex(step.caret, op, { own: true });
    step.op = mine;
    step.selection = moveSelection(step.selection, theirs);
    op = theirs;
  }
}

export class UndoHistory {
  /** @param {{now?: () => number, maxSteps?: number}} [options] */
  constructor({ now = () => Date.now(), maxSteps = MAX_STEPS } = {}) {
    // [{op, selection, kind, caret, space, time, open}], newest last; `selection` is
    // {start, end} in the text the op leaves: where to put the selection after it.
    this.undoStack = [];
    this.redoStack = [];
    this._now = now;
    this._maxSteps = maxSteps;
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /**
   * This person edited: `op` turned `before` into the current text, with `selection`
   * ({start, end} in `before`, or null) selected before. Joins the newest step when it
   * continues the same typing, else becomes a new step; clears redo.
   */
  record(op, before, selection = null) {
    if (!op.length) return;
    const inverse = invert(op, before);
    const shape = shapeOf(op);
    const now = this._now();
    this.redoStack = [];
    const top = this.undoStack[this.undoStack.length - 1];
    if (top && this._continues(top, shape, now)) {
      top.op = ot.compose(inverse, top.op);
      top.caret = shape.kind === "insert" ? shape.end : shape.pos;
      top.space = shape.space ?? false;
      top.time = now;
      return;
    }
    this._push(this.undoStack, {
      op: inverse,
      selection: selection && { start: selection.start, end: selection.end },
      kind: shape.kind,
      caret: shape.kind === "other" ? null : shape.kind === "insert" ? shape.end : shape.pos,
      space: shape.space ?? false,
      time: now,
      open: shape.kind !== "other",
    });
  }

  _continues(top, shape, now) {
    if (shape.fresh || !top.open || top.kind !== shape.kind || now - top.time > PAUSE_MS) return false;
    if (shape.kind === "insert") {
      // A word typed after spaces starts a new step: "one two" undoes "two", then "one ".
      return shape.pos === top.caret && !(top.space && !shape.space);
    }
    // Backspace ends where the last deletion began; Delete starts where it was.
    return shape.end === top.caret || shape.pos === top.caret;
  }

  /** Someone else's op, against the current text, arrived: move every step through it. */
  transform(op) {
    if (!op.length) return;
    transformSteps(this.undoStack, op);
    transformSteps(this.redoStack, op);
  }

  /** End the step being typed: the next edit starts a new one. */
  seal() {
    const top = this.undoStack[this.undoStack.length - 1];
    if (top) top.open = false;
  }

  /**
   * The op undoing this person's newest step, against `text` (the current text), and
   * the range to select after applying it (the selection before the edit, where others'
   * edits moved it; else what the op changed); null when there is nothing to undo. The
   * step moves to the redo stack, with `selection` (the one now, or null) to restore on
   * redo. An op of [] means the step was made moot by others.
   */
  undo(text, selection = null) {
    return this._move(this.undoStack, this.redoStack, text, selection);
  }

  /** The op redoing the newest undone step, like {@link undo}; null when there is none. */
  redo(text, selection = null) {
    return this._move(this.redoStack, this.undoStack, text, selection);
  }

  /** Forget every step (the text was replaced by one no edit can be traced through). */
  clear() {
    this.undoStack = [];
    this.redoStack = [];
  }

  _move(from, to, text, selection) {
    this.seal();
    const step = from.pop();
    if (!step) return null;
    this.seal(); // typing after an undo starts a step of its own
    const op = step.op;
    if (op.length) {
      const back = { op: invert(op, text), kind: "other", caret: null, space: false, time: this._now(), open: false };
      back.selection = selection && { start: selection.start, end: selection.end };
      this._push(to, back);
    }
    return { op, selection: op.length ? step.selection ?? changedRange(op) : null };
  }

  _push(stack, step) {
    stack.push(step);
    if (stack.length > this._maxSteps) stack.splice(0, stack.length - this._maxSteps);
  }
}
