"""Who wrote each part of a text: runs of (user id, length) kept through edits.

Pure: no Django. An :class:`Authors` keeps its runs in chunks, like ``editor.core.text``
keeps text, so an edit walks the chunk lengths and rewrites one or two chunks rather
than the whole list. Law: after any ops, the runs' lengths add up to the text's length,
and each inserted code point is attributed to whoever inserted it.
"""

from __future__ import annotations

from collections.abc import Sequence

# Runs per chunk before it is split in two.
CHUNK_RUNS = 256


class Authors:
    """The author of every code point of a text, as runs ``[user_id, length]``."""

    __slots__ = ("_chunks", "_sizes")

    def __init__(self, runs: Sequence[list[int]] = ()) -> None:
        runs = [[int(user), int(size)] for user, size in runs if size > 0]
        self._chunks = [runs[i : i + CHUNK_RUNS] for i in range(0, len(runs), CHUNK_RUNS)] or [[]]
        self._sizes = [sum(size for _, size in chunk) for chunk in self._chunks]

    def __len__(self) -> int:
        return sum(self._sizes)

    def runs(self) -> list[list[int]]:
        """Every run in text order, neighbours by one author merged."""
        merged: list[list[int]] = []
        for chunk in self._chunks:
            for user, size in chunk:
                if merged and merged[-1][0] == user:
                    merged[-1][1] += size
                else:
                    merged.append([user, size])
        return merged

    def apply(self, op: Sequence[dict], user_id: int) -> None:
        """Follow ``op`` (wire components, applied in order) made by ``user_id``."""
        for comp in op:
            if "insert" in comp:
                self._insert(comp["pos"], user_id, len(comp["insert"]))
            else:
                self._delete(comp["pos"], comp["delete"])

    def _locate(self, pos: int) -> tuple[int, int]:
        """(chunk index, offset in it) of ``pos``; the end of a chunk, not the next's start."""
        for index, size in enumerate(self._sizes):
            if pos <= size:
                return index, pos
            pos -= size
        raise ValueError("position past the end of the text")

    def _insert(self, pos: int, user: int, size: int) -> None:
        if size <= 0:
            return
        index, offset = self._locate(pos)
        chunk = self._chunks[index]
        at = 0
        for i, run in enumerate(chunk):
            if offset <= at + run[1]:
                cut = offset - at
                if run[0] == user:
                    run[1] += size
                elif cut == run[1]:
                    if i + 1 < len(chunk) and chunk[i + 1][0] == user:
                        chunk[i + 1][1] += size
                    else:
                        chunk.insert(i + 1, [user, size])
                elif cut == 0:
                    chunk.insert(i, [user, size])
                else:
                    chunk[i : i + 1] = [[run[0], cut], [user, size], [run[0], run[1] - cut]]
                break
            at += run[1]
        else:
            chunk.append([user, size])
        self._sizes[index] += size
        if len(chunk) > 2 * CHUNK_RUNS:
            self._chunks[index : index + 1] = [chunk[:CHUNK_RUNS], chunk[CHUNK_RUNS:]]
            self._sizes[index : index + 1] = [sum(s for _, s in c) for c in self._chunks[index : index + 2]]

    def _delete(self, pos: int, count: int) -> None:
        while count > 0:
            index, offset = self._locate(pos)
            if offset == self._sizes[index]:  # at a chunk's end: the next chunk holds it
                index, offset = index + 1, 0
            chunk = self._chunks[index]
            at = 0
            i = 0
            while i < len(chunk) and count > 0:
                run = chunk[i]
                if offset < at + run[1]:
                    start = offset - at
                    taken = min(count, run[1] - start)
                    run[1] -= taken
                    count -= taken
                    self._sizes[index] -= taken
                    if run[1] == 0:
                        del chunk[i]
                        continue
                at += run[1]
                i += 1
            if not chunk and len(self._chunks) > 1:
                del self._chunks[index]
                del self._sizes[index]
