"""Turning a whole new text into an op, and describing ops to people.

:func:`text_diff` finds what changed between two texts and returns it as an op (the
wire format of :mod:`editor.core.ot`), so a text edited as a whole (in a form, a script)
can go through the commit path like keystrokes and be merged with concurrent edits.
The finer the op, the better concurrent typing keeps its place, so the diff narrows
down in steps: the common prefix and suffix of the whole text, then changed lines
(a patience diff), then changed words within those lines, then the common prefix and
suffix of each changed run of words. Positions are code points. Standard library only.
"""

from __future__ import annotations

import bisect
import difflib
import heapq
import json
import re
from collections import Counter
from collections.abc import Sequence

from .ot import Component, Op

__all__ = ["describe_op", "match_newlines", "text_diff"]

# A block of changed lines is compared word by word up to this many code points a
# side; a larger one is replaced whole (after trimming what its ends have in common).
MAX_WORD_DIFF_CHARS = 100_000
# Stretches without anchors are compared item by item up to this many item pairs.
MAX_ITEMWISE = 4_096

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)

# (start, end) in the old text and (start, end) in the new one.
Hunk = tuple[int, int, int, int]


def text_diff(old: str, new: str, *, max_components: int = 100) -> Op:
    """An op that turns ``old`` into ``new``, with at most ``max_components`` components.

    Law: ``ot.apply(old, text_diff(old, new)) == new``. The op is ``[]`` when the texts
    are equal. A single contiguous change comes out as at most one delete and one
    insert of exactly the code points that differ. When there are more changes than
    components allowed, the closest ones are merged into one replacement.
    """
    if max_components < 2:
        raise ValueError("max_components must be at least 2 (a delete and an insert)")
    if old == new:
        return []
    hunks = _line_hunks(old, new, *_trim(old, new, 0, len(old), 0, len(new)))
    hunks = _merge_closest(hunks, max_components // 2)
    return _to_op(new, hunks)


def _trim(old: str, new: str, a0: int, a1: int, b0: int, b1: int) -> Hunk:
    """Narrow ``old[a0:a1]`` and ``new[b0:b1]`` by their common prefix and suffix."""
    limit = min(a1 - a0, b1 - b0)
    prefix = _common(old, new, a0, b0, limit, forward=True)
    suffix = _common(old, new, a1, b1, limit - prefix, forward=False)
    return a0 + prefix, a1 - suffix, b0 + prefix, b1 - suffix


def _common(old: str, new: str, i: int, j: int, limit: int, *, forward: bool) -> int:
    """How many code points match from ``old[i]``/``new[j]`` on (or before them backwards)."""
    # Compare slices of growing, then shrinking, size: slice equality runs in C.
    done, step = 0, 64
    while done < limit:
        n = min(step, limit - done)
        if forward:
            same = old[i + done : i + done + n] == new[j + done : j + done + n]
        else:
            same = old[i - done - n : i - done] == new[j - done - n : j - done]
        if same:
            done += n
            step *= 2
        elif n == 1:
            break
        else:
            step = n // 2
    return done


def _pieces(text: str, start: int, end: int, pattern: re.Pattern[str] | None) -> tuple[list[str], list[int]]:
    """Split ``text[start:end]`` into lines (no pattern) or tokens, with their offsets."""
    part = text[start:end]
    pieces = part.splitlines(keepends=True) if pattern is None else pattern.findall(part)
    offsets = [start]
    for piece in pieces:
        offsets.append(offsets[-1] + len(piece))
    return pieces, offsets


def _line_hunks(old: str, new: str, a0: int, a1: int, b0: int, b1: int) -> list[Hunk]:
    """Hunks of the lines that differ, each narrowed down word by word."""
    if a0 == a1 or b0 == b1:
        return [(a0, a1, b0, b1)]
    old_lines, old_at = _pieces(old, a0, a1, None)
    new_lines, new_at = _pieces(new, b0, b1, None)
    hunks: list[Hunk] = []
    for i1, i2, j1, j2 in _differing(old_lines, new_lines):
        hunks.extend(_word_hunks(old, new, old_at[i1], old_at[i2], new_at[j1], new_at[j2]))
    return hunks


def _word_hunks(old: str, new: str, a0: int, a1: int, b0: int, b1: int) -> list[Hunk]:
    """Hunks of the words that differ in a block of changed lines."""
    a0, a1, b0, b1 = _trim(old, new, a0, a1, b0, b1)
    if a0 == a1 or b0 == b1 or max(a1 - a0, b1 - b0) > MAX_WORD_DIFF_CHARS:
        return [(a0, a1, b0, b1)]
    old_words, old_at = _pieces(old, a0, a1, _TOKEN)
    new_words, new_at = _pieces(new, b0, b1, _TOKEN)
    return [
        _trim(old, new, old_at[i1], old_at[i2], new_at[j1], new_at[j2])
        for i1, i2, j1, j2 in _differing(old_words, new_words)
    ]


def _differing(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """The ranges ``a[i1:i2]``, ``b[j1:j2]`` that differ, in order (a patience diff).

    Items unique on both sides anchor the match (the longest run of them in the same
    order), and the stretches between anchors are diffed the same way. A stretch
    without anchors is compared item by item when small, and else left as one range:
    near-linear time on any input, where difflib alone can take minutes on
    repetitive text.
    """
    out: list[tuple[int, int, int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        i1, i2, j1, j2 = stack.pop()
        while i1 < i2 and j1 < j2 and a[i1] == b[j1]:
            i1, j1 = i1 + 1, j1 + 1
        while i1 < i2 and j1 < j2 and a[i2 - 1] == b[j2 - 1]:
            i2, j2 = i2 - 1, j2 - 1
        if i1 == i2 or j1 == j2:
            if i1 < i2 or j1 < j2:
                out.append((i1, i2, j1, j2))
            continue
        anchors = _anchors(a, b, i1, i2, j1, j2)
        if anchors:
            stretches = []
            for ai, bj in anchors:
                stretches.append((i1, ai, j1, bj))
                i1, j1 = ai + 1, bj + 1
            stretches.append((i1, i2, j1, j2))
            stack.extend(reversed(stretches))  # popped, and so emitted, in order
        elif (i2 - i1) * (j2 - j1) <= MAX_ITEMWISE:
            matcher = difflib.SequenceMatcher(None, a[i1:i2], b[j1:j2], autojunk=False)
            out.extend(
                (i1 + x1, i1 + x2, j1 + y1, j1 + y2) for tag, x1, x2, y1, y2 in matcher.get_opcodes() if tag != "equal"
            )
        else:
            out.append((i1, i2, j1, j2))
    return out


def _anchors(a: Sequence[str], b: Sequence[str], i1: int, i2: int, j1: int, j2: int) -> list[tuple[int, int]]:
    """The longest in-order run of items that occur exactly once in each range."""
    in_a = Counter(a[i1:i2])
    in_b = Counter(b[j1:j2])
    where_b = {item: j for j, item in enumerate(b[j1:j2], j1) if in_b[item] == 1}
    pairs = [(i, where_b[item]) for i, item in enumerate(a[i1:i2], i1) if in_a[item] == 1 and item in where_b]
    # Longest increasing subsequence of the b positions (patience sorting).
    tails: list[int] = []  # tails[n]: the pair ending the best run of length n + 1
    tail_js: list[int] = []
    before: list[int | None] = []
    for k, (_, j) in enumerate(pairs):
        n = bisect.bisect_left(tail_js, j)
        before.append(tails[n - 1] if n else None)
        if n == len(tails):
            tails.append(k)
            tail_js.append(j)
        else:
            tails[n], tail_js[n] = k, j
    run: list[tuple[int, int]] = []
    at = tails[-1] if tails else None
    while at is not None:
        run.append(pairs[at])
        at = before[at]
    return run[::-1]


def _merge_closest(hunks: list[Hunk], most: int) -> list[Hunk]:
    """Merge hunks across the smallest unchanged gaps until at most ``most`` remain."""
    if len(hunks) <= most:
        return hunks
    gaps = [(hunks[i + 1][0] - hunks[i][1], i) for i in range(len(hunks) - 1)]
    merge_after = {i for _, i in heapq.nsmallest(len(hunks) - most, gaps)}
    merged: list[Hunk] = [hunks[0]]
    for i, hunk in enumerate(hunks[1:]):
        if i in merge_after:
            a0, _, b0, _ = merged[-1]
            merged[-1] = (a0, hunk[1], b0, hunk[3])
        else:
            merged.append(hunk)
    return merged


def _to_op(new: str, hunks: Sequence[Hunk]) -> Op:
    # Each hunk starts at the same place in the text the earlier components leave as
    # in the new text, since everything between hunks is unchanged: that is b0.
    op: Op = []
    for a0, a1, b0, b1 in hunks:
        if a1 > a0:
            op.append({"pos": b0, "delete": a1 - a0})
        if b1 > b0:
            op.append({"pos": b0, "insert": new[b0:b1]})
    return op


def match_newlines(text: str, *, like: str) -> str:
    """``text`` with its line breaks written the way ``like`` writes them.

    Browsers submit a text area's line breaks as CRLF whatever the text held. Left
    alone, saving an unchanged text would rewrite every line break. The result uses
    CRLF when every line break of ``like`` is CRLF, LF otherwise; a lone CR becomes LF.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    crlf = like.count("\r\n")
    if crlf and crlf == like.count("\n"):
        text = text.replace("\n", "\r\n")
    return text


# Inserted text longer than this is shortened in descriptions.
DESCRIBE_CHARS = 40


def describe_op(op: Sequence[Component]) -> str:
    """A short human summary of an op, e.g. ``+"abc" at 4, −3 at 10``.

    Inserted text is quoted with JSON escapes (``\\n`` for a line break) and cut to
    :data:`DESCRIBE_CHARS` code points. An empty op reads ``no change``.
    """
    parts = []
    for comp in op:
        if "insert" in comp:
            text = comp["insert"]
            shown = json.dumps(text[:DESCRIBE_CHARS], ensure_ascii=False)
            if len(text) > DESCRIBE_CHARS:
                shown = f'{shown[:-1]}…" ({len(text):,} chars)'
            parts.append(f"+{shown} at {comp['pos']}")
        else:
            parts.append(f"\u2212{comp['delete']} at {comp['pos']}")
    return ", ".join(parts) or "no change"
