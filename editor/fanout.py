"""Fan-out: which revisions each connection is owed, and sending them.

Every committed revision is announced once on the channel layer. Each connection
keeps a :class:`RevisionFeed` that sends every revision after the last one it sent,
exactly once and in order. The channel layer is only a hint: it may drop (channels-
redis drops group messages to full channels by design), repeat or reorder, so a gap is
filled from the op history and a repeat is ignored. A quiet check after the last
announcement catches a dropped tail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from channels.db import database_sync_to_async

from . import protocol, selectors

log = logging.getLogger(__name__)

# After this many seconds without an announcement a connection asks the database
# whether it missed the last one.
QUIET_CHECK_SECONDS = 1.5


def group_name(document_id: str) -> str:
    """The channel-layer group of one document's connections."""
    return f"doc.{document_id}"


async def publish(channel_layer, document_id: str, message: dict) -> None:
    """Announce a committed revision (an ``op`` message) to every server process."""
    await channel_layer.group_send(
        group_name(document_id), {"type": "doc.revision", "message": message}
    )


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


class RevisionFeed:
    """The revisions one connection is owed, each sent once and in order."""

    def __init__(
        self,
        *,
        document_id: str,
        user_id: int,
        client: str,
        send: Callable[[str], Awaitable[None]],
        max_frame: int,
        batch: int = 500,
    ) -> None:
        self.document_id = document_id
        self.user_id = user_id
        self.client = client
        self._send = send  # sends one text frame
        self.max_frame = max_frame  # bytes per frame
        self.batch = batch  # revisions per history query
        self.last_sent: int | None = None  # None until join has been answered
        self._lock = asyncio.Lock()  # one sender at a time keeps revisions in order
        self._quiet: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()

    def render(self, message: dict) -> dict:
        """An ``ack`` for this connection's own revisions, the ``op`` otherwise."""
        if message["user"]["id"] == self.user_id and message["client"] == self.client:
            return protocol.ack_message(seq=message["seq"], rev=message["rev"])
        return message

    async def join(self, since: int | None, *, role: str) -> int:
        """Answer ``join``: a catch-up from ``since`` or a snapshot, then ``ready``."""
        async with self._lock:
            head = await database_sync_to_async(selectors.document_head)(document_id=self.document_id)
            if since is None or since > head:
                rev, content = await database_sync_to_async(selectors.document_snapshot)(
                    document_id=self.document_id
                )
                await self._send_messages(
                    protocol.snapshot_messages(rev=rev, content=content, max_frame=self.max_frame)
                )
                self.last_sent = rev
            else:
                self.last_sent = since
            await self._fill(until=None)
            await self._send_messages([protocol.ready_message(rev=self.last_sent, role=role)])
            return self.last_sent

    async def offer(self, message: dict) -> None:
        """A revision was committed: send it, after any revisions still owed before it."""
        rev = message["rev"]
        async with self._lock:
            if self.last_sent is None or rev <= self.last_sent:
                return  # not joined yet, or already sent: a repeat changes nothing
            if rev > self.last_sent + 1:
                await self._fill(until=rev - 1)
            if rev == self.last_sent + 1:
                await self._send_messages([self.render(message)])
                self.last_sent = rev
        self._arm_quiet_check()

    async def catch_up(self) -> None:
        """Send whatever the database holds beyond what was sent."""
        async with self._lock:
            if self.last_sent is not None:
                await self._fill(until=None)

    def close(self) -> None:
        """Stop the quiet check."""
        if self._quiet is not None:
            self._quiet.cancel()
        for task in self._tasks:
            task.cancel()

    def _arm_quiet_check(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
        loop = asyncio.get_running_loop()
        self._quiet = loop.call_later(QUIET_CHECK_SECONDS, self._start_quiet_check)

    def _start_quiet_check(self) -> None:
        task = asyncio.get_running_loop().create_task(self._quiet_check())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quiet_check(self) -> None:
        try:
            await self.catch_up()
        except Exception:  # the socket may be gone; the next join re-synchronises
            log.warning("quiet check of %s failed", self.document_id, exc_info=True)

    async def _fill(self, *, until: int | None) -> None:
        """Send stored revisions after ``last_sent`` (through ``until``) in order."""
        while True:
            revisions = await database_sync_to_async(selectors.operations_since)(
                document_id=self.document_id, since=self.last_sent, until=until, limit=self.batch
            )
            if not revisions:
                return
            await self._send_messages(self.render(revision_message(r)) for r in revisions)
            self.last_sent = revisions[-1].rev
            if len(revisions) < self.batch:
                return

    async def _send_messages(self, messages) -> None:
        encoded = (protocol.dumps(m) for m in messages)
        for frame in protocol.frames(encoded, max_frame=self.max_frame):
            await self._send(frame)
