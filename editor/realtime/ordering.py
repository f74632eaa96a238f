"""Ordering and gap filling: a hub hands each revision out once, in order.

Announcements come through the channel layer, which may drop, repeat or reorder them.
An :class:`Ordering` ignores repeats, reads a gap from the history before the revision
past it, keeps the last revisions handed out for catch-ups, and after a quiet spell
asks the database once whether the last announcement was lost.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable

from django.conf import settings

from ..domain import selectors
from . import dbthread
from .bus import spawn
from .feed import EncodedRevision, revision_message

log = logging.getLogger(__name__)

# Revisions a hub keeps, serialised, to answer catch-ups without reading the history:
# at most this many, and at most RECENT_BYTES of them (so a few huge pastes cannot make
# an open document hold hundreds of megabytes).
RECENT_MESSAGES = 1000
RECENT_BYTES = 16 * 1024 * 1024
# After this many seconds without an announcement a hub asks the database whether it
# missed the last one.
QUIET_CHECK_SECONDS = 1.5

History = Callable[..., Awaitable[list[selectors.Revision]]]


async def stored_revisions(*, document_id: str, since: int | None, until: int | None, limit: int) -> list:
    """Committed revisions after ``since`` (through ``until``), read on the database thread."""
    return await dbthread.run(
        selectors.operations_since, document_id=document_id, since=since, until=until, limit=limit
    )


async def stored_head(*, document_id: str) -> int:
    """The document's last committed revision, read on the database thread."""
    return await dbthread.run(selectors.document_head, document_id=document_id)


class Ordering:
    """Hands each revision out once and in order, whatever order announcements come in.

    The channel layer may drop, repeat or reorder: repeats are ignored, a gap is read
    from the history before the revision past it, and after a quiet spell the database
    is asked once whether the last announcement was lost. The last revisions handed out
    stay in ``recent`` (contiguous) for catch-ups.
    """

    def __init__(
        self,
        document_id: str,
        hand_to: Callable[[EncodedRevision], None],
        *,
        listened: Callable[[], bool],
        history: History = stored_revisions,
        head: Callable[..., Awaitable[int]] = stored_head,
    ) -> None:
        self.document_id = document_id
        self._hand_to = hand_to  # where each revision goes, in order
        self._listened = listened  # whether any connection still listens
        self._history, self._head = history, head
        self.last_rev: int | None = None  # highest revision handed out
        self.recent: deque[EncodedRevision] = deque()  # the last revisions handed out, in order
        self.recent_bytes = 0  # memory held by the encoded messages in ``recent``
        self._pending: list[dict] = []  # announcements waiting while a gap is filled
        self._filling = False
        self._filled: list[asyncio.Future] = []  # waiting for the running fill to end
        self._quiet: asyncio.TimerHandle | None = None

    async def deliver(self, messages: list[dict]) -> None:
        """Hand revisions, in any order and possibly repeated or with gaps, out in order."""
        self._pending.extend(messages)
        if self._filling:
            return  # the running fill delivers them in order
        self._filling = True
        try:
            while self._pending:
                pending, self._pending = sorted(self._pending, key=lambda m: m["rev"]), []
                for message in pending:
                    rev = message["rev"]
                    if self.last_rev is not None and rev <= self.last_rev:
                        continue
                    if self.last_rev is not None and rev > self.last_rev + 1:
                        await self._fill(until=rev - 1)
                    if message.get("missing"):  # only known by number: read it too
                        await self._fill(until=rev)
                    else:
                        self.hand_out(message)
        finally:
            self._filling = False
            filled, self._filled = self._filled, []
            for waiter in filled:
                if not waiter.done():
                    waiter.set_result(None)
        if any(not m.get("missing") for m in messages):
            self.check_later()  # a quiet check does not re-arm itself

    async def through(self, rev: int) -> None:
        """Return once every revision through ``rev`` is handed out, reading from the
        history what no announcement has brought yet.

        A resend of an op that another process committed is answered with its ``ack`` at
        once; this comes first, so that the ack never reaches a connection before the
        revisions under it.
        """
        while self.last_rev is not None and self.last_rev < rev:
            if self._filling:  # the running fill may get there: wait for it, then look again
                waiter = asyncio.get_running_loop().create_future()
                self._filled.append(waiter)
                await waiter
            else:
                await self.deliver([{"rev": rev, "missing": True}])

    def hand_out(self, message: dict) -> None:
        """Hand out the next revision (``last_rev`` + 1, or the first one)."""
        item = EncodedRevision.of(message)
        self.last_rev = item.rev
        if self.recent and self.recent[-1].rev != self.last_rev - 1:
            self.recent.clear()  # keep it contiguous: a fill may have skipped ahead
            self.recent_bytes = 0
        self.recent.append(item)
        self.recent_bytes += sys.getsizeof(item.encoded)
        while len(self.recent) > 1 and (len(self.recent) > RECENT_MESSAGES or self.recent_bytes > RECENT_BYTES):
            self.recent_bytes -= sys.getsizeof(self.recent.popleft().encoded)
        self._hand_to(item)

    async def _fill(self, *, until: int | None) -> None:
        batch = settings.COLLAB_CATCHUP_BATCH  # revisions per query, as in a catch-up
        while True:
            revisions = await self._history(document_id=self.document_id, since=self.last_rev, until=until, limit=batch)
            for revision in revisions:
                self.hand_out(revision_message(revision))
            if len(revisions) < batch:
                return

    def recent_after(self, after: int, *, until: int | None) -> list[EncodedRevision] | None:
        """The revisions after ``after`` through ``until`` (through the last one handed
        out, for None) if ``recent`` holds every one of them; else None."""
        last = self.last_rev if until is None else until
        if last is None or self.last_rev is None or last > self.last_rev:
            return None
        if last <= after:
            return []
        if not self.recent or self.recent[0].rev > after + 1:
            return None
        start = after + 1 - self.recent[0].rev
        return [self.recent[index] for index in range(start, start + last - after)]

    @property
    def check_pending(self) -> bool:
        """Whether a quiet check is scheduled."""
        return self._quiet is not None

    def check_later(self) -> None:
        """Ask the database after a quiet spell (from now) whether an announcement was lost."""
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = asyncio.get_running_loop().call_later(QUIET_CHECK_SECONDS, self.check_now)

    def check_now(self) -> None:
        """Read what was committed past ``last_rev`` (announcements lost), in the background."""
        self._quiet = None

        async def check() -> None:
            try:
                head = await self._head(document_id=self.document_id)
                if self.last_rev is not None and head > self.last_rev and not self._filling:
                    # Stand in for the announcement that never came.
                    await self.deliver([{"rev": head, "missing": True}])
            except Exception:  # the database is away: check again later, while anyone listens
                log.warning("quiet check of %s failed", self.document_id, exc_info=True)
                if self._listened():
                    self.check_later()

        spawn(check())

    def close(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
