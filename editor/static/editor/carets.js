/**
 * Other people's carets and selections, drawn over the text box.
 *
 * A <textarea> cannot style a range of its text, so a layer laid over it holds a copy of
 * the text in the same font, padding and wrapping, with the text itself transparent:
 * a position in that copy lands where the same position is in the box. The copy is one
 * block per line, and a redraw replaces only the lines that changed, so the browser
 * lays out again only those. Selections are tinted spans of the copy; each caret is
 * measured from an empty marker span and drawn as a bar, with its owner's name for a
 * few seconds after its owner moved it or typed. The layer ignores the pointer, follows
 * the box's scrolling and size, and is redrawn at most once per animation frame.
 */

// Above this many UTF-16 units the carets are not drawn: the copy of the text would
// cost more memory and layout than they are worth. The bar still names everyone.
export const MAX_DRAWN = 500_000;

// A caret carries its owner's name for this long after its owner moved it or typed.
export const NAME_SHOWN_MS = 3000;

// What decides where a character lands, copied from the box's computed style.
const COPIED = [
  "fontFamily",
  "fontSize",
  "fontWeight",
  "fontStyle",
  "lineHeight",
  "letterSpacing",
  "wordSpacing",
  "tabSize",
  "textIndent",
  "paddingTop",
  "paddingRight",
  "paddingBottom",
  "paddingLeft",
];

/**
 * The pieces of one line: strings, {text, peer} for a string inside someone's
 * selection, and {caret: peer} where someone's caret is. `carets` holds [at, peer] and
 * `ranges` holds [from, to, peer], in UTF-16 units within `line`.
 */
export function pieces(line, carets, ranges) {
  const points = [...new Set([0, line.length, ...carets.map(([at]) => at), ...ranges.flatMap(([a, b]) => [a, b])])];
  points.sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < points.length; i++) {
    const at = points[i];
    for (const [where, peer] of carets) if (where === at) out.push({ caret: peer });
    if (i + 1 === points.length) break;
    const text = line.slice(at, points[i + 1]);
    const over = ranges.find(([from, to]) => from <= at && at < to);
    out.push(over ? { text, peer: over[2] } : text);
  }
  return out;
}

/** The index of the line holding UTF-16 index `index`, given each line's start. */
function lineOf(starts, index) {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle] <= index) low = middle;
    else high = middle - 1;
  }
  return low;
}

export class PeerCarets {
  /**
   * @param {HTMLTextAreaElement} textarea  its parent must be positioned
   * @param {() => {value: string, peers: object[]}} source  what to draw, read once per
   *   frame: the box's value and {client, name, color, anchor, head, moved}, positions
   *   in UTF-16 units and `moved` a Date.now() time
   */
  constructor(textarea, source) {
    this.textarea = textarea;
    this.source = source;
    this.layer = document.createElement("div");
    this.layer.className = "peer-layer";
    this.layer.setAttribute("aria-hidden", "true");
    this.layer.hidden = true;
    this.body = document.createElement("div"); // one block per line of the text
    this.layer.append(this.body);
    textarea.insertAdjacentElement("afterend", this.layer);
    this._lines = []; // the lines the body holds
    this._decorated = []; // indices of the lines holding marks
    this._carets = []; // the caret bars drawn
    this._frame = null;
    this._hideNames = null; // the timer of the next redraw that takes a name away
    textarea.addEventListener("scroll", () => this._follow());
    new ResizeObserver(() => this.update()).observe(textarea);
  }

  /** Redraw on the next animation frame. */
  update() {
    if (this._frame === null) {
      this._frame = requestAnimationFrame(() => {
        this._frame = null;
        this._draw();
      });
    }
  }

  _draw() {
    const { value, peers } = this.source();
    for (const caret of this._carets) caret.remove();
    this._carets = [];
    this._undecorate();
    if (peers.length === 0 || value.length > MAX_DRAWN) {
      this.layer.hidden = true;
      this.body.replaceChildren();
      this._lines = [];
      return;
    }
    this.layer.hidden = false;
    this._place();
    const lines = value.split("\n");
    this._sync(lines);
    const markers = this._decorate(lines, peers);
    this._follow();
    const box = this.layer.getBoundingClientRect();
    const now = Date.now();
    let nextHide = Infinity;
    for (const [marker, peer] of markers) {
      const at = marker.getBoundingClientRect();
      const caret = document.createElement("div");
      caret.className = "peer-caret";
      caret.dataset.client = peer.client;
      caret.dataset.name = peer.name;
      caret.style.setProperty("--peer-color", peer.color);
      caret.style.left = `${at.left - box.left + this.layer.scrollLeft}px`;
      caret.style.top = `${at.top - box.top + this.layer.scrollTop}px`;
      caret.style.height = `${at.height}px`;
      const shownFor = peer.moved + NAME_SHOWN_MS - now;
      if (shownFor > 0) {
        caret.classList.add("named");
        nextHide = Math.min(nextHide, shownFor);
      }
      this.layer.append(caret);
      this._carets.push(caret);
    }
    clearTimeout(this._hideNames);
    this._hideNames = nextHide < Infinity ? setTimeout(() => this.update(), nextHide + 20) : null;
  }

  /**
   * Make the body hold `lines`, replacing only the run of lines that changed: the
   * browser then lays out again just those, which keeps a keystroke in a long text cheap.
   */
  _sync(lines) {
    const old = this._lines;
    let start = 0;
    while (start < old.length && start < lines.length && old[start] === lines[start]) start++;
    let end = 0;
    while (end < old.length - start && end < lines.length - start && old[old.length - 1 - end] === lines[lines.length - 1 - end]) {
      end++;
    }
    const children = this.body.children;
    for (let gone = old.length - end - start; gone > 0; gone--) children[start].remove();
    const added = document.createDocumentFragment();
    for (let i = start; i < lines.length - end; i++) {
      const block = document.createElement("div");
      block.textContent = lines[i] || "\u200b"; // an empty line still takes its height
      added.append(block);
    }
    this.body.insertBefore(added, children[start] ?? null);
    this._lines = lines;
  }

  /** Tint selections and place caret markers in the lines they touch; the markers, with their peers. */
  _decorate(lines, peers) {
    const starts = [0];
    for (const line of lines) starts.push(starts.at(-1) + line.length + 1);
    const marks = new Map(); // line index -> {carets, ranges}
    const on = (index) => {
      if (!marks.has(index)) marks.set(index, { carets: [], ranges: [] });
      return marks.get(index);
    };
    for (const peer of peers) {
      const head = lineOf(starts, peer.head);
      on(head).carets.push([peer.head - starts[head], peer]);
      const [from, to] = [Math.min(peer.anchor, peer.head), Math.max(peer.anchor, peer.head)];
      if (from === to) continue;
      const [first, last] = [lineOf(starts, from), lineOf(starts, to)];
      for (let index = first; index <= last; index++) {
        const line = lines[index];
        const a = index === first ? from - starts[index] : 0;
        const b = index === last ? to - starts[index] : line.length;
        if (b > a) on(index).ranges.push([a, b, peer]);
      }
    }
    const markers = [];
    for (const [index, { carets, ranges }] of marks) {
      const nodes = pieces(lines[index], carets, ranges).map((piece) => {
        if (typeof piece === "string") return document.createTextNode(piece);
        const span = document.createElement("span");
        span.style.setProperty("--peer-color", (piece.peer ?? piece.caret).color);
        if (piece.caret) markers.push([span, piece.caret]);
        else {
          span.className = "peer-selection";
          span.textContent = piece.text;
        }
        return span;
      });
      nodes.push(document.createTextNode("\u200b")); // keeps an empty line's height
      this.body.children[index].replaceChildren(...nodes);
      this._decorated.push(index);
    }
    return markers;
  }

  /** Put the lines marked by the last draw back to plain text. */
  _undecorate() {
    for (const index of this._decorated) {
      const block = this.body.children[index];
      if (block) block.textContent = this._lines[index] || "\u200b";
    }
    this._decorated = [];
  }

  /** Lay the layer exactly over the box's padding box, scrollbar left out. */
  _place() {
    const textarea = this.textarea;
    const computed = getComputedStyle(textarea);
    const style = this.layer.style;
    for (const name of COPIED) style[name] = computed[name];
    style.top = `${textarea.offsetTop + textarea.clientTop}px`;
    style.left = `${textarea.offsetLeft + textarea.clientLeft}px`;
    style.width = `${textarea.clientWidth}px`;
    style.height = `${textarea.clientHeight}px`;
  }

  _follow() {
    this.layer.scrollTop = this.textarea.scrollTop;
    this.layer.scrollLeft = this.textarea.scrollLeft;
  }
}
