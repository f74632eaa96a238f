"""What one connection is owed, and sending it: every revision after ``last_sent``,
once, in order, then presence and replies, packed into as few frames as fit.

A :class:`Feed` answers the connection's ``join`` (a catch-up from the hub's recent
revisions or the history, or a snapshot) and takes the revisions its document's hub
(:mod:`editor.realtime.hub`) hands out, never waiting; a feed that fell behind on its
own re-synchronises from the history.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings

from ..domain import selectors
from . import dbthread, metrics, protocol
from .bus import spawn

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

# A join owed more revisions than this (and without pending edits) gets a snapshot
# instead when the text is smaller than those revisions; shorter catch-ups are cheap.
SNAPSHOT_CATCHUP_MIN_REVISIONS = 100

_feed_ids = itertools.count(1)


def revision_message(revision: selectors.Revision) -> dict:
    """The ``op`` message of a stored revision."""
    return protocol.op_message(
        rev=revision.rev,
        client=revision.client,
        seq=revision.seq,
        user_id=revision.user_id,
        user_name=revision.user_name,
        ops=revision.ops,
    )


class EncodedRevision(NamedTuple):
    """A revision as a hub hands it out: its ``op`` message, serialised once, and who
    made it (that connection is sent an ``ack`` instead). The message itself is not
    kept: a hub keeps hundreds of these per document."""

    rev: int
    user_id: int
    client: str
    seq: int
    encoded: str

    @classmethod
    def of(cls, message: dict) -> EncodedRevision:
        return cls(message["rev"], message["user"]["id"], message["client"], message["seq"], protocol.dumps(message))


class Feed:
    """What one connection is owed: every revision after ``last_sent``, once, in order.

    The hub hands revisions over with :meth:`take`, which never waits; a feed that is
    still answering ``join`` keeps them aside until its catch-up is sent.
    """

    # Every joined socket keeps one, idle or not: slots instead of a dict (about 50
    # bytes less per connection; see docs/performance.md, step 15).
    __slots__ = (
        "id",
        "document_id",
        "user_id",
        "client",
        "_send",
        "_write",
        "max_frame",
        "batch",
        "on_event",
        "_writable",
        "last_sent",
        "presence",
        "_joining",
        "_aside",
        "_outbox",
        "hub",
    )

    def __init__(
        self,
        *,
        document_id: str,
        user_id: int,
        client: str,
        send: Callable[[str], Awaitable[None]],
        max_frame: int,
        batch: int | None = None,
        on_event: Callable[[dict], Awaitable[None]] | None = None,
        writable: Callable[[], Awaitable[None]] | None = None,
        write: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.id = next(_feed_ids)
        self.document_id = document_id
        self.user_id = user_id
        self.client = client
        self._send = send  # sends one text frame to the socket
        # Writes a frame already framed for the wire (protocol.text_frame) straight to
        # the socket, or declines (False): the server's fast path, when it has one.
        self._write = write
        self.max_frame = max_frame
        # Revisions read per query in a catch-up (COLLAB_CATCHUP_BATCH unless given).
        self.batch = settings.COLLAB_CATCHUP_BATCH if batch is None else batch
        self.on_event = on_event  # access changes and the like, handled by the consumer
        # Waits until the socket has room (flow control): catch-ups are sent at the pace
        # the client reads them, never as one burst.
        self._writable = writable
        self.last_sent: int | None = None  # None until join has been answered
        self.presence: dict | None = None  # this connection's own presence message
        self._joining = False
        self._aside: list[EncodedRevision] = []  # revisions that came during a join
        self._outbox: list[str] = []  # encoded messages not yet framed
        self.hub: Hub | None = None  # set by Hub.add

    # --- what the hub calls ------------------------------------------------------

    def take(self, revisions: list[EncodedRevision]) -> None:
        """Queue the revisions (in order) that are owed, each once, never waiting."""
        for item in revisions:
            rev = item.rev
            if self._joining or self.last_sent is None:
                if self._joining:
                    self._aside.append(item)
                continue
            if rev <= self.last_sent:
                continue  # a repeat changes nothing
            if rev != self.last_sent + 1:
                # The hub fills its own gaps, so this feed fell behind on its own (a fill
                # failed): re-synchronise from the database.
                self._aside.append(item)
                self._start_resync()
                continue
            self._outbox.append(self._render(item))
            self.last_sent = rev

    def shares(self, first: int, authors: set[tuple[int, str]]) -> bool:
        """Whether this feed is owed exactly a round starting at ``first`` with nothing
        of its own in it, so it can be sent the frame every such feed gets."""
        return (
            self.last_sent == first - 1
            and not self._joining
            and not self._outbox
            and (self.user_id, self.client) not in authors
        )

    def push(self, encoded: str) -> bool:
        """Queue a message that is not a revision (presence, leave)."""
        if self.last_sent is None:
            return False
        self._outbox.append(encoded)
        return True

    async def reply(self, message: dict) -> None:
        """Send a reply (an error, a repeated ack) after everything queued before it."""
        if self.hub is not None:
            self.take(self.hub.rounds.pending)  # revisions handed out but not yet sent come first
        self._outbox.append(protocol.dumps(message))
        await self.flush()

    async def send_frame(self, frame: str, wire: bytes | None = None) -> None:
        """Send one ready-made frame; ``wire`` is the same framed for the wire, shared
        by every connection of a round."""
        if wire is None or self._write is None or not self._write(wire):
            await self._send(frame)

    async def flush(self) -> None:
        """Send what is queued, packed into as few frames as the frame limit allows."""
        if not self._outbox:
            return
        encoded, self._outbox = self._outbox, []
        for frame in protocol.frames(encoded, max_frame=self.max_frame):
            await self._send(frame)

    # --- join and catch-up ---------------------------------------------------------

    async def join(self, since: int | None, *, role: str, pending: bool = False) -> int:
        """Answer ``join``: a catch-up from ``since`` or a snapshot, then ``ready``.

        A long catch-up is replaced by a snapshot when the text is smaller than the
        revisions owed, unless the client said it holds ``pending`` edits: those can
        only be rebased over revisions.
        """
        self._joining = True
        self._aside = []
        try:
            await self.flush()
            head = await dbthread.run(selectors.document_head, document_id=self.document_id)
            snapshot = None
            if since is None or since > head:
                snapshot = await dbthread.run(selectors.document_snapshot, document_id=self.document_id)
            elif since < await dbthread.run(selectors.history_start, document_id=self.document_id):
                # The revisions after ``since`` were folded by a compaction: only the text is left.
                snapshot = await dbthread.run(selectors.document_snapshot, document_id=self.document_id)
            elif not pending and head - since > SNAPSHOT_CATCHUP_MIN_REVISIONS:
                snapshot = await dbthread.run(selectors.snapshot_if_smaller, document_id=self.document_id, since=since)
            if snapshot is not None:
                rev, content = snapshot
                for message in protocol.snapshot_messages(rev=rev, content=content, max_frame=self.max_frame):
                    self._outbox.append(protocol.dumps(message))
                self.last_sent = rev
                metrics.CATCHUPS.labels("snapshot").inc()
            else:
                self.last_sent = since
                metrics.CATCHUPS.labels("revisions").inc()
            await self._fill(until=None)
            self._outbox.append(protocol.dumps(protocol.ready_message(rev=self.last_sent, role=role)))
            await self._drain_aside()
        finally:
            self._joining = False
        await self._flush_paced()
        return self.last_sent

    async def _flush_paced(self) -> None:
        """Send what is queued, each frame once the socket has room for it."""
        if not self._outbox:
            return
        encoded, self._outbox = self._outbox, []
        for frame in protocol.frames(encoded, max_frame=self.max_frame):
            if self._writable is not None:
                await self._writable()
            await self._send(frame)

    async def _drain_aside(self) -> None:
        """Queue revisions that arrived during a join or a resync, filling gaps first."""
        while self._aside:
            aside, self._aside = sorted(self._aside, key=lambda item: item.rev), []
            for item in aside:
                rev = item.rev
                if rev <= self.last_sent:
                    continue
                if rev > self.last_sent + 1:
                    await self._fill(until=rev - 1)
                if rev == self.last_sent + 1:
                    self._outbox.append(self._render(item))
                    self.last_sent = rev

    def _start_resync(self) -> None:
        if self._joining:
            return
        self._joining = True

        async def resync() -> None:
            try:
                await self._fill(until=None)
                await self._drain_aside()
            except Exception:
                log.warning("re-synchronising a feed of %s failed", self.document_id, exc_info=True)
            finally:
                self._joining = False
            await self.flush()

        spawn(resync())

    async def _fill(self, *, until: int | None) -> None:
        """Queue revisions after ``last_sent`` (through ``until``), in order: from the
        hub's recent revisions when it still has them, else from the history."""
        while True:
            if self.hub is not None:
                kept = self.hub.order.recent_after(self.last_sent, until=until)
                if kept is not None:
                    for item in kept:
                        self._outbox.append(self._render(item))
                        self.last_sent = item.rev
                    return
            revisions = await dbthread.run(
                selectors.operations_since,
                document_id=self.document_id,
                since=self.last_sent,
                until=until,
                limit=self.batch,
            )
            for revision in revisions:
                self._outbox.append(self._render(EncodedRevision.of(revision_message(revision))))
                self.last_sent = revision.rev
            if len(self._outbox) > 64 or sum(map(len, self._outbox)) > self.max_frame:
                await self._flush_paced()
            if len(revisions) < self.batch:
                return

    def _render(self, item: EncodedRevision) -> str:
        """An ``ack`` for this connection's own revisions, the ``op`` otherwise."""
        if item.user_id == self.user_id and item.client == self.client:
            return protocol.dumps(protocol.ack_message(seq=item.seq, rev=item.rev))
        return item.encoded
