/**
 * The people in a document: a colour for each that no one else present shares, and
 * what to announce when someone joins or leaves. No DOM.
 *
 * Every tab computes the same colours from the same people: each person's preferred
 * colour comes from their user id (as the server's `presence` colour does), and when
 * two prefer the same one, the lower id keeps it and the other takes the next free one.
 * Beyond the palette, colours are spread around the hue circle, so no two ever match.
 */

export const PALETTE = [
  "#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#0c8599", "#c2255c",
  "#5c940d", "#e67700", "#3b5bdb", "#a61e4d", "#087f5b", "#862e9c",
];

/** A colour of index `n` past the palette: hues a golden angle apart. */
function extraColor(n) {
  const hue = Math.round((n * 137.508) % 360);
  return `hsl(${hue} 65% 42%)`;
}

function preferred(id, size) {
  // A small integer hash, stable across tabs and browsers.
  let h = 2166136261;
  for (const ch of String(id)) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h % size;
}

/**
 * A Map from user id to a colour, distinct for every id in `ids` (people, not tabs:
 * one person in two tabs has one colour).
 */
export function assignColors(ids) {
  const unique = [...new Set(ids.map(String))].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const taken = new Set();
  const colors = new Map();
  for (const id of unique) {
    let index = preferred(id, PALETTE.length);
    let tries = 0;
    while (taken.has(index) && tries < PALETTE.length) {
      index = (index + 1) % PALETTE.length;
      tries++;
    }
    if (taken.has(index)) {
      let n = 0;
      while (taken.has(PALETTE.length + n)) n++;
      index = PALETTE.length + n;
    }
    taken.add(index);
    colors.set(id, index < PALETTE.length ? PALETTE[index] : extraColor(index - PALETTE.length));
  }
  return colors;
}

/** Sentences for a screen reader about who came and went between two lists of names. */
export function arrivals(before, after) {
  const was = new Set(before);
  const is = new Set(after);
  const lines = [];
  for (const name of after) if (!was.has(name)) lines.push(`${name} joined`);
  for (const name of before) if (!is.has(name)) lines.push(`${name} left`);
  return lines;
}
