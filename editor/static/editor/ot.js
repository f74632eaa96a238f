/**
 * Operational transformation for plain text, counted in Unicode code points.
 *
 * A port of editor/core/ot.py with the same semantics and the same canonical output; the
 * shared vectors in tests/vectors/ot.json keep the two identical. An op is what travels
 * on the wire: a list of components applied one after another, each position relative
 * to the text left by the components before it:
 *
 *     [{pos: 4, insert: "abc"}, {pos: 0, delete: 2}]
 *
 * Internally an op becomes a trace that walks the base text once: a positive number
 * retains that many code points, a negative one deletes that many, a string inserts
 * itself. Whatever is left after the trace is retained.
 *
 * JavaScript strings count UTF-16 units, so every length and slice here goes through
 * the code point helpers below ("😀".length is 2; length("😀") is 1). No DOM, no I/O.
 */

/** An op is malformed or does not fit the text it is applied to. */
export class OperationError extends Error {
  constructor(message) {
    super(message);
    this.name = "OperationError";
  }
}

// --- code points ------------------------------------------------------------------

function isHigh(unit) {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLow(unit) {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** The number of code points in `text` (a lone surrogate counts as one). */
export function length(text) {
  let count = text.length;
  for (let i = 0; i + 1 < text.length; i++) {
    if (isHigh(text.charCodeAt(i)) && isLow(text.charCodeAt(i + 1))) {
      count--;
      i++;
    }
  }
  return count;
}

/** The UTF-16 index `count` code points after UTF-16 index `from` (clamped to the end). */
export function offset(text, count, from = 0) {
  let i = from;
  while (count > 0 && i < text.length) {
    i += isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1)) ? 2 : 1;
    count--;
  }
  return i;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Refuse text holding U+0000 or a lone surrogate (it cannot round-trip as UTF-8). */
export function checkText(text, what = "text") {
  if (text.includes("\u0000")) throw new OperationError(`${what} contains U+0000`);
  if (LONE_SURROGATE.test(text)) throw new OperationError(`${what} contains a lone surrogate`);
}

// --- validation -------------------------------------------------------------------

function isInt(value) {
  return typeof value === "number" && Number.isInteger(value);
}

/**
 * Check the shape of a wire op and return it as a fresh list of components.
 * Law: parse(parse(x)) deep-equals parse(x) for every accepted x.
 */
export function parse(raw, { maxComponents = null } = {}) {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new OperationError("ops must be a non-empty list of components");
  }
  if (maxComponents !== null && raw.length > maxComponents) {
    throw new OperationError(`an op holds at most ${maxComponents} components, got ${raw.length}`);
  }
  return raw.map((comp, index) => {
    const where = `component ${index}`;
    if (comp === null || typeof comp !== "object" || Array.isArray(comp)) {
      throw new OperationError(`${where} is not an object`);
    }
    const pos = comp.pos;
    if (!isInt(pos) || pos < 0) throw new OperationError(`${where}: pos must be an integer >= 0`);
    const keys = Object.keys(comp).sort().join(",");
    if (keys === "insert,pos") {
      const text = comp.insert;
      if (typeof text !== "string" || text === "") {
        throw new OperationError(`${where}: insert must be a non-empty string`);
      }
      checkText(text, `${where}: insert`);
      return { pos, insert: text };
    }
    if (keys === "delete,pos") {
      const count = comp.delete;
      if (!isInt(count) || count < 1) throw new OperationError(`${where}: delete must be an integer >= 1`);
      return { pos, delete: count };
    }
    throw new OperationError(`${where} must be {pos, insert} or {pos, delete}`);
  });
}

/** Check every position of `op` against a text of `size` code points; return the size after. */
export function checkRange(op, size) {
  op.forEach((comp, index) => {
    const pos = comp.pos;
    if ("insert" in comp) {
      if (pos > size) {
        throw new OperationError(`component ${index}: insert past end of text (pos ${pos}, len ${size})`);
      }
      size += length(comp.insert);
    } else {
      const count = comp.delete;
      if (pos + count > size) {
        throw new OperationError(
          `component ${index}: delete past end of text (pos ${pos}, delete ${count}, len ${size})`,
        );
      }
      size -= count;
    }
  });
  return size;
}

/** How many code points `op` adds to the text (negative when it removes). */
export function lengthDelta(op) {
  return op.reduce((sum, c) => sum + ("insert" in c ? length(c.insert) : -c.delete), 0);
}

// --- traces -------------------------------------------------------------------------

/** Append `item`, merging it into the last item when both are of one kind. */
function push(trace, item) {
  if (item === 0 || item === "") return;
  if (trace.length > 0) {
    const last = trace[trace.length - 1];
    if (typeof item === "string") {
      if (typeof last === "string") {
        trace[trace.length - 1] = last + item;
        return;
      }
      // Keep inserts before deletes at one spot: one canonical form per edit.
      if (last < 0) {
        if (trace.length > 1 && typeof trace[trace.length - 2] === "string") {
          trace[trace.length - 2] += item;
        } else {
          trace.splice(trace.length - 1, 0, item);
        }
        return;
      }
    } else if (typeof last === "number" && (last > 0) === (item > 0)) {
      trace[trace.length - 1] = last + item;
      return;
    }
  }
  trace.push(item);
}

/** Drop a trailing retain: the rest of the text is retained implicitly. */
function trim(trace) {
  if (trace.length > 0 && typeof trace[trace.length - 1] === "number" && trace[trace.length - 1] > 0) {
    trace.pop();
  }
  return trace;
}

/** Turn sequential components into one trace over the base text. */
export function toTrace(op) {
  let trace = [];
  for (const comp of op) {
    const step = [];
    push(step, comp.pos);
    push(step, "insert" in comp ? comp.insert : -comp.delete);
    trace = composeTraces(trace, step);
  }
  return trace;
}

/** Turn a trace back into wire components (empty when the trace changes nothing). */
export function fromTrace(trace) {
  const op = [];
  let pos = 0;
  for (const item of trace) {
    if (typeof item === "string") {
      op.push({ pos, insert: item });
      pos += length(item);
    } else if (item > 0) {
      pos += item;
    } else {
      op.push({ pos, delete: -item });
    }
  }
  return op;
}

/** Walks a trace item by item; `item` is undefined once the trace has ended. */
class Cursor {
  constructor(trace) {
    this.trace = trace;
    this.index = 0;
    this.item = trace[0];
  }

  next() {
    this.index++;
    this.item = this.trace[this.index];
  }
}

/** The trace with the effect of `a` then `b`. */
function composeTraces(a, b) {
  const out = [];
  const ca = new Cursor(a);
  const cb = new Cursor(b);
  while (ca.item !== undefined || cb.item !== undefined) {
    const x = ca.item;
    const y = cb.item;
    if (typeof y === "string") {
      // b inserts: it comes first, whatever a does here
      push(out, y);
      cb.next();
      continue;
    }
    if (typeof x === "number" && x < 0) {
      // a deletes base text b never sees
      push(out, x);
      ca.next();
      continue;
    }
    if (x === undefined) {
      // a retains the rest: b's retain or delete passes through
      push(out, y);
      cb.next();
      continue;
    }
    if (y === undefined) {
      // b retains the rest: a's retain or insert passes through
      push(out, x);
      ca.next();
      continue;
    }
    const sizeX = typeof x === "string" ? length(x) : x;
    const n = Math.min(sizeX, Math.abs(y));
    if (typeof x === "string") {
      const cut = offset(x, n);
      if (y > 0) push(out, x.slice(0, cut));
      // else: b deletes what a inserted: neither survives
      ca.item = x.slice(cut) || undefined;
    } else {
      push(out, y > 0 ? n : -n);
      ca.item = x - n || undefined;
    }
    cb.item = (y > 0 ? y - n : y + n) || undefined;
    if (ca.item === undefined) ca.next();
    if (cb.item === undefined) cb.next();
  }
  return trim(out);
}

/**
 * [a', b'] with b' applying after a and a' after b.
 * Law: apply(apply(S, a), b') == apply(apply(S, b), a'). At one position a's insert
 * comes first.
 */
function transformTraces(a, b) {
  const a2 = [];
  const b2 = [];
  const ca = new Cursor(a);
  const cb = new Cursor(b);
  while (ca.item !== undefined || cb.item !== undefined) {
    const x = ca.item;
    const y = cb.item;
    if (typeof x === "string") {
      push(a2, x);
      push(b2, length(x));
      ca.next();
      continue;
    }
    if (typeof y === "string") {
      push(a2, length(y));
      push(b2, y);
      cb.next();
      continue;
    }
    if (x === undefined) {
      // a retains the rest: b's retain or delete passes through
      push(b2, y);
      if (y > 0) push(a2, y);
      cb.next();
      continue;
    }
    if (y === undefined) {
      // b retains the rest: a's retain or delete passes through
      push(a2, x);
      if (x > 0) push(b2, x);
      ca.next();
      continue;
    }
    const n = Math.min(Math.abs(x), Math.abs(y));
    if (x > 0 && y > 0) {
      push(a2, n);
      push(b2, n);
    } else if (x < 0 && y > 0) {
      push(a2, -n);
    } else if (x > 0 && y < 0) {
      push(b2, -n);
    }
    // both delete the same code points: they are gone once, neither side repeats it
    ca.item = (x > 0 ? x - n : x + n) || undefined;
    cb.item = (y > 0 ? y - n : y + n) || undefined;
    if (ca.item === undefined) ca.next();
    if (cb.item === undefined) cb.next();
  }
  return [trim(a2), trim(b2)];
}

// --- the public algebra -----------------------------------------------------------

/**
 * Apply `op` to `text`; throws OperationError if it does not fit.
 * Law: apply(text, op) equals applying each component in turn.
 */
export function apply(text, op) {
  checkRange(op, length(text));
  const pieces = [];
  let cursor = 0; // a UTF-16 index into text
  for (const item of toTrace(op)) {
    if (typeof item === "string") {
      pieces.push(item);
    } else if (item > 0) {
      const end = offset(text, item, cursor);
      pieces.push(text.slice(cursor, end));
      cursor = end;
    } else {
      cursor = offset(text, -item, cursor);
    }
  }
  pieces.push(text.slice(cursor));
  return pieces.join("");
}

/**
 * One op with the effect of `a` then `b`.
 * Law: apply(S, compose(a, b)) == apply(apply(S, a), b).
 */
export function compose(a, b) {
  return fromTrace(composeTraces(toTrace(a), toTrace(b)));
}

/**
 * Transform two concurrent ops made against the same text: returns [a', b'], a rebased
 * onto b and b rebased onto a. Law: apply(apply(S, a), b') == apply(apply(S, b), a').
 * Tie rule: a's inserts come before b's at one position, so the op already committed
 * on the server is always passed as `a`. An insert inside a range the other deletes
 * survives at the deletion point; code points both delete are deleted once. A result
 * may be empty: the op no longer changes anything.
 */
export function transform(a, b) {
  const [a2, b2] = transformTraces(toTrace(a), toTrace(b));
  return [fromTrace(a2), fromTrace(b2)];
}

/**
 * Where position `index` of the text ends up after `op` (for carets). An insert exactly
 * at `index` pushes it right unless `own` is true.
 */
export function transformIndex(index, op, { own = false } = {}) {
  for (const comp of op) {
    const pos = comp.pos;
    if ("insert" in comp) {
      if (pos < index || (pos === index && !own)) index += length(comp.insert);
    } else if (pos < index) {
      index -= Math.min(comp.delete, index - pos);
    }
  }
  return index;
}
