"""The protocol's state machine of one participant, version 1, with no socket.

:class:`Editing` holds what a participant knows (its text, the server's revision and
text, its op in flight and its buffer) and turns server messages and local edits into
new state and outgoing messages; :class:`editor.client.CollabClient` gives it a socket,
reconnects and waits. The state machine is the one of ot.js: at most one op is in
flight (*outstanding*), local edits made meanwhile are composed into one *buffer*, and
every op from the server is transformed against both before it is applied locally. The
server's op always goes first in ``ot.transform``, so its inserts win ties, as the
protocol requires.

Choices where the protocol leaves room:

* Edits are never dropped for being old. A ``snapshot`` that differs from the text
  pending local edits were made on is merged: its difference from that text
  (:func:`editor.core.diff.text_diff`) is applied to the local text, and the edits, rebased
  over it, become the buffer, sent as a new op after ``ready``. The op in flight is
  dropped (logged as a warning) when the snapshot's revision is not behind the
  client's, since it may be inside the snapshot; when it is behind (the server lost
  revisions) that op was not committed and is merged with the buffer. A snapshot equal
  to what the client holds (same revision, same text) keeps the edits as they are.
* An ``error`` with code ``bad_base`` or ``bad_op`` on the outstanding op recorded
  nothing: the op is composed with the buffer into one buffered edit, the local text is
  kept, and the client re-joins with ``pending: true``, from ``rev`` after ``bad_base``
  (the server is behind it and answers with a snapshot), with ``since: null`` after
  ``bad_op`` (a fresh snapshot: this copy may be wrong). After two such re-applies with
  no ``ack`` in between, and after other codes but ``rate_limited``, the op and the
  buffer are dropped, the text is reset to ``rev`` and the client re-joins from it.
* After an ``error`` on the outstanding op the client re-joins on the same socket. The
  reply may repeat revisions that also arrived live meanwhile; until the ``ready``
  those repeats (revision <= :attr:`Editing.rev`) are skipped. Anywhere else a
  revision other than ``rev + 1`` is a :class:`ProtocolViolation` that stops the client.
* ``rate_limited`` is retryable: the op stays outstanding and is sent again, same seq,
  after the error's ``retry_after`` milliseconds (a second without it);
  :attr:`Editing.waiting` is true meanwhile.
* A join says ``pending: true`` while edits are unacknowledged, so the server answers
  with revisions to rebase them over, never a snapshot in their place.
* An ``ack`` of a seq that is no longer outstanding is ignored when its revision is
  one the client holds (the reply to a resend of an op already committed). If it is
  the next revision (an op given up on was committed after all), its text is unknown
  here, so the client re-joins with ``since: null`` to get a snapshot.
* An outstanding op that concurrent edits transformed into nothing is not resent after
  a reconnection: the wire forbids empty ops, and it would change nothing.
* A server ``op`` whose ``ops`` is an empty list is accepted as a revision that
  changes nothing.
* Presence positions are mapped from the local text to the text at ``rev``; presence
  is not re-sent automatically after a reconnection.
* The first connection of :meth:`CollabClient.connect` failing to open raises at once;
  later failures are retried, except an HTTP 4xx refusal of the handshake.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from editor.core import ot
from editor.core.diff import text_diff

logger = logging.getLogger(__name__)

# Refusals that say the client's idea of the server's text is wrong, not the edit: the
# edit is kept and merged into the text the re-join brings.
REAPPLIED_CODES = frozenset({"bad_base", "bad_op"})
# Refused ops re-applied in a row, with no ack between them, before the client gives up
# on its edits: a server that refuses whatever it is sent must not make it loop.
MAX_REAPPLIES = 2
# The difference merged under pending edits is never sent, so it needs no component limit.
_MERGE_COMPONENTS = 1 << 30


class ProtocolViolation(Exception):
    """The server broke the protocol (a revision gap, an op that does not fit, bad JSON).

    The client stops for good: going on could only diverge from the server.
    """


class Editing(ABC):
    """One participant's side of the protocol: its state and how each message changes it.

    A subclass puts messages on the wire (:meth:`_send`) and wakes whoever waits for a
    change (:meth:`_notify`); it calls :meth:`socket_opened` once a socket is open and hands every
    server frame to :meth:`receive`, which passes each message to :meth:`handle` (a subclass
    may override that to see or reshape messages before the state machine does).

    Attributes:
        client_id: this participant's id in ``join`` (and so in the keys of its ops).
        text: the local text, including edits the server has not acknowledged yet.
        rev: the last server revision this client holds (``None`` before the first snapshot).
        server_text: the text at ``rev``, as confirmed by the server.
        role: ``"editor"`` or ``"viewer"``, from the last ``ready``.
        revisions: every revision received after the first ``ready``, as ``op`` or
            ``ack``, in arrival order.
        snapshots: the revision of every snapshot received after the first ``ready``
            (a re-join may be answered with one instead of the revisions it skips).
        errors: every ``error`` message received.
        peers: other participants' last ``presence`` message, by client id.
        on_ack: called with ``(seq, rev)`` when the server acknowledges an op of this
            client as revision ``rev`` (not for the repeated ack of a resend).
        on_ready: called with every ``ready`` message once it is handled.
        on_send: called with ``(seq, ops)`` just before an op of this client is put on the
            wire: when it is first sent, and again at each resend (same seq).
        on_op: called with every server ``op`` message applied as the next revision (not
            for a repeat that is skipped), once it is applied.
    """

    def __init__(
        self,
        client_id: str,
        *,
        on_ack: Callable[[int, int], None] | None = None,
        on_ready: Callable[[dict], None] | None = None,
        on_send: Callable[[int, ot.Op], None] | None = None,
        on_op: Callable[[dict], None] | None = None,
    ) -> None:
        self.client_id = client_id
        self.on_ack = on_ack
        self.on_ready = on_ready
        self.on_send = on_send
        self.on_op = on_op
        self.text = ""
        self.rev: int | None = None
        self.server_text = ""
        self.role: str | None = None
        self.revisions: list[int] = []
        self.snapshots: list[int] = []
        self.errors: list[dict] = []
        self.peers: dict[str, dict] = {}
        self._seq = 0
        self._outstanding: tuple[int, ot.Op] | None = None
        self._buffer: ot.Op | None = None
        self._joined = False  # the last join sent on this socket was answered with ready
        self._joining = False
        self._replay_ok = False  # a re-join on an open socket may repeat revisions held
        self._awaiting_snapshot = False
        self._snapshot_parts: list[str] = []
        self._snapshot_rev: int | None = None
        self._readies = 0
        self._retry: asyncio.TimerHandle | None = None  # resends a rate-limited op
        self._reapplies = 0  # refused ops re-applied since the last ack

    @abstractmethod
    def _send(self, message: dict[str, Any]) -> None:
        """Put ``message`` on the wire, after what was sent before (dropped when no socket is open)."""

    @abstractmethod
    def _notify(self) -> None:
        """The state changed: wake whoever waits for it."""

    # --- what the state says ---------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Joined, with nothing in flight and nothing buffered."""
        return self._joined and self._outstanding is None and self._buffer is None

    @property
    def in_flight(self) -> bool:
        """Whether an op of this client was sent and is not acknowledged yet."""
        return self._outstanding is not None

    @property
    def readies(self) -> int:
        """How many ``ready`` messages were handled: one per join, so a reconnection counts one more."""
        return self._readies

    @property
    def waiting(self) -> bool:
        """Whether a rate-limited op waits to be sent again."""
        return self._retry is not None

    # --- editing ---------------------------------------------------------------------

    def submit(self, ops: list[dict]) -> None:
        """Apply a local edit made against :attr:`text` now, and send or buffer it."""
        if self.rev is None:
            raise RuntimeError("the client is not connected")
        ops = ot.parse(ops)
        self.text = ot.apply(self.text, ops)
        if self._outstanding is None and self._joined:
            self._seq += 1
            self._outstanding = (self._seq, ops)
            self._send_op(self._seq, ops)
        else:
            self._buffer = (ot.compose(self._buffer, ops) if self._buffer else ops) or None
        self._notify()

    def insert(self, pos: int, text: str) -> None:
        """Insert ``text`` at code point ``pos`` of :attr:`text`."""
        self.submit([{"pos": pos, "insert": text}])

    def delete(self, pos: int, count: int) -> None:
        """Delete ``count`` code points of :attr:`text` from ``pos``."""
        self.submit([{"pos": pos, "delete": count}])

    async def set_presence(self, cursor: dict | None) -> None:
        """Publish a cursor ``{"anchor": a, "head": h}`` given in :attr:`text`, or ``None``.

        Nothing is sent while the client is not joined.
        """
        if cursor is not None:
            pending = self._pending_op()
            mapped = {}
            for key in ("anchor", "head"):
                index = cursor[key]
                if not isinstance(index, int) or not 0 <= index <= len(self.text):
                    raise ValueError(f"cursor {key} {index!r} is outside the text")
                mapped[key] = _to_base_index(index, pending)
            cursor = mapped
        if self._joined:
            self._send({"type": "presence", "rev": self.rev, "cursor": cursor})

    # --- joining and resending -----------------------------------------------------

    def _send_op(self, seq: int, ops: ot.Op) -> None:
        if self.on_send is not None:
            self.on_send(seq, ops)
        self._send({"type": "op", "seq": seq, "base": self.rev, "ops": ops})

    def _join(self, since: int | None, *, replay: bool) -> None:
        self._joined, self._joining, self._replay_ok = False, True, replay
        self._awaiting_snapshot = since is None and self.rev is not None
        join: dict[str, Any] = {"type": "join", "client": self.client_id, "since": since}
        if self._outstanding is not None or self._buffer is not None:
            join["pending"] = True  # revisions to rebase over, not a snapshot
        self._send(join)

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _resend(self, seq: int) -> None:
        self._retry = None
        if self._joined and self._outstanding is not None and self._outstanding[0] == seq:
            self._send_op(*self._outstanding)
        self._notify()

    # --- server messages ---------------------------------------------------------------

    def socket_opened(self) -> None:
        """A socket is open: forget what belonged to the last one and join from :attr:`rev`."""
        self.peers.clear()
        self._snapshot_parts = []
        self._join(self.rev, replay=False)

    def receive(self, frame: str | bytes) -> None:
        """Handle one frame from the server: a message, or an array of them in order."""
        try:
            data = json.loads(frame)
        except ValueError:
            raise ProtocolViolation(f"server frame is not JSON: {frame[:100]!r}") from None
        for message in data if isinstance(data, list) else [data]:
            if not isinstance(message, dict):
                continue  # not a message: ignored, as an unknown type is
            try:
                self.handle(message)
            except (KeyError, TypeError, ot.OperationError) as exc:
                raise ProtocolViolation(f"bad {message.get('type')} message {message!r}: {exc!r}") from exc
        self._notify()

    def handle(self, message: dict[str, Any]) -> None:
        """Change the state by one server message (already decoded); :meth:`receive` calls it.

        Unknown types are ignored, for servers newer than this client. A malformed message
        raises :class:`KeyError`, :class:`TypeError` or :class:`editor.core.ot.OperationError`,
        which :meth:`receive` turns into a :class:`ProtocolViolation`.
        """
        kind = message.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(self, message)

    def _accept_rev(self, rev: Any) -> bool:
        """Whether revision ``rev`` is the next one (``False``: a repeat to skip)."""
        if not isinstance(rev, int) or isinstance(rev, bool):
            raise ProtocolViolation(f"revision {rev!r} is not an integer")
        if self._awaiting_snapshot:
            return False
        if self.rev is None:
            raise ProtocolViolation(f"revision {rev} arrived before any snapshot")
        if rev == self.rev + 1:
            return True
        if rev <= self.rev and self._joining and self._replay_ok:
            return False
        raise ProtocolViolation(f"revision gap: expected {self.rev + 1}, got {rev}")

    def _advance(self, rev: int) -> None:
        self.rev = rev
        if self._readies:
            self.revisions.append(rev)

    def _on_snapshot(self, message: dict) -> None:
        rev, content = message["rev"], message["content"]
        if not isinstance(content, str) or not isinstance(rev, int):
            raise TypeError("snapshot needs an integer rev and a string content")
        if self._snapshot_parts and rev != self._snapshot_rev:
            raise ProtocolViolation(f"snapshot parts of revisions {self._snapshot_rev} and {rev}")
        self._snapshot_parts.append(content)
        self._snapshot_rev = rev
        if message.get("more"):
            return
        content, self._snapshot_parts = "".join(self._snapshot_parts), []
        pending = self._outstanding is not None or self._buffer is not None
        if pending and (rev, content) != (self.rev, self.server_text):
            self._merge(rev, content)
        self.rev, self.server_text, self._awaiting_snapshot = rev, content, False
        if self._readies:
            self.snapshots.append(rev)
        if self._outstanding is None and self._buffer is None:
            self.text = content

    def _merge(self, rev: int, content: str) -> None:
        """Keep the pending edits over a snapshot ``content`` at ``rev``: they become the buffer."""
        base, mine = self.server_text, self._buffer or []
        if self._outstanding is not None and self.rev is not None and rev >= self.rev:
            # It may be committed, and so inside the snapshot: never apply an edit twice.
            # Only a server that answers a pending join with a snapshot where the protocol
            # asks for revisions leads here (this project's does so only from a ``since``
            # ahead of its head, the branch below).
            seq, ops = self._outstanding
            logger.warning("%s: snapshot %s may hold op %s: not resent", self.client_id, rev, seq)
            base = ot.apply(base, ops)
        elif self._outstanding is not None:
            mine = self._pending_op()  # the server lost revisions: the op was not committed
        theirs = text_diff(base, content, max_components=_MERGE_COMPONENTS)
        theirs, rebased = ot.transform(theirs, mine)
        self._outstanding, self._buffer = None, rebased or None
        self.text = ot.apply(self.text, theirs)

    def _on_op(self, message: dict) -> None:
        if not self._accept_rev(message["rev"]):
            return
        raw = message["ops"]
        ops = ot.parse(raw) if raw != [] else []
        if ops:  # an empty op changes nothing: no text to apply, nothing to transform over
            server_text = ot.apply(self.server_text, ops)
            if self._outstanding is not None:
                seq, pending = self._outstanding
                ops, pending = ot.transform(ops, pending)
                self._outstanding = (seq, pending)
            if self._buffer is not None:
                ops, buffer = ot.transform(ops, self._buffer)
                self._buffer = buffer or None
            self.text = ot.apply(self.text, ops)
            self.server_text = server_text
        self._advance(message["rev"])
        if self.on_op is not None:
            self.on_op(message)

    def _on_ack(self, message: dict) -> None:
        seq, rev = message["seq"], message["rev"]
        if self._outstanding is None or seq != self._outstanding[0]:
            if self._awaiting_snapshot or (self.rev is not None and rev <= self.rev):
                return  # the repeated ack of an op already counted
            if self.rev is not None and rev == self.rev + 1 and seq in range(1, self._seq + 1):
                logger.warning("%s: given-up op %s became revision %s", self.client_id, seq, rev)
                self._outstanding = self._buffer = None
                self.text = self.server_text
                self._join(None, replay=True)
                return
            raise ProtocolViolation(f"ack of seq {seq!r} at revision {rev!r}: never sent")
        if not self._accept_rev(rev):
            return
        self._reapplies = 0
        self.server_text = ot.apply(self.server_text, self._outstanding[1])
        self._outstanding = None
        self._advance(rev)
        if self.on_ack is not None:
            self.on_ack(seq, rev)
        if self._joined:
            self._promote_buffer()

    def _on_ready(self, message: dict) -> None:
        rev = message["rev"]
        if self._awaiting_snapshot or rev != self.rev:
            raise ProtocolViolation(f"ready at revision {rev!r} while the client holds {self.rev}")
        self.role = message.get("role")
        self._joined, self._joining, self._replay_ok = True, False, False
        self._readies += 1
        self._cancel_retry()  # the outstanding op is sent again now
        if self._outstanding is not None:
            seq, ops = self._outstanding
            if ops:
                self._send_op(seq, ops)  # same seq: the server answers a committed one with its ack
            else:
                self._outstanding = None
        if self._outstanding is None:
            self._promote_buffer()
        if self.on_ready is not None:
            self.on_ready(message)

    def _on_error(self, message: dict) -> None:
        self.errors.append(message)
        if self._outstanding is None or message.get("seq") != self._outstanding[0]:
            return
        seq, code = self._outstanding[0], message.get("code")
        if code == "rate_limited":
            # Retryable: nothing was recorded; the same op goes again after the delay.
            delay = message.get("retry_after")
            delay = delay / 1000 if isinstance(delay, (int, float)) and delay >= 0 else 1.0
            self._cancel_retry()
            self._retry = asyncio.get_running_loop().call_later(delay, self._resend, seq)
            return
        if code in REAPPLIED_CODES and self._reapplies < MAX_REAPPLIES:
            # Nothing was recorded: keep the edit and the text, and merge it into the
            # server's text the re-join brings; it then goes as a new op, new seq.
            self._reapplies += 1
            logger.warning("%s: op %s refused (%s): applying it again", self.client_id, seq, code)
            mine = self._pending_op()
            self._outstanding, self._buffer = None, mine or None
            self._join(self.rev if code == "bad_base" else None, replay=True)
            return
        logger.warning("%s: op %s refused: %s", self.client_id, seq, message)
        self._outstanding = self._buffer = None
        self.text = self.server_text
        self._join(self.rev, replay=True)

    def _on_presence(self, message: dict) -> None:
        client = message.get("client")
        if isinstance(client, str) and client != self.client_id:
            self.peers[client] = message

    def _on_leave(self, message: dict) -> None:
        self.peers.pop(message.get("client"), None)  # type: ignore[arg-type]

    _handlers: dict[str, Callable[[Editing, dict], None]] = {
        "snapshot": _on_snapshot,
        "op": _on_op,
        "ack": _on_ack,
        "ready": _on_ready,
        "error": _on_error,
        "presence": _on_presence,
        "leave": _on_leave,
    }

    def _promote_buffer(self) -> None:
        if self._buffer is not None:
            self._seq += 1
            self._outstanding, self._buffer = (self._seq, self._buffer), None
            self._send_op(*self._outstanding)

    def _pending_op(self) -> ot.Op:
        ops: ot.Op = self._outstanding[1] if self._outstanding else []
        return ot.compose(ops, self._buffer) if self._buffer else ops


def _to_base_index(index: int, op: ot.Op) -> int:
    """Where ``index`` of ``apply(base, op)`` lies in ``base`` (inserted text maps to its spot)."""
    base = local = 0
    for item in ot.to_trace(op):
        if isinstance(item, str):
            if index < local + len(item):
                return base
            local += len(item)
        elif item > 0:
            if index < local + item:
                return base + index - local
            base += item
            local += item
        else:
            base -= item
    return base + index - local
