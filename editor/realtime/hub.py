"""A document's hub in one server process: commits, hands out, announces.

One :class:`Hub` per open document per process holds the :class:`~.feed.Feed` of every
local connection and puts together four small parts, one job each:

- :class:`~.committer.Committer`: group commit (every op waiting, in one transaction);
- :class:`~.ordering.Ordering`: hands each revision out once, in order, reading from
  the history what the announcements skipped, and asking the database after a quiet
  spell;
- :class:`Rounds`: batching (what a feed is owed between two rounds goes out as one
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
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..core import frames
from . import protocol
from .bus import document_group, revisions_event, spawn
from .committer import Committer
from .feed import EncodedRevision, Feed
from .ordering import History, Ordering, stored_head, stored_revisions

if TYPE_CHECKING:
    from .hubs import Hubs

log = logging.getLogger(__name__)

# A hub sends what its connections are owed at once when it has not sent for a while,
# else when the last round is FLUSH_SPACING times its own cost old: one frame per
# connection per round however many revisions it carries, and rounds take about
# 1/FLUSH_SPACING of the loop's time at most. The delay follows what a round costs on
# this machine (more connections, slower sends: longer), up to MAX_TICK_SECONDS, and a
# hub that is idle or lightly loaded adds next to none.
FLUSH_SPACING = 2
MAX_TICK_SECONDS = 0.04
# While no other process is known to serve a document, at most one heads-up per this
# many seconds tells the others that might (see Announcer); as long as the quiet check.
HEADS_UP_SECONDS = 1.5
# Largest frame shared by every connection of a round (larger rounds are split per feed).
MAX_SHARED_FRAME = frames.MAX_SHARED_FRAME


class Rounds:
    """Batching: the revisions handed out since the last flush, and the timer of the
    next one."""

    def __init__(self, document_id: str, feeds: dict[int, Feed]) -> None:
        self.document_id = document_id
        self.feeds = feeds  # the hub's, shared
        # Revisions handed out since the last flush: what the next one sends.
        self.pending: list[EncodedRevision] = []
        self.last_flush = float("-inf")  # loop time when the last flush started
        self.cost = 0.0  # seconds the last flush took
        self._timer: asyncio.TimerHandle | None = None

    @property
    def due(self) -> float | None:
        """Loop time of the next flush, None when none is scheduled."""
        return None if self._timer is None else self._timer.when()

    def add(self, item: EncodedRevision) -> None:
        """Put a revision in the next round."""
        self.pending.append(item)
        self.schedule()

    def schedule(self) -> None:
        """Flush at once (after what is being handed out now) when the last round is
        FLUSH_SPACING times its cost old, else when it will be."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            tick = min(MAX_TICK_SECONDS, FLUSH_SPACING * self.cost)
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
        started = time.perf_counter()
        try:
            await self._send_round()
        finally:
            self.cost = time.perf_counter() - started

    async def _send_round(self) -> None:
        round, self.pending = self.pending, []
        shared: str | None = None
        wire: bytes | None = None
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
                    if wire is None:  # framed once for every feed owed just this round
                        wire = protocol.text_frame(shared)
                    await feed.send_frame(shared, wire)
                    continue
                if round:
                    feed.take(round)
                await feed.flush()
            except Exception:  # one broken socket must not hold up the others
                log.debug("flushing a feed of %s failed", self.document_id, exc_info=True)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class Announcer:
    """Announces to the other processes serving the document.

    Revisions go out from a task of their own, so the next batch commits while this one
    is on its way; batches that wait meanwhile go out together, in order. They go out
    only while another process is known to serve the document (``peers``): a document
    open on one process costs the channel layer nothing per keystroke. Meanwhile, at
    most every HEADS_UP_SECONDS, a *heads-up* names the last revision committed (a
    ``missing`` revision, marked ``peerless``): a process that serves the document
    unbeknown to this one (the messages that would have said so were lost) reads what
    it missed and answers ``hub.here``.
    """

    def __init__(self, document_id: str, hubs: Hubs | None) -> None:
        self.document_id = document_id
        self.hubs = hubs  # the process's registry: its channel layer and channel
        # The channels of the other processes known to serve the document. A process
        # says so when it opens the document (``hub.open``, answered ``hub.here``) and
        # by anything it announces about it; it says ``hub.close`` when it closes it.
        self.peers: set[str] = set()
        self.highest: int | None = None  # the last revision committed here, announced or not
        self._outgoing: list[dict] = []  # revisions waiting to be announced
        self._task: asyncio.Task | None = None
        self._heads_up: asyncio.TimerHandle | None = None
        self._last_heads_up = float("-inf")  # loop time

    @property
    def busy(self) -> bool:
        """Whether revisions wait to be announced or are on their way."""
        return self._task is not None

    def revisions(self, messages: list[dict]) -> None:
        """Announce revisions committed here, if any other process serves the
        document; returns at once."""
        if self.hubs.alone:
            return
        self.highest = max(self.highest or 0, *(message["rev"] for message in messages))
        if not self.peers:
            self._schedule_heads_up()
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

    def _schedule_heads_up(self) -> None:
        if self._heads_up is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_heads_up + HEADS_UP_SECONDS - loop.time())
            self._heads_up = loop.call_later(delay, self._send_heads_up)

    def _send_heads_up(self) -> None:
        self._heads_up = None
        self._last_heads_up = asyncio.get_running_loop().time()
        marker = [{"rev": self.highest, "missing": True}]
        event = {**revisions_event(self.document_id, marker, origin=self.hubs.channel), "peerless": True}

        async def send() -> None:
            try:
                await self.hubs.layer.group_send(document_group(self.document_id), event)
            except Exception:  # the next heads-up says it again
                log.info("a heads-up about %s failed", self.document_id, exc_info=True)

        spawn(send())

    def close(self) -> None:
        if self._heads_up is not None:
            self._heads_up.cancel()

    def tell(self, channel: str, event: dict) -> None:
        """Send ``event`` about the document to one process's channel, in the background."""

        async def send() -> None:
            try:
                await self.hubs.layer.send(
                    channel, {**event, "origin": self.hubs.channel, "document": self.document_id}
                )
            except Exception:  # lost like any message: the heads-ups make up for it
                log.info("telling %s about %s failed", channel, self.document_id, exc_info=True)

        spawn(send())

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
        self.order = Ordering(
            document_id, self._to_round, listened=lambda: bool(self.feeds), history=history, head=head
        )
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
    def recent(self) -> deque[EncodedRevision]:
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

    async def through(self, rev: int) -> None:
        """Return once every revision through ``rev`` is handed out to the feeds."""
        await self.order.through(rev)

    async def deliver(self, messages: list[dict]) -> None:
        """Hand revisions, in any order and possibly repeated or with gaps, to the feeds."""
        await self.order.deliver(messages)

    def _to_round(self, item: EncodedRevision) -> None:
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

    def meet(self, channel: str, *, tell_head: bool = False) -> bool:
        """Note that the process listening on ``channel`` serves this document too;
        whether it was new. A new one (or, with ``tell_head``, any) is told the last
        revision committed or handed out here, so that it reads from the history what
        was committed here before either knew of the other (not announced then)."""
        new = channel not in self.announcer.peers
        self.announcer.peers.add(channel)
        head = max(self.last_rev or 0, self.announcer.highest or 0)
        if (new or tell_head) and head:
            self.announcer.tell(channel, {"type": "revisions", "messages": [{"rev": head, "missing": True}]})
        return new

    def part(self, channel: str) -> None:
        """Note that the process listening on ``channel`` no longer serves this document."""
        self.announcer.peers.discard(channel)

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
        self.announcer.close()
