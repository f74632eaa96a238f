"""A document's hub in one server process: commits, hands out, announces.

One :class:`Hub` per open document per process holds the :class:`~.feed.Feed` of every
local connection and puts together four small parts, one job each:

- :class:`~.committer.Committer`: group commit (every op waiting, in one transaction);
- :class:`Ordering`: hands each revision out once, in order, reading from the history
  what the announcements skipped, and asking the database after a quiet spell;
- :class:`Rounds`: tick batching (what a feed is owed within a tick goes out as one
  frame, the same frame for every feed owed just that);
- :class:`Announcer`: announcing to the other processes serving the document.

A committed revision is serialised once, handed to every local feed, and announced once
on the channel layer to one channel per *process*; other processes' hubs deliver what
they receive the same way. The registry of hubs and the channel they listen on are in
:mod:`editor.realtime.hubs`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from . import dbthread
from .bus import document_group, revisions_event, spawn
from .committer import Committer
from .feed import FILL_BATCH, Feed, Item, revision_message
from ..domain import selectors

if TYPE_CHECKING:
    from .hubs import Hubs

log = logging.getLogger(__name__)

# A hub sends what its connections are owed at once when it has not sent for a tick,
# else at the end of the tick: one frame per connection per tick however many
# revisions it carries. The tick grows with the number of connections (the cost of a
# round of frames) up to MAX_TICK_SECONDS, and an idle hub adds no delay at all.
TICK_SECONDS_PER_FEED = 0.0002
MAX_TICK_SECONDS = 0.04
# Largest frame shared by every connection of a round (larger rounds are split per feed).
MAX_SHARED_FRAME = 256 * 1024
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


class Rounds:
    """Tick batching: the revisions handed out since the last flush, and the timer of
    the next one."""

    def __init__(self, document_id: str, feeds: dict[int, Feed]) -> None:
        self.document_id = document_id
        self.feeds = feeds  # the hub's, shared
        self.pending: list[Item] = []  # handed out since the last flush: what the next one sends
        self.last_flush = float("-inf")  # loop time when the last flush started
        self._timer: asyncio.TimerHandle | None = None

    @property
    def due(self) -> float | None:
        """Loop time of the next flush, None when none is scheduled."""
        return None if self._timer is None else self._timer.when()

    def add(self, item: Item) -> None:
        """Put a revision in the next round."""
        self.pending.append(item)
        self.schedule()

    def schedule(self) -> None:
        """Flush at once (after what is being handed out now) when the last round is a
        tick old, else when it will be."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            tick = min(MAX_TICK_SECONDS, TICK_SECONDS_PER_FEED * len(self.feeds))
            delay = max(0.0, self.last_flush + tick - loop.time())
            self._timer = loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self.last_flush = asyncio.get_running_loop().time()
        spawn(self.flush())

    async def flush(self) -> None:
        """Send every feed what it is owed.

        The revisions of the round are joined into one frame once; every feed that is
        owed exactly that round, none of it its own (those are acks to it), gets that
        same frame. The others get theirs built for them.
        """
        round, self.pending = self.pending, []
        shared: str | None = None
        if round:
            authors = {(item.user_id, item.client) for item in round}
            body = ",".join(item.encoded for item in round)
            # Four bytes per code point at most: within the limit whatever the text.
            if 4 * len(body) + 2 <= MAX_SHARED_FRAME:
                shared = "[" + body + "]"
        for feed in list(self.feeds.values()):
            try:
                if shared is not None and feed.max_frame >= MAX_SHARED_FRAME and feed.shares(round[0].rev, authors):
                    feed.last_sent = round[-1].rev
                    await feed.send_frame(shared)
                    continue
                if round:
                    feed.take(round)
                await feed.flush()
            except Exception:  # one broken socket must not hold up the others
                log.debug("flushing a feed of %s failed", self.document_id, exc_info=True)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


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
        hand_to: Callable[[Item], None],
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
        self.recent: deque[Item] = deque()  # the last revisions handed out, in order
        self.recent_bytes = 0  # memory held by the encoded messages in ``recent``
        self._pending: list[dict] = []  # announcements waiting while a gap is filled
        self._filling = False
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
        if any(not m.get("missing") for m in messages):
            self.check_later()  # a quiet check does not re-arm itself

    def hand_out(self, message: dict) -> None:
        """Hand out the next revision (``last_rev`` + 1, or the first one)."""
        item = Item.of(message)
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
        while True:
            revisions = await self._history(
                document_id=self.document_id, since=self.last_rev, until=until, limit=FILL_BATCH
            )
            for revision in revisions:
                self.hand_out(revision_message(revision))
            if len(revisions) < FILL_BATCH:
                return

    def recent_after(self, after: int, *, until: int | None) -> list[Item] | None:
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


class Announcer:
    """Announces to the other processes serving the document.

    Revisions go out from a task of their own, so the next batch commits while this one
    is on its way; batches that wait meanwhile go out together, in order.
    """

    def __init__(self, document_id: str, hubs: Hubs | None) -> None:
        self.document_id = document_id
        self.hubs = hubs  # the process's registry: its channel layer and channel
        self._outgoing: list[dict] = []  # revisions waiting to be announced
        self._task: asyncio.Task | None = None

    @property
    def busy(self) -> bool:
        """Whether revisions wait to be announced or are on their way."""
        return self._task is not None

    def revisions(self, messages: list[dict]) -> None:
        """Announce revisions committed here; returns at once."""
        if self.hubs.alone:
            return
        self._outgoing.extend(messages)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._announce_waiting())

    async def _announce_waiting(self) -> None:
        try:
            while self._outgoing:
                messages, self._outgoing = self._outgoing, []
                try:
                    await self.hubs.layer.group_send(
                        document_group(self.document_id),
                        revisions_event(self.document_id, messages, origin=self.hubs.channel),
                    )
                except Exception:  # committed all the same; other processes fill the gap later
                    log.warning("announcing revisions of %s failed", self.document_id, exc_info=True)
        finally:
            self._task = None

    async def event(self, event: dict) -> None:
        """Send a non-revision event (presence, arrival, leave) to the other processes."""
        if self.hubs.alone:
            return
        await self.hubs.layer.group_send(
            document_group(self.document_id), {**event, "origin": self.hubs.channel, "document": self.document_id}
        )


class Hub:
    """Every local connection to one document, and what they are owed."""

    def __init__(
        self,
        document_id: str,
        hubs: Hubs | None,
        *,
        last_rev: int | None = None,
        commit: Callable[[list], list] | None = None,
        history: History = stored_revisions,
        head: Callable[..., Awaitable[int]] = stored_head,
    ) -> None:
        self.document_id = document_id
        self.hubs = hubs
        self.feeds: dict[int, Feed] = {}
        self.rounds = Rounds(document_id, self.feeds)
        self.order = Ordering(document_id, self._to_round, listened=lambda: bool(self.feeds), history=history, head=head)
        self.order.last_rev = last_rev
        self.announcer = Announcer(document_id, hubs)
        self.committer = Committer(document_id, publish=self.publish, on_failure=self.order.check_later, commit=commit)

    def add(self, feed: Feed) -> None:
        """Hand this hub's revisions to ``feed`` from now on."""
        self.feeds[feed.id] = feed
        feed.hub = self

    def remove(self, feed: Feed) -> bool:
        """Stop handing revisions to ``feed``; whether it was here."""
        return self.feeds.pop(feed.id, None) is not None

    @property
    def last_rev(self) -> int | None:
        """The highest revision handed out."""
        return self.order.last_rev

    @property
    def recent(self) -> deque[Item]:
        """The last revisions handed out, in order, for catch-ups."""
        return self.order.recent

    async def commit(self, submission) -> Any:
        """Commit a submission with whatever else waits (see :meth:`.Committer.commit`)."""
        return await self.committer.commit(submission)

    async def publish(self, messages: list[dict]) -> None:
        """Announce revisions committed by this process: locally, then to the others."""
        try:
            await self.deliver(messages)
        finally:  # the other processes hear of them even if delivering here failed
            self.announcer.revisions(messages)

    async def deliver(self, messages: list[dict]) -> None:
        """Hand revisions, in any order and possibly repeated or with gaps, to the feeds."""
        await self.order.deliver(messages)

    def _to_round(self, item: Item) -> None:
        if self.feeds:
            self.rounds.add(item)

    def push(self, encoded: str, *, skip: int | None = None, user_id: int | None = None) -> None:
        """Queue a non-revision message for local feeds (all, or one user's), but ``skip``."""
        queued = False
        for feed in self.feeds.values():
            if feed.id != skip and (user_id is None or feed.user_id == user_id):
                queued = feed.push(encoded) or queued
        if queued:
            self.rounds.schedule()

    async def announce(self, event: dict) -> None:
        """Send a non-revision event to the other processes serving this document."""
        await self.announcer.event(event)

    async def flush(self) -> None:
        """Send every feed what it is owed now."""
        await self.rounds.flush()

    @property
    def busy(self) -> bool:
        """Whether a commit is waiting or running, or revisions wait to be announced."""
        return self.committer.busy or self.announcer.busy

    def close(self) -> None:
        self.rounds.close()
        self.order.close()
