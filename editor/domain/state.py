"""What one process remembers of a document between commits: plain data, no Django.

A :class:`DocumentState` is the text at revision ``rev`` with the ops of the last
revisions (to rebase late ops without reading the history back) and, per
``(user id, client)``, the highest ``seq`` committed (so a new op needs no lookup to be
told apart from a resend). The database stays the truth: the commit service compares
``rev`` with the document's revision inside its transaction and catches the state up
(or rebuilds it) when another process or the admin committed meanwhile.

A batch is worked out in a :class:`Pending` on top of the state and folded into it
with :meth:`DocumentState.extend` only once its transaction has committed, so a batch
that is rolled back leaves nothing behind.
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from ..core import ot
from ..core.text import Text

Key = tuple[int, str]  # (user id, client)

# Revisions whose ops are kept for rebasing; older bases are read from the history.
# At most this many, holding at most RECENT_BYTES of inserted text.
RECENT_REVISIONS = 2000
RECENT_BYTES = 16 * 1024 * 1024
# Clients whose highest seq is remembered; a forgotten one costs one lookup.
KNOWN_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One committed revision as the state keeps it."""

    rev: int
    ops: list
    key: Key
    seq: int


def _size(entry: Entry) -> int:
    """About the memory ``entry`` holds: its inserted strings and a little per component."""
    return sum(sys.getsizeof(c["insert"]) if "insert" in c else 0 for c in entry.ops) + 64 * len(entry.ops)


class DocumentState:
    """The text at ``rev``, the recent revisions, and the highest seq of each client."""

    def __init__(self, *, rev: int, text: str | Text, recent: Iterable[Entry] = ()) -> None:
        self.rev = rev
        self.text = text if isinstance(text, Text) else Text(text)
        self._recent: deque[Entry] = deque()
        self._recent_bytes = 0
        # Code points added by the revisions this state has kept, in all (a running
        # total), and the same before each revision in _recent: what the revisions
        # after a base added is one subtraction, however far back the base is.
        self._added = 0
        self._added_before: deque[int] = deque()
        self._seqs: OrderedDict[Key, int] = OrderedDict()
        for entry in recent:
            self._remember(entry)

    def replace(self, other: DocumentState) -> None:
        """Become ``other`` (read afresh), keeping what is known of clients' seqs."""
        self.rev, self.text = other.rev, other.text
        self._recent, self._recent_bytes = other._recent, other._recent_bytes
        self._added, self._added_before = other._added, other._added_before

    def _remember(self, entry: Entry) -> None:
        """Keep ``entry`` for rebasing, forgetting the oldest beyond the bounds."""
        self._recent.append(entry)
        self._recent_bytes += _size(entry)
        self._added_before.append(self._added)
        self._added += ot.length_delta(entry.ops)
        while len(self._recent) > 1 and (len(self._recent) > RECENT_REVISIONS or self._recent_bytes > RECENT_BYTES):
            self._recent_bytes -= _size(self._recent.popleft())
            self._added_before.popleft()

    @property
    def oldest(self) -> int:
        """The oldest base :meth:`ops_since` can rebase from."""
        return self.rev - len(self._recent)

    def keeps(self, base: int) -> bool:
        """Whether the revisions after ``base`` are all kept (:meth:`ops_since` has them)."""
        count = self.rev - base
        return count == 0 or (0 < count <= len(self._recent) and self._recent[-count].rev == base + 1)

    def ops_since(self, base: int) -> list[list] | None:
        """The ops of revisions ``base + 1`` through ``rev``, or None if not all are kept."""
        if not self.keeps(base):
            return None
        count = self.rev - base
        ops = [entry.ops for entry in islice(reversed(self._recent), count)]  # from the end: no walk to the start
        ops.reverse()
        return ops

    def added_since(self, base: int) -> int | None:
        """Code points the revisions after ``base`` added (negative when they removed
        more), or None if not all are kept."""
        if not self.keeps(base):
            return None
        count = self.rev - base
        return self._added - self._added_before[-count] if count else 0

    def max_seq(self, key: Key) -> int | None:
        """The highest seq committed by ``key``, or None when this state does not know."""
        return self._seqs.get(key)

    def learn_seq(self, key: Key, seq: int) -> None:
        """Remember ``key``'s highest committed seq (as read from the history)."""
        self._seqs[key] = max(seq, self._seqs.get(key, 0))
        self._seqs.move_to_end(key)
        while len(self._seqs) > KNOWN_CLIENTS:
            self._seqs.popitem(last=False)

    def extend(self, entries: list[Entry], text: str | Text) -> None:
        """Add revisions ``rev + 1`` onwards (committed) and the text after them."""
        for entry in entries:
            if entry.rev != self.rev + 1:
                raise ValueError(f"revision {entry.rev} does not follow {self.rev}")
            self._remember(entry)
            self.rev = entry.rev
            if entry.key in self._seqs:  # unknown keys stay unknown: the history knows more
                self.learn_seq(entry.key, entry.seq)
        self.text = text if isinstance(text, Text) else Text(text)

    def catch_up(self, entries: list[Entry]) -> None:
        """Apply revisions committed elsewhere, replaying them onto the text."""
        text = self.text
        for entry in entries:
            if entry.ops:
                text = text.apply(entry.ops)
        self.extend(entries, text)


class Pending:
    """A batch being committed on top of a state; :meth:`commit` folds it in."""

    def __init__(self, state: DocumentState) -> None:
        self.state = state
        self.text = state.text
        self.entries: list[Entry] = []
        self._seqs: dict[Key, int] = {}
        # Worked out once per batch for every op rebased over the same revisions (a
        # busy document's ops each come from some way back; see ot.rebase):
        self._added = 0  # code points this batch's revisions added, together
        self._traces: dict[int, ot.Trace] = {}  # revision: ot.to_trace of its ops

    @property
    def rev(self) -> int:
        return self.state.rev + len(self.entries)

    def ops_since(self, base: int) -> list[list] | None:
        """As :meth:`DocumentState.ops_since`, counting this batch's revisions too."""
        if base >= self.state.rev:
            return [entry.ops for entry in self.entries[base - self.state.rev :]]
        older = self.state.ops_since(base)
        return None if older is None else older + [entry.ops for entry in self.entries]

    def length_at(self, rev: int) -> int | None:
        """The text's length at revision ``rev``: the batch's text less what every
        revision after ``rev`` added by its ops. None when ``rev`` is older than the
        state keeps (the caller sums what it read from the history instead)."""
        if rev >= self.state.rev:
            later = self.entries[rev - self.state.rev :]
            return len(self.text) - sum(ot.length_delta(entry.ops) for entry in later)
        added = self.state.added_since(rev)
        return None if added is None else len(self.text) - self._added - added

    def traces_since(self, base: int, history: list[list]) -> Sequence[ot.Trace | None]:
        """``ot.to_trace`` of the ops of revisions ``base + 1`` onwards (``history``,
        in order), for those of several components the state keeps; converted once per
        batch, and only when asked for (``ot.rebase`` asks for few of them: none while
        a keystroke is moved over keystrokes). Older ones (read from the history,
        rarely) are None, left to ``ot.rebase`` to convert."""
        return _TracesSince(self, base, history)

    def _trace(self, rev: int, ops: list) -> ot.Trace | None:
        if len(ops) < 2 or rev <= self.state.oldest:
            return None  # rebase's one-component path needs no trace
        trace = self._traces.get(rev)
        if trace is None:
            trace = self._traces[rev] = ot.to_trace(ops)
        return trace

    def max_seq(self, key: Key) -> int | None:
        known = self.state.max_seq(key)
        mine = self._seqs.get(key)
        return known if mine is None else max(mine, known or 0)

    def find(self, key: Key, seq: int) -> Entry | None:
        """This batch's revision of ``key``'s ``seq``, if the batch already has it."""
        for entry in self.entries:
            if entry.key == key and entry.seq == seq:
                return entry
        return None

    def add(self, *, ops: list, key: Key, seq: int, text: Text) -> Entry:
        entry = Entry(rev=self.rev + 1, ops=ops, key=key, seq=seq)
        self.entries.append(entry)
        self._added += ot.length_delta(ops)
        self._seqs[key] = max(seq, self._seqs.get(key, 0))
        self.text = text
        return entry

    def commit(self) -> None:
        """Fold the batch into the state: call only once its transaction has committed."""
        self.state.extend(self.entries, self.text)


class _TracesSince(Sequence):
    """What :meth:`Pending.traces_since` answers: each trace worked out when read."""

    __slots__ = ("pending", "base", "history")

    def __init__(self, pending: Pending, base: int, history: list[list]) -> None:
        self.pending, self.base, self.history = pending, base, history

    def __len__(self) -> int:
        return len(self.history)

    def __getitem__(self, index):  # ints only: rebase never slices
        if index < 0:
            index += len(self.history)
        if not 0 <= index < len(self.history):
            raise IndexError(index)
        return self.pending._trace(self.base + 1 + index, self.history[index])
