"""A long text held as chunks, so that an edit copies one chunk and not the whole text.

Python strings are immutable: applying a keystroke to a 1 MB ``str`` copies it (four
times over once it holds one emoji, as CPython then stores four bytes per code point).
A :class:`Text` keeps a list of chunks of about :data:`CHUNK` code points; applying an
op copies the list of references and rewrites only the chunks it touches, and the
original stays as it was (a commit that is rolled back keeps the text it started with).
Pure: no Django, standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import ot

# Code points per chunk: a keystroke copies about this much, and finding where it goes
# walks (length / CHUNK) chunk lengths.
CHUNK = 4096


class Text:
    """An immutable text of code points; :meth:`apply` returns a new one."""

    __slots__ = ("_chunks", "_length")

    def __init__(self, value: str = "") -> None:
        self._chunks = _split(value)
        self._length = len(value)

    @classmethod
    def _of(cls, chunks: list[str], length: int) -> Text:
        text = cls.__new__(cls)
        text._chunks, text._length = chunks, length
        return text

    @property
    def chunks(self) -> tuple[str, ...]:
        """The pieces the text is held in, in order; none is empty."""
        return tuple(self._chunks)

    def __len__(self) -> int:
        return self._length

    def __str__(self) -> str:
        return "".join(self._chunks)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Text):
            return self._length == other._length and str(self) == str(other)
        if isinstance(other, str):
            return self._length == len(other) and str(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Text({len(self._chunks)} chunks, {self._length} code points)"

    def apply(self, op: Sequence[ot.Component]) -> Text:
        """The text after ``op``; raises :class:`ot.OperationError` if it does not fit."""
        ot.check_range(op, self._length)
        chunks = list(self._chunks)
        length = self._length
        for comp in op:
            if "insert" in comp:
                _insert(chunks, comp["pos"], comp["insert"])
                length += len(comp["insert"])
            else:
                _delete(chunks, comp["pos"], comp["delete"])
                length -= comp["delete"]
        return Text._of(chunks, length)


def _split(value: str) -> list[str]:
    return [value[i : i + CHUNK] for i in range(0, len(value), CHUNK)]


def _locate(chunks: list[str], pos: int) -> tuple[int, int]:
    """(chunk index, offset in it) of ``pos``; the end of a chunk rather than the
    start of the next, so an insert at a boundary lengthens the chunk before it."""
    for index, chunk in enumerate(chunks):
        if pos <= len(chunk):
            return index, pos
        pos -= len(chunk)
    return len(chunks), 0  # only an empty text has no chunk to hold pos 0


def _insert(chunks: list[str], pos: int, text: str) -> None:
    index, offset = _locate(chunks, pos)
    if index == len(chunks):
        chunks.extend(_split(text))
        return
    chunk = chunks[index]
    chunk = chunk[:offset] + text + chunk[offset:]
    chunks[index : index + 1] = [chunk] if len(chunk) <= 2 * CHUNK else _split(chunk)


def _delete(chunks: list[str], pos: int, count: int) -> None:
    index, offset = _locate(chunks, pos)
    while count:
        chunk = chunks[index]
        taken = min(count, len(chunk) - offset)
        count -= taken
        chunk = chunk[:offset] + chunk[offset + taken :]
        if not chunk:
            del chunks[index]
            continue
        # Merge what deleting left small into its neighbour, so chunks do not dwindle.
        if len(chunk) < CHUNK // 8 and index + 1 < len(chunks) and len(chunks[index + 1]) < CHUNK:
            chunks[index : index + 2] = [chunk + chunks[index + 1]]
            offset = len(chunk)  # what is left to delete starts where the next chunk did
        else:
            chunks[index] = chunk
            index, offset = index + 1, 0
