"""Operational transformation for plain text, counted in Unicode code points.

An *op* is what travels on the wire: a non-empty list of components applied one
after another, each position relative to the text left by the components before it::

    [{"pos": 4, "insert": "abc"}, {"pos": 0, "delete": 2}]

Internally an op is turned into a *trace* that walks the base text once, in the
style of ot.js: a positive int retains that many code points, a negative int
deletes that many, a string inserts itself. Whatever is left of the text after the
trace ends is retained, so a trace never needs the length of the text it applies to.

Python ``str`` indexes code points, so no unit conversion happens here. This module
imports nothing from Django and nothing outside the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeGuard

Component = dict[str, Any]
Op = list[Component]
Item = int | str
Trace = list[Item]

__all__ = [
    "OperationError",
    "Component",
    "Op",
    "parse",
    "check_text",
    "check_range",
    "apply",
    "compose",
    "transform",
    "rebase",
    "transform_index",
    "length_delta",
    "to_trace",
    "from_trace",
]


class OperationError(ValueError):
    """An op is malformed or does not fit the text it is applied to."""


# --- validation --------------------------------------------------------------


def check_text(text: str, *, what: str = "text") -> None:
    """Refuse text holding U+0000 or a lone surrogate (it cannot round-trip as UTF-8)."""
    if "\x00" in text:
        raise OperationError(f"{what} contains U+0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise OperationError(f"{what} contains a lone surrogate") from None


def _is_int(value: object) -> TypeGuard[int]:
    # bool is a subclass of int, and JSON's true/false must not pass as numbers.
    return isinstance(value, int) and not isinstance(value, bool)


def parse(raw: object, *, max_components: int | None = None) -> Op:
    """Check the shape of a wire op and return it as a fresh list of components.

    Law: ``parse(parse(x)) == parse(x)`` for every accepted ``x``. Ranges against a
    particular text are checked by :func:`check_range`.
    """
    if not isinstance(raw, list) or not raw:
        raise OperationError("ops must be a non-empty list of components")
    if max_components is not None and len(raw) > max_components:
        raise OperationError(f"an op holds at most {max_components} components, got {len(raw)}")
    op: Op = []
    for index, comp in enumerate(raw):
        where = f"component {index}"
        if not isinstance(comp, dict):
            raise OperationError(f"{where} is not an object")
        pos = comp.get("pos")
        if not _is_int(pos) or pos < 0:
            raise OperationError(f"{where}: pos must be an integer >= 0")
        keys = set(comp)
        if keys == {"pos", "insert"}:
            text = comp["insert"]
            if not isinstance(text, str) or not text:
                raise OperationError(f"{where}: insert must be a non-empty string")
            check_text(text, what=f"{where}: insert")
            op.append({"pos": pos, "insert": text})
        elif keys == {"pos", "delete"}:
            count = comp["delete"]
            if not _is_int(count) or count < 1:
                raise OperationError(f"{where}: delete must be an integer >= 1")
            op.append({"pos": pos, "delete": count})
        else:
            raise OperationError(f"{where} must be {{pos, insert}} or {{pos, delete}}")
    return op


def check_range(op: Sequence[Component], length: int) -> int:
    """Check every position of ``op`` against a text of ``length`` code points.

    Returns the length of the text after the op.
    """
    for index, comp in enumerate(op):
        pos = comp["pos"]
        if "insert" in comp:
            if pos > length:
                raise OperationError(f"component {index}: insert past end of text (pos {pos}, len {length})")
            length += len(comp["insert"])
        else:
            count = comp["delete"]
            if pos + count > length:
                raise OperationError(
                    f"component {index}: delete past end of text (pos {pos}, delete {count}, len {length})"
                )
            length -= count
    return length


def length_delta(op: Iterable[Component]) -> int:
    """How many code points ``op`` adds to the text (negative when it removes)."""
    return sum(len(c["insert"]) if "insert" in c else -c["delete"] for c in op)


# --- traces --------------------------------------------------------------------


def _push(trace: Trace, item: Item) -> None:
    """Append ``item``, merging it into the last item when both are of one kind."""
    if item == 0 or item == "":
        return
    if trace:
        last = trace[-1]
        if isinstance(item, str):
            if isinstance(last, str):
                trace[-1] = last + item
                return
            # Keep inserts before deletes at one spot: one canonical form per edit.
            if _is_int(last) and last < 0:
                if len(trace) > 1 and isinstance(trace[-2], str):
                    trace[-2] = trace[-2] + item
                else:
                    trace.insert(len(trace) - 1, item)
                return
        elif isinstance(last, int) and (last > 0) == (item > 0):
            trace[-1] = last + item
            return
    trace.append(item)


def _trim(trace: Trace) -> Trace:
    """Drop a trailing retain: the rest of the text is retained implicitly."""
    if trace and _is_int(trace[-1]) and trace[-1] > 0:
        trace.pop()
    return trace


def to_trace(op: Sequence[Component]) -> Trace:
    """Turn sequential components into one trace over the base text.

    Components that each start at or after where the one before left off (as every op
    :func:`from_trace` makes, and most typing) are appended in one pass; from the first
    one that goes back, the rest are composed in turn.
    """
    trace: Trace = []
    cursor = 0  # where the last component left off, in the text as edited so far
    for index, comp in enumerate(op):
        pos = comp["pos"]
        if pos < cursor:
            return _compose_each(trace, op[index:])
        _push(trace, pos - cursor)
        if "insert" in comp:
            _push(trace, comp["insert"])
            cursor = pos + len(comp["insert"])
        else:
            _push(trace, -comp["delete"])
            cursor = pos
    return trace


def _compose_each(trace: Trace, op: Sequence[Component]) -> Trace:
    for comp in op:
        step: Trace = []
        _push(step, comp["pos"])
        _push(step, comp["insert"] if "insert" in comp else -comp["delete"])
        trace = _compose_traces(trace, step)
    return trace


def from_trace(trace: Iterable[Item]) -> Op:
    """Turn a trace back into wire components (empty when the trace changes nothing)."""
    op: Op = []
    pos = 0
    for item in trace:
        if isinstance(item, str):
            op.append({"pos": pos, "insert": item})
            pos += len(item)
        elif item > 0:
            pos += item
        else:
            op.append({"pos": pos, "delete": -item})
    return op


def _compose_traces(a: Trace, b: Trace) -> Trace:
    """The trace with the effect of ``a`` then ``b``."""
    out: Trace = []
    ia = ib = 0
    x: Item | None = a[0] if a else None
    y: Item | None = b[0] if b else None
    while x is not None or y is not None:
        if isinstance(y, str):  # b inserts: it comes first, whatever a does here
            _push(out, y)
            ib += 1
            y = b[ib] if ib < len(b) else None
            continue
        if _is_int(x) and x < 0:  # a deletes base text b never sees
            _push(out, x)
            ia += 1
            x = a[ia] if ia < len(a) else None
            continue
        if x is None:  # a retains the rest: b's retain or delete passes through
            _push(out, y)  # type: ignore[arg-type]
            ib += 1
            y = b[ib] if ib < len(b) else None
            continue
        if y is None:  # b retains the rest: a's retain or insert passes through
            _push(out, x)
            ia += 1
            x = a[ia] if ia < len(a) else None
            continue
        size_x = len(x) if isinstance(x, str) else x
        size_y = abs(y)
        n = min(size_x, size_y)
        if isinstance(x, str):
            if y > 0:
                _push(out, x[:n])
            # else: b deletes what a inserted: neither survives
            x = x[n:] or None
        else:
            _push(out, n if y > 0 else -n)
            x = (x - n) or None
        y = (y - n if y > 0 else y + n) or None
        if x is None:
            ia += 1
            x = a[ia] if ia < len(a) else None
        if y is None:
            ib += 1
            y = b[ib] if ib < len(b) else None
    return _trim(out)


def _transform_traces(a: Trace, b: Trace) -> tuple[Trace, Trace]:
    """``(a', b')`` with ``b'`` applying after ``a`` and ``a'`` after ``b``.

    Law: ``apply(apply(S, a), b') == apply(apply(S, b), a')``. When both insert at
    one position, ``a``'s insert comes first.
    """
    a2: Trace = []
    b2: Trace = []
    ia = ib = 0
    x: Item | None = a[0] if a else None
    y: Item | None = b[0] if b else None
    while x is not None or y is not None:
        if isinstance(x, str):
            _push(a2, x)
            _push(b2, len(x))
            ia += 1
            x = a[ia] if ia < len(a) else None
            continue
        if isinstance(y, str):
            _push(a2, len(y))
            _push(b2, y)
            ib += 1
            y = b[ib] if ib < len(b) else None
            continue
        if x is None:  # a retains the rest: b's retain or delete passes through
            _push(b2, y)  # type: ignore[arg-type]
            if y > 0:  # type: ignore[operator]
                _push(a2, y)  # type: ignore[arg-type]
            ib += 1
            y = b[ib] if ib < len(b) else None
            continue
        if y is None:  # b retains the rest: a's retain or delete passes through
            _push(a2, x)
            if x > 0:
                _push(b2, x)
            ia += 1
            x = a[ia] if ia < len(a) else None
            continue
        n = min(abs(x), abs(y))
        if x > 0 and y > 0:
            _push(a2, n)
            _push(b2, n)
        elif x < 0 and y > 0:
            _push(a2, -n)
        elif x > 0 and y < 0:
            _push(b2, -n)
        # both delete the same code points: they are gone once, neither side repeats it
        x = (x - n if x > 0 else x + n) or None
        y = (y - n if y > 0 else y + n) or None
        if x is None:
            ia += 1
            x = a[ia] if ia < len(a) else None
        if y is None:
            ib += 1
            y = b[ib] if ib < len(b) else None
    return _trim(a2), _trim(b2)


def _transform_after(a: Trace, b: Trace) -> Trace:
    """``_transform_traces(a, b)[1]`` alone: ``b`` rebased to apply after ``a``.

    What rebase needs of each committed op. It builds no ``a'``, and it stops where
    ``b`` ends: past that ``b`` only retains, and a trailing retain is dropped anyway.
    Rebasing a keystroke over a long revision walks that revision only up to the
    keystroke's position.
    """
    b2: Trace = []
    ia = ib = 0
    x: Item | None = a[0] if a else None
    y: Item | None = b[0] if b else None
    while y is not None:
        if isinstance(x, str):
            _push(b2, len(x))
            ia += 1
            x = a[ia] if ia < len(a) else None
            continue
        if isinstance(y, str):
            _push(b2, y)
            ib += 1
            y = b[ib] if ib < len(b) else None
            continue
        if x is None:  # a retains the rest: the rest of b passes through as it is
            _push(b2, y)
            for item in b[ib + 1 :]:
                _push(b2, item)
            break
        n = min(abs(x), abs(y))
        if x > 0:  # a deletes nothing here: b's retain or delete stays
            _push(b2, n if y > 0 else -n)
        # a deleted these code points: b neither retains them nor deletes them again
        x = (x - n if x > 0 else x + n) or None
        y = (y - n if y > 0 else y + n) or None
        if x is None:
            ia += 1
            x = a[ia] if ia < len(a) else None
        if y is None:
            ib += 1
            y = b[ib] if ib < len(b) else None
    return _trim(b2)


# --- the public algebra ----------------------------------------------------------


def apply(text: str, op: Sequence[Component]) -> str:
    """Apply ``op`` to ``text``; raises :class:`OperationError` if it does not fit.

    Law: ``apply(text, op) == apply_each_component_in_turn(text, op)``.
    """
    check_range(op, len(text))
    pieces: list[str] = []
    cursor = 0
    for item in to_trace(op):
        if isinstance(item, str):
            pieces.append(item)
        elif item > 0:
            pieces.append(text[cursor : cursor + item])
            cursor += item
        else:
            cursor -= item
    pieces.append(text[cursor:])
    return "".join(pieces)


def compose(a: Sequence[Component], b: Sequence[Component]) -> Op:
    """One op with the effect of ``a`` then ``b``.

    Law: ``apply(S, compose(a, b)) == apply(apply(S, a), b)``.
    """
    return from_trace(_compose_traces(to_trace(a), to_trace(b)))


def transform(a: Sequence[Component], b: Sequence[Component]) -> tuple[Op, Op]:
    """Transform two concurrent ops made against the same text.

    Returns ``(a', b')`` where ``a'`` is ``a`` rebased onto ``b`` and ``b'`` is ``b``
    rebased onto ``a``. Law: ``apply(apply(S, a), b') == apply(apply(S, b), a')``.
    Tie rule: inserts of ``a`` come before inserts of ``b`` at the same position, so
    the server passes the committed op as ``a``. An insert inside a range the other op
    deletes survives at the deletion point; code points both delete are deleted once.
    A result may be empty: the op no longer changes anything.
    """
    a2, b2 = _transform_traces(to_trace(a), to_trace(b))
    return from_trace(a2), from_trace(b2)


def rebase(
    op: Sequence[Component],
    history: Sequence[Sequence[Component]],
    traces: Sequence[Trace | None] | None = None,
) -> Op:
    """``op`` transformed over each op of ``history`` in turn, history winning ties.

    Law: equal to ``for h in history: op = transform(h, op)[1]``, the way a client
    rebases its pending op one revision at a time, but ``op`` stays a trace from the
    first revision to the last instead of being converted back and forth at each.
    With no history the op is returned as it is. ``traces``, when given, holds
    ``to_trace`` of the history's ops where the caller has it (None elsewhere), so
    ops rebased over the same revisions need not convert them again; it is only read.
    """
    if not history:
        return list(op)
    trace, start = _rebase_keystroke(to_trace(op), history)
    for index in range(start, len(history)):
        committed = history[index]
        if len(committed) == 1:  # most revisions are one keystroke
            comp = committed[0]
            if "insert" in comp:
                trace = _after_insert(trace, comp["pos"], len(comp["insert"]))
            else:
                trace = _after_delete(trace, comp["pos"], comp["delete"])
        elif committed:
            known = traces[index] if traces is not None else None
            trace = _transform_after(to_trace(committed) if known is None else known, trace)
    return from_trace(trace)


def _rebase_keystroke(trace: Trace, history: Sequence[Sequence[Component]]) -> tuple[Trace, int]:
    """``trace`` rebased over the first revisions of ``history`` while both are one
    insert or one delete, and the index of the first revision left to the general path.

    A keystroke rebased over keystrokes is two positions moved by arithmetic, with no
    trace built per revision: what :func:`_after_insert` and :func:`_after_delete`
    give for these shapes. A server that falls behind rebases each keystroke over
    every keystroke committed since its base, so this is where its time goes. It stops
    at a revision of several components, and at an insert inside the deleted range
    (the delete is then cut in two).
    """
    if not trace or len(trace) > 2:
        return trace, 0
    first, item = trace[0], trace[-1]
    pos = 0
    if len(trace) == 2:
        if not _is_int(first) or first <= 0:
            return trace, 0
        pos = first
    text: str | None
    if isinstance(item, str):
        text, end = item, pos
    elif item < 0:
        text, end = None, pos - item  # what the delete removes: [pos, end)
    else:  # retains only: nothing to move
        return trace, 0
    index = 0
    for committed in history:
        try:
            (comp,) = committed
        except ValueError:  # not one component
            if committed:
                break
            index += 1  # an empty revision (a delete of what was deleted already) moves nothing
            continue
        at = comp["pos"]
        if "insert" in comp:
            if at <= pos:  # before it, or at an insert's place (the committed text goes first)
                size = len(comp["insert"])
                pos += size
                end += size
            elif at < end:  # within the delete's range
                break
        else:
            stop = at + comp["delete"]
            if at < pos:
                pos = at if pos < stop else pos - (stop - at)
            if at < end:
                end = at if end < stop else end - (stop - at)
            if text is None and end == pos:  # everything it deleted is gone already
                return [], len(history)
        index += 1
    out: Trace = [pos] if pos else []
    out.append(text if text is not None else pos - end)
    return out, index


def _after_insert(trace: Trace, pos: int, size: int) -> Trace:
    """``trace`` rebased over an insert of ``size`` code points at ``pos``.

    What ``_transform_traces([pos, text], trace)[1]`` gives, in one pass: the
    inserted text is retained, ahead of an insert of ``trace`` at the same place.
    """
    out: Trace = []
    at = 0  # offset in the base text
    for index, item in enumerate(trace):
        if isinstance(item, str):
            if at == pos:
                _push(out, size)
                return _finish(out, trace, index)
            _push(out, item)
            continue
        span = item if item > 0 else -item
        if at + span > pos:  # the insert lands within (or just before) this item
            before = pos - at
            _push(out, before if item > 0 else -before)
            _push(out, size)
            _push(out, item - before if item > 0 else item + before)
            return _finish(out, trace, index + 1)
        _push(out, item)
        at += span
    return _trim(out)  # past the end: the rest of the text is retained anyway


def _after_delete(trace: Trace, pos: int, count: int) -> Trace:
    """``trace`` rebased over a delete of ``count`` code points at ``pos``.

    What ``_transform_traces([pos, -count], trace)[1]`` gives, in one pass: what
    ``trace`` retains or deletes of that range is gone; its inserts there stay, at
    the deletion point.
    """
    out: Trace = []
    at = 0
    end = pos + count
    for index, item in enumerate(trace):
        if isinstance(item, str):
            _push(out, item)
            continue
        span = item if item > 0 else -item
        start, stop = at, at + span
        at = stop
        kept = max(0, min(stop, pos) - start) + max(0, stop - max(start, end))
        _push(out, kept if item > 0 else -kept)
        if at >= end:
            return _finish(out, trace, index + 1)
    return _trim(out)


def _finish(out: Trace, trace: Trace, start: int) -> Trace:
    for item in trace[start:]:
        _push(out, item)
    return _trim(out)


def transform_index(index: int, op: Sequence[Component], *, own: bool = False) -> int:
    """Where position ``index`` of the text ends up after ``op`` (for carets).

    An insert exactly at ``index`` pushes it right unless ``own`` is true (the caret
    of the person who typed stays after their own text either way, since their caret
    is moved by their editor, not by this function).
    """
    for comp in op:
        pos = comp["pos"]
        if "insert" in comp:
            if pos < index or (pos == index and not own):
                index += len(comp["insert"])
        else:
            count = comp["delete"]
            if pos < index:
                index -= min(count, index - pos)
    return index
