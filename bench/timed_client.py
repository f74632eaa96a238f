"""A :class:`CollabClient` that records when each keystroke was typed, acked and received.

Keystrokes are tagged by the (client, seq) of the op that carries them: while an op
is in flight the client composes what is typed into its buffer, so one op may carry
several keystrokes, and each of them is timed from when it was typed.

:class:`LengthOnlyClient` is the same client without the text: a hundred typists'
browsers each have a core of their own, but here one core plays them all, and
transforming and applying every op for every client would make the load generator,
not the server, the bottleneck.
"""

from __future__ import annotations

import time
from array import array
from typing import Any

from editor.client import CollabClient
from editor.core import ot


class Recorder:
    """Latency samples shared by every client of one run, in seconds."""

    def __init__(self) -> None:
        self.keystrokes: dict[tuple[str, int], list[float]] = {}  # (client, seq) -> typing times
        self.sent_at: dict[tuple[str, int], float] = {}  # when that op left the client
        self.ack = array("d")  # keystroke -> the ack of the op carrying it
        self.round_trip = array("d")  # op sent -> its ack
        self.broadcast = array("d")  # keystroke -> its arrival at one other client
        self.last_arrival: dict[tuple[str, int], float] = {}  # latest arrival of each op
        self.acked_keystrokes = 0
        self.acked_until: float | None = None  # count acks up to this moment only
        self.receipts = 0  # keystroke arrivals at other clients

    def typed(self, client: str, seq: int, times: list[float]) -> None:
        self.keystrokes[(client, seq)] = times
        self.sent_at[(client, seq)] = time.perf_counter()

    def acked(self, client: str, seq: int) -> None:
        now = time.perf_counter()
        times = self.keystrokes.get((client, seq), ())
        self.ack.extend(now - t for t in times)
        if (client, seq) in self.sent_at:
            self.round_trip.append(now - self.sent_at[(client, seq)])
        if self.acked_until is None or now <= self.acked_until:
            self.acked_keystrokes += len(times)

    def received(self, client: str, seq: int) -> None:
        times = self.keystrokes.get((client, seq))
        if times:
            now = time.perf_counter()
            self.broadcast.extend(now - t for t in times)
            self.receipts += len(times)
            self.last_arrival[(client, seq)] = now

    def everyone(self) -> list[float]:
        """Keystroke -> its arrival at the last of the other clients, per keystroke."""
        return [
            self.last_arrival[key] - t
            for key, times in self.keystrokes.items()
            if key in self.last_arrival
            for t in times
        ]


class TimedClient(CollabClient):
    """A client whose keystrokes are timed into a shared :class:`Recorder`, through the
    client's observers (``on_send``, ``on_ack``, ``on_op``)."""

    def __init__(self, url: str, *, recorder: Recorder, **kwargs: Any) -> None:
        super().__init__(url, on_send=self._sent, on_ack=self._acked, on_op=self._received, **kwargs)
        self.recorder = recorder
        self._typed: list[float] = []  # keystrokes no op has carried yet
        self._seqs_sent: set[int] = set()

    @property
    def length(self) -> int:
        """The length of the local text."""
        return len(self.text)

    def type(self, pos: int, char: str) -> None:
        """Type ``char`` at ``pos`` of the local text, now."""
        self._typed.append(time.perf_counter())
        self.insert(pos, char)

    def _sent(self, seq: int, ops: ot.Op) -> None:
        # A resend after a reconnection keeps its seq and its first send time.
        if seq not in self._seqs_sent:
            self._seqs_sent.add(seq)
            self.recorder.typed(self.client_id, seq, self._typed)
            self._typed = []

    def _acked(self, seq: int, rev: int) -> None:
        self.recorder.acked(self.client_id, seq)

    def _received(self, message: dict) -> None:
        self.recorder.received(message["client"], message["seq"])


class LengthOnlyClient(TimedClient):
    """A typist that keeps the revision and the text's length but not its content.

    For insert-only typing: text only grows, so a position that was valid at any
    earlier revision stays valid, and ops need no transformation to stay within the
    text. Other people's ops reach the state machine emptied (a revision that changes
    nothing, which the protocol allows), so they are not transformed or applied; they
    only lengthen the local text with placeholders. The wire traffic is exactly a full
    client's, and the end state is checked by revision and length instead of by content.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._padding = 0  # placeholders owed to the text, added when it is next needed

    @property
    def length(self) -> int:
        return len(self.text) + self._padding

    def _pad(self) -> None:
        # Appending to a long string copies it: with 200 clients receiving every op,
        # padding each arrival at once cost the generator more than the server's work.
        if self._padding:
            padding, self._padding = " " * self._padding, 0
            self.text += padding
            self.server_text += padding

    def type(self, pos: int, char: str) -> None:
        self._pad()
        super().type(pos, char)

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "op":
            # The revision without its text. The message is this client's own (decoded
            # from the frame for it alone): emptied in place, not copied.
            rev, ops = self.rev, message["ops"]
            message["ops"] = []
            super().handle(message)
            if self.rev != rev:  # applied, not a repeat skipped
                for component in ops:
                    if "insert" not in component:
                        raise ot.OperationError("LengthOnlyClient only follows insert-only documents")
                    self._padding += len(component["insert"])
            return
        if kind == "ack":
            self._pad()  # the acked op is applied to the server's text: it must be whole
        elif kind == "snapshot":
            self._padding = 0  # the snapshot is the whole text
        super().handle(message)
