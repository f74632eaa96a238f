/**
 * The editor adapter: a plain <textarea> on one side, ops in code points on the other.
 *
 * Local edits: after every `input` event the new value is compared with the last one
 * around the caret (the changed span ends where the caret is), and the difference
 * becomes an op. Remote edits: each component is spliced into the textarea with
 * setRangeText, and the local selection is mapped through the op, so typing never
 * jumps the caret: text inserted before it moves it along, text inserted exactly at a
 * collapsed caret goes after it.
 *
 * The browser counts UTF-16 units; the protocol counts code points. Every position that
 * crosses this boundary is converted here. A textarea also cannot hold a carriage return
 * (its value normalises line breaks to "\n"), so a "\r" in the document is shown as "␍",
 * one unit for one, keeping positions aligned.
 */

import { length, offset, transformIndex } from "./ot.js";

const SHOWN_CR = "\u240d";

/** The text as the textarea shows it. */
export function shown(text) {
  return text.includes("\r") ? text.replaceAll("\r", SHOWN_CR) : text;
}

function isHigh(unit) {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLow(unit) {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** The code point index of UTF-16 index `index` in `text`. */
export function toCodePoint(text, index) {
  let count = index;
  for (let i = 1; i < index; i++) {
    if (isLow(text.charCodeAt(i)) && isHigh(text.charCodeAt(i - 1))) count--;
  }
  return count;
}

/** The UTF-16 index of code point index `index` in `text`. */
export function toUtf16(text, index) {
  return offset(text, index);
}

/** Replace U+0000 and lone surrogates, which the protocol refuses, with U+FFFD. */
export function sanitize(text) {
  // eslint-disable-next-line no-control-regex -- U+0000 is what is matched
  return text.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/**
 * The op turning `before` into `after`, given the caret (a UTF-16 index into `after`)
 * that ends the edit. Returns {ops, from, to, inserted}: `ops` is [] when nothing
 * changed; `from`/`to` bound the replaced span of `before` in UTF-16 units.
 */
export function diff(before, after, caret = after.length) {
  const shortest = Math.min(before.length, after.length);
  const maxSuffix = Math.min(shortest, Math.max(0, after.length - caret));
  let suffix = 0;
  while (
    suffix < maxSuffix &&
    before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)
  ) {
    suffix++;
  }
  const maxPrefix = shortest - suffix;
  let prefix = 0;
  while (prefix < maxPrefix && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  // Never cut a surrogate pair in two: the span must hold whole code points.
  if (prefix > 0 && isHigh(before.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLow(before.charCodeAt(before.length - suffix))) suffix--;
  const from = prefix;
  const to = before.length - suffix;
  const inserted = after.slice(prefix, after.length - suffix);
  const ops = [];
  const pos = toCodePoint(before, from);
  if (to > from) ops.push({ pos, delete: length(before.slice(from, to)) });
  if (inserted) ops.push({ pos, insert: inserted });
  return { ops, from, to, inserted };
}

export class TextareaAdapter {
  /**
   * @param {HTMLTextAreaElement} textarea
   * @param {{onEdit: (ops: object[]) => void}} options  called with each local edit
   */
  constructor(textarea, { onEdit }) {
    this.textarea = textarea;
    this.value = textarea.value; // what the textarea held after the last edit seen
    this.composing = false; // an input method is composing text
    this._onEdit = onEdit;
    textarea.addEventListener("input", () => this.sync());
    textarea.addEventListener("compositionstart", () => {
      this.composing = true;
    });
    textarea.addEventListener("compositionend", () => {
      this.composing = false;
      this.sync();
    });
  }

  /** Turn whatever changed in the textarea since the last call into an op. */
  sync() {
    const textarea = this.textarea;
    const now = textarea.value;
    if (now === this.value) return;
    const change = diff(this.value, now, textarea.selectionEnd);
    const clean = sanitize(change.inserted);
    if (clean !== change.inserted) {
      // Refused characters are replaced in the text box too, so both stay identical.
      const start = change.from;
      textarea.setRangeText(clean, start, start + change.inserted.length, "end");
      const last = change.ops[change.ops.length - 1];
      last.insert = clean;
    }
    this.value = textarea.value;
    if (change.ops.length) this._onEdit(change.ops);
  }

  /** Apply ops made elsewhere (code points, against the current text), keeping the selection. */
  applyRemote(ops) {
    const textarea = this.textarea;
    const { selectionStart, selectionEnd, selectionDirection, scrollTop } = textarea;
    let value = this.value;
    let start = toCodePoint(value, selectionStart);
    let end = toCodePoint(value, selectionEnd);
    for (const comp of ops) {
      const at = toUtf16(value, comp.pos);
      if ("insert" in comp) {
        const text = shown(comp.insert);
        textarea.setRangeText(text, at, at, "preserve");
        value = value.slice(0, at) + text + value.slice(at);
      } else {
        const stop = offset(value, comp.delete, at);
        textarea.setRangeText("", at, stop, "preserve");
        value = value.slice(0, at) + value.slice(stop);
      }
      // A collapsed caret stays before text inserted right at it; a selection does
      // not grow to take in text inserted at either of its ends.
      const collapsed = start === end;
      start = transformIndex(start, [comp], { own: collapsed });
      end = transformIndex(end, [comp], { own: true });
    }
    this.value = value;
    this._select(start, end, selectionDirection);
    textarea.scrollTop = scrollTop;
  }

  /** Replace the whole text (a snapshot, or edits dropped), keeping the caret where it fits. */
  reset(text) {
    const textarea = this.textarea;
    const { selectionStart, selectionEnd, selectionDirection, scrollTop } = textarea;
    const start = toCodePoint(this.value, selectionStart);
    const end = toCodePoint(this.value, selectionEnd);
    this.value = shown(text);
    textarea.value = this.value;
    const size = length(this.value);
    this._select(Math.min(start, size), Math.min(end, size), selectionDirection);
    textarea.scrollTop = scrollTop;
  }

  _select(start, end, direction) {
    const value = this.value;
    this.textarea.setSelectionRange(toUtf16(value, start), toUtf16(value, end), direction);
  }
}
