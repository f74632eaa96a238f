"""Fan-out: which revisions each connection is owed, and sending them.

One :class:`Hub` per document per server process holds the :class:`Feed` of every
local connection. A committed revision is serialised once, handed to every local feed,
and announced once on the channel layer, to one channel per *process* (not one per
connection); other processes' hubs do the same with what they receive. What a feed is
owed within a short tick goes out as one frame.

The channel layer is only a hint: it may drop (channels-redis drops messages to full
channels by design), repeat or reorder. A hub therefore tracks the last revision it
delivered, ignores repeats, and fills any gap from the op history; after a quiet spell
it asks the database once whether it missed the last announcement.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sys
from typing import Any, Awaitable, Callable, NamedTuple

from collections import deque

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

from django.conf import settings

from . import dbthread, frames, metrics, protocol, selectors
from .state import DocumentState

log = logging.getLogger(__name__)

# A hub sends what its connections are owed at once when it has not sent for a tick,
# else at the end of the tick: one frame per connection per tick however many
# revisions it carries. The tick grows with the number of connections (the cost of a
# round of frames) up to MAX_TICK_SECONDS, and an idle hub adds no delay at all.
TICK_SECONDS_PER_FEED = 0.0002
MAX_TICK_SECONDS = 0.04
# Revisions a hub keeps, serialised, to answer catch-ups without reading the history:
# at most this many, and at most RECENT_BYTES of them (so a few huge pastes cannot make
# an open document hold hundreds of megabytes).
RECENT_MESSAGES = 1000
RECENT_BYTES = 16 * 1024 * 1024
# Largest frame shared by every connection of a round (larger rounds are split per feed).
MAX_SHARED_FRAME = frames.MAX_SHARED_FRAME
# After this many seconds without an announcement a hub asks the database whether it
# missed the last one.
QUIET_CHECK_SECONDS = 1.5
# Channel layers drop a group's member group_expiry after it joined (a day by default),
# and a document or a user may stay open here longer: their groups are joined again
# this often.
GROUP_REFRESH_SECONDS = 3600
# A process checks this often that the channel layer still holds its groups (a Redis
# restarted empty holds none), and joins them again at once when it does not.
CANARY_SECONDS = 2.0
# Revisions read from the database per query when filling a gap, as in a catch-up.
FILL_BATCH = settings.COLLAB_CATCHUP_BATCH
# Most ops committed in one transaction when several wait.
COMMIT_BATCH = 64
# A join owed more revisions than this (and without pending edits) gets a snapshot
# instead when the text is smaller than those revisions; shorter catch-ups are cheap.
SNAPSHOT_CATCHUP_MIN_REVISIONS = 100

_feed_ids = itertools.count(1)


def stopping() -> bool:
    """Whether the running task was asked to stop.

    A loop that carries on after a channel-layer error must check this before it does:
    the layer's client may turn the cancellation of a command into an error of its own
    (redis-py on Python 3.11 can report a cancelled read as a ``TimeoutError``), and a
    loop that took it for a hiccup would never end.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class GroupKeeper:
    """Keeps one channel in every group it should be in, for as long as the process lives.

    Channel layers forget members: each one group_expiry after it joined (a day by
    default), and all of them at once when Redis restarts empty. So the keeper joins
    every group again every GROUP_REFRESH_SECONDS, and sooner when the layer has lost
    them: every CANARY_SECONDS it sends a canary to a group that only its channel is in,
    and when a canary has not come back two rounds later, it joins every group again at
    once and calls ``on_rejoin`` (what was announced meanwhile never arrived). The
    channel's reader hands each event to :meth:`heard` first.
    """

    def __init__(
        self,
        layer,
        channel: str,
        groups: Callable[[], list[str]],
        lock: asyncio.Lock,
        on_rejoin: Callable[[], None] | None = None,
    ) -> None:
        self.layer = layer
        self.channel = channel
        self.groups = groups  # the groups the channel should be in now
        self.lock = lock  # held by whoever adds or discards one of those groups
        self.on_rejoin = on_rejoin
        self.canary_group = "canary." + re.sub(r"[^\w.-]", "-", channel)[:90]
        self._sent = 0  # the number of the last canary sent...
        self._heard = 0  # ...and of the last one that came back
        self._failing = False  # the last round failed (logged once per outage)

    def heard(self, event: dict) -> bool:
        """Whether ``event`` is this keeper's canary, which then needs nothing else."""
        if event.get("type") != "groups.canary" or event.get("channel") != self.channel:
            return False
        self._heard = max(self._heard, event.get("n", 0))
        return True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        joined = float("-inf")
        while True:
            try:
                # The canary of the round before last: the last one may still be on its
                # way through a busy process.
                lost = self._heard < self._sent - 1
                if lost or loop.time() - joined >= GROUP_REFRESH_SECONDS:
                    async with self.lock:  # not between another task's add and discard of a group
                        for group in [self.canary_group, *self.groups()]:
                            await self.layer.group_add(group, self.channel)
                    joined = loop.time()
                    if lost:
                        # The layer lost the groups, or dropped the canary (a full channel).
                        log.info("a canary to %s did not come back: joined its groups again", self.channel)
                        if self.on_rejoin is not None:
                            self.on_rejoin()
                self._sent += 1
                await self.layer.group_send(
                    self.canary_group, {"type": "groups.canary", "channel": self.channel, "n": self._sent}
                )
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer is down: the next round tries again
                if not self._failing:
                    log.warning("keeping the groups of %s failed", self.channel, exc_info=True)
                self._failing = True
            if stopping():
                raise asyncio.CancelledError
            await asyncio.sleep(min(CANARY_SECONDS, GROUP_REFRESH_SECONDS))


def group_name(document_id: str) -> str:
    """The channel-layer group of the processes serving one document."""
    return f"doc.{document_id}"


def _revisions_event(document_id: str, messages: list[dict], origin: str | None = None) -> dict:
    """The channel-layer event announcing committed revisions of one document."""
    return {"type": "revisions", "origin": origin, "document": document_id, "messages": messages}


async def publish(channel_layer, document_id: str, message: dict) -> None:
    """Announce a revision committed outside a hub (the admin, scripts) to every process."""
    await channel_layer.group_send(group_name(document_id), _revisions_event(document_id, [message]))


def publish_from_sync(document_id: str, message: dict) -> None:
    """:func:`publish` from synchronous code."""
    send_from_sync(group_name(document_id), _revisions_event(document_id, [message]))


def send_from_sync(group: str, message: dict) -> None:
    """``group_send`` from synchronous code: views, the admin, signals, shells."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(group, message)
    else:
        # Sync code on an event loop's thread (a shell, a test) cannot block on that
        # loop; the message is scheduled on it instead.
        _spawn(layer.group_send(group, message))


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


class Item(NamedTuple):
    """A revision as a hub hands it out: its ``op`` message, serialised once, and who
    made it (that connection is sent an ``ack`` instead). The message itself is not
    kept: a hub keeps hundreds of these per document."""

    rev: int
    user_id: int
    client: str
    seq: int
    encoded: str

    @classmethod
    def of(cls, message: dict) -> "Item":
        return cls(message["rev"], message["user"]["id"], message["client"], message["seq"], protocol.dumps(message))


class Feed:
    """What one connection is owed: every revision after ``last_sent``, once, in order.

    The hub hands revisions over with :meth:`take`, which never waits; a feed that is
    still answering ``join`` keeps them aside until its catch-up is sent.
    """

    def __init__(
        self,
        *,
        document_id: str,
        user_id: int,
        client: str,
        send: Callable[[str], Awaitable[None]],
        max_frame: int,
        batch: int = FILL_BATCH,
        on_event: Callable[[dict], Awaitable[None]] | None = None,
        writable: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.id = next(_feed_ids)
        self.document_id = document_id
        self.user_id = user_id
        self.client = client
        self._send = send  # sends one text frame to the socket
        self.max_frame = max_frame
        self.batch = batch
        self.on_event = on_event  # access changes and the like, handled by the consumer
        # Waits until the socket has room (flow control): catch-ups are sent at the pace
        # the client reads them, never as one burst.
        self._writable = writable
        self.last_sent: int | None = None  # None until join has been answered
        self.presence: dict | None = None  # this connection's own presence message
        self._joining = False
        self._aside: list[Item] = []  # revisions that came during a join
        self._outbox: list[str] = []  # encoded messages not yet framed
        self._hub: Hub | None = None

    # --- what the hub calls ------------------------------------------------------

    def take(self, revisions: list[Item]) -> None:
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
        if self._hub is not None:
            self.take(self._hub.round)  # revisions handed out but not yet sent come first
        self._outbox.append(protocol.dumps(message))
        await self.flush()

    async def send_frame(self, frame: str) -> None:
        """Send one ready-made frame."""
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
            elif not pending and head - since > SNAPSHOT_CATCHUP_MIN_REVISIONS:
                snapshot = await dbthread.run(
                    selectors.snapshot_if_smaller, document_id=self.document_id, since=since
                )
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

        _spawn(resync())

    async def _fill(self, *, until: int | None) -> None:
        """Queue revisions after ``last_sent`` (through ``until``), in order: from the
        hub's recent revisions when it still has them, else from the history."""
        while True:
            if self._hub is not None and self._take_recent(until):
                return
            revisions = await dbthread.run(
                selectors.operations_since, document_id=self.document_id, since=self.last_sent,
                until=until, limit=self.batch,
            )
            for revision in revisions:
                self._outbox.append(self._render(Item.of(revision_message(revision))))
                self.last_sent = revision.rev
            if len(self._outbox) > 64 or sum(map(len, self._outbox)) > self.max_frame:
                await self._flush_paced()
            if len(revisions) < self.batch:
                return

    def _take_recent(self, until: int | None) -> bool:
        """Queue the hub's recent revisions after ``last_sent`` if it holds all of them
        (through ``until``, or through the last one it handed out); True if it did."""
        hub = self._hub
        recent = hub.recent
        last = hub.last_rev if until is None else until
        if last is None or hub.last_rev is None or last > hub.last_rev:
            return False
        if last <= self.last_sent:
            return True
        if not recent or recent[0].rev > self.last_sent + 1:
            return False
        start = self.last_sent + 1 - recent[0].rev
        for index in range(start, start + last - self.last_sent):
            item = recent[index]
            self._outbox.append(self._render(item))
            self.last_sent = item.rev
        return True

    def _render(self, item: Item) -> str:
        """An ``ack`` for this connection's own revisions, the ``op`` otherwise."""
        if item.user_id == self.user_id and item.client == self.client:
            return protocol.dumps(protocol.ack_message(seq=item.seq, rev=item.rev))
        return item.encoded


class Hub:
    """Every local connection to one document, and the document's announcements."""

    def __init__(self, document_id: str, hubs: "Hubs") -> None:
        self.document_id = document_id
        self.hubs = hubs
        self.feeds: dict[int, Feed] = {}
        self.last_rev: int | None = None  # highest revision handed to the feeds
        self._pending: list[dict] = []  # announcements waiting while a gap is filled
        self._filling = False
        self._flush: asyncio.TimerHandle | None = None
        self._quiet: asyncio.TimerHandle | None = None
        self._queue: list[tuple[Any, asyncio.Future]] = []  # submissions waiting to commit
        self._committer: asyncio.Task | None = None
        self._outgoing: list[dict] = []  # revisions waiting to be announced to other processes
        self._announcer: asyncio.Task | None = None
        # The document as the committer last left it; read and written on the
        # database thread only, by one commit at a time.
        self.state: DocumentState | None = None
        # The last revisions handed to the feeds, in order.
        self.recent: deque[Item] = deque()
        self.recent_bytes = 0  # memory held by the encoded messages in ``recent``
        # Revisions handed out since the last flush: what the next one sends.
        self.round: list[Item] = []
        self._last_flush = float("-inf")

    # --- commits -------------------------------------------------------------------

    async def commit(self, submission):
        """Commit a submission, together with whatever else is waiting (group commit).

        Returns what :func:`editor.services.operations_commit` made of it: a
        ``Committed`` or the error refusing it. New revisions are published before
        this returns, so the sender's ``ack`` is already on its way.
        """
        future = asyncio.get_running_loop().create_future()
        self._queue.append((submission, future))
        if self._committer is None:
            self._committer = asyncio.get_running_loop().create_task(self._commit_waiting())
        with metrics.commit_timer():
            return await future

    def _commit_sync(self, submissions: list) -> list:
        """Commit on the database thread, keeping the hub's state of the document."""
        # Imported here: services announces the admin's edits through this module.
        from . import services

        if self.state is None:
            self.state = services.document_state(document_id=self.document_id)
        return services.operations_commit(
            document_id=self.document_id, submissions=submissions, state=self.state
        )

    async def _commit_waiting(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:COMMIT_BATCH], self._queue[COMMIT_BATCH:]
                try:
                    results = await dbthread.run(self._commit_sync, [s for s, _ in batch])
                except Exception as exc:  # the whole transaction failed: each sender hears of it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                announcements = [
                    protocol.op_message(
                        rev=result.revision, client=s.client, seq=s.seq, user_id=s.user.pk,
                        user_name=s.user.get_username(), ops=result.ops,
                    )
                    for (s, _), result in zip(batch, results)
                    if not isinstance(result, Exception) and not result.duplicate
                ]
                try:
                    if announcements:
                        metrics.OPS_COMMITTED.inc(len(announcements))
                        await self.publish(announcements)
                except Exception as exc:
                    # Committed, but not handed out here (the database went away while
                    # a gap was filled). The senders hear of a server fault, reconnect,
                    # and are acked when they resend; the other connections get the
                    # revisions at the next delivery or the check after a quiet spell.
                    log.warning("handing out revisions of %s failed", self.document_id, exc_info=True)
                    self._arm_quiet_check()
                    for (_, future), result in zip(batch, results):
                        if not future.done():
                            if isinstance(result, Exception):
                                future.set_result(result)
                            else:
                                future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._committer = None

    # --- revisions -----------------------------------------------------------------

    async def publish(self, messages: list[dict]) -> None:
        """Announce revisions committed by this process: locally, then to the others.

        The others hear of them from a task of their own, so the next batch commits
        while this one is on its way; batches that wait meanwhile go out together.
        """
        try:
            await self.deliver(messages)
        finally:  # the other processes hear of them even if delivering here failed
            if not self.hubs.alone:
                self._outgoing.extend(messages)
                if self._announcer is None:
                    self._announcer = asyncio.get_running_loop().create_task(self._announce_waiting())

    async def _announce_waiting(self) -> None:
        try:
            while self._outgoing:
                messages, self._outgoing = self._outgoing, []
                try:
                    await self.hubs.layer.group_send(
                        group_name(self.document_id),
                        _revisions_event(self.document_id, messages, origin=self.hubs.channel),
                    )
                except Exception:  # committed all the same; other processes fill the gap later
                    log.warning("announcing revisions of %s failed", self.document_id, exc_info=True)
        finally:
            self._announcer = None

    async def deliver(self, messages: list[dict]) -> None:
        """Hand revisions, in any order and possibly repeated or with gaps, to the feeds."""
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
                        self._hand_out(message)
        finally:
            self._filling = False
        if any(not m.get("missing") for m in messages):
            self._arm_quiet_check()  # a quiet check does not re-arm itself

    def _hand_out(self, message: dict) -> None:
        """Add the next revision to the round the feeds get at the next flush."""
        item = Item.of(message)
        self.last_rev = item.rev
        if self.recent and self.recent[-1].rev != self.last_rev - 1:
            self.recent.clear()  # keep it contiguous: a fill may have skipped ahead
            self.recent_bytes = 0
        self.recent.append(item)
        self.recent_bytes += sys.getsizeof(item.encoded)
        while len(self.recent) > 1 and (len(self.recent) > RECENT_MESSAGES or self.recent_bytes > RECENT_BYTES):
            self.recent_bytes -= sys.getsizeof(self.recent.popleft().encoded)
        if self.feeds:
            self.round.append(item)
            self._schedule_flush()

    async def _fill(self, *, until: int | None) -> None:
        while True:
            revisions = await dbthread.run(
                selectors.operations_since, document_id=self.document_id, since=self.last_rev, until=until, limit=FILL_BATCH
            )
            for revision in revisions:
                self._hand_out(revision_message(revision))
            if len(revisions) < FILL_BATCH:
                return

    # --- other messages ------------------------------------------------------------

    def push(self, encoded: str, *, skip: int | None = None, user_id: int | None = None) -> None:
        """Queue a non-revision message for local feeds (all, or one user's), but ``skip``."""
        queued = False
        for feed in self.feeds.values():
            if feed.id != skip and (user_id is None or feed.user_id == user_id):
                queued = feed.push(encoded) or queued
        if queued:
            self._schedule_flush()

    async def announce(self, event: dict) -> None:
        """Send a non-revision event to the other processes serving this document."""
        if self.hubs.alone:
            return
        await self.hubs.layer.group_send(
            group_name(self.document_id), {**event, "origin": self.hubs.channel, "document": self.document_id}
        )

    # --- timing --------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush is None:
            loop = asyncio.get_running_loop()
            tick = min(MAX_TICK_SECONDS, TICK_SECONDS_PER_FEED * len(self.feeds))
            # At once (after what is being handed out now) when the last round is a
            # tick old, else when it will be.
            delay = max(0.0, self._last_flush + tick - loop.time())
            self._flush = loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush = None
        self._last_flush = asyncio.get_running_loop().time()
        _spawn(self.flush())

    async def flush(self) -> None:
        """Send every feed what it is owed.

        The revisions of the round are joined into one frame once; every feed that is
        owed exactly that round, none of it its own (those are acks to it), gets that
        same frame. The others get theirs built for them.
        """
        round, self.round = self.round, []
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

    def _arm_quiet_check(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = asyncio.get_running_loop().call_later(QUIET_CHECK_SECONDS, self._start_quiet_check)

    def _start_quiet_check(self) -> None:
        self._quiet = None

        async def check() -> None:
            try:
                head = await dbthread.run(selectors.document_head, document_id=self.document_id)
                if self.last_rev is not None and head > self.last_rev and not self._filling:
                    # Stand in for the announcement that never came.
                    await self.deliver([{"rev": head, "missing": True}])
            except Exception:  # the database is away: check again later, while anyone listens
                log.warning("quiet check of %s failed", self.document_id, exc_info=True)
                if self.feeds:
                    self._arm_quiet_check()

        _spawn(check())

    @property
    def busy(self) -> bool:
        """Whether a commit is waiting or running, or revisions wait to be announced."""
        return bool(self._queue) or self._committer is not None or self._announcer is not None

    def close(self) -> None:
        for handle in (self._flush, self._quiet):
            if handle is not None:
                handle.cancel()


class Hubs:
    """This process's hubs, and the one channel through which it hears other processes."""

    def __init__(self) -> None:
        self.layer = None
        self.channel: str | None = None
        # True when no other process can share the channel layer (the in-memory one):
        # this process's own revisions and presence then need no announcing.
        self.alone = False
        self.hubs: dict[str, Hub] = {}
        self._reader: asyncio.Task | None = None
        self._keeper: asyncio.Task | None = None
        self.keeper: GroupKeeper | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def attach(self, feed: Feed) -> Hub:
        """Register a joined feed with its document's hub (creating the hub if needed)."""
        async with self._lock:
            await self._start()
            hub = self.hubs.get(feed.document_id)
            if hub is None:
                hub = Hub(feed.document_id, self)
                hub.last_rev = await dbthread.run(
                    selectors.document_head, document_id=feed.document_id
                )
                self.hubs[feed.document_id] = hub
                await self.layer.group_add(group_name(feed.document_id), self.channel)
            hub.feeds[feed.id] = feed
            feed._hub = hub
            return hub

    async def detach(self, feed: Feed) -> None:
        """Forget a feed; the last one of a document takes its hub away."""
        async with self._lock:
            hub = self.hubs.get(feed.document_id)
            if hub is None or hub.feeds.pop(feed.id, None) is None:
                return
            if not hub.feeds:
                hub.close()
                del self.hubs[feed.document_id]
                await self.layer.group_discard(group_name(feed.document_id), self.channel)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a fresh event loop (tests run several) starts afresh
            self._loop, self.hubs, self._reader = loop, {}, None
        if self._reader is None:
            self.layer = get_channel_layer()
            self.alone = isinstance(self.layer, InMemoryChannelLayer)
            # The default prefix matters: channels-redis serves every "specific." channel
            # of a process from one receive loop, and any other prefix would wait its turn.
            self.channel = await self.layer.new_channel()
            self._reader = loop.create_task(self._read())
            self.keeper = GroupKeeper(
                self.layer, self.channel, lambda: [group_name(d) for d in self.hubs], self._lock,
                on_rejoin=self._check_heads,
            )
            self._keeper = loop.create_task(self.keeper.run())

    def _check_heads(self) -> None:
        """Read what every open document committed while announcements were lost."""
        for hub in list(self.hubs.values()):
            hub._start_quiet_check()

    async def _read(self) -> None:
        """Receive other processes' announcements for as long as this process lives."""
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if stopping():
                    raise asyncio.CancelledError from None
                log.warning("receiving from the channel layer failed", exc_info=True)
                await asyncio.sleep(0.5)  # a layer that keeps failing must not spin the loop
                continue
            try:
                if not self.keeper.heard(event):
                    await self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling a channel-layer event failed")

    async def _dispatch(self, event: dict[str, Any]) -> None:
        hub = self.hubs.get(event.get("document", ""))
        if hub is None:
            return
        kind = event.get("type")
        if kind == "revisions":
            if event.get("origin") != self.channel:
                await hub.deliver(event["messages"])
        elif kind in ("presence", "leave", "arrival", "introduce"):
            if event.get("origin") != self.channel:
                await _on_peer_event(hub, event)
        elif kind == "doc.access":
            for feed in list(hub.feeds.values()):
                if feed.on_event and event.get("user_id") in (None, feed.user_id):
                    _spawn(feed.on_event(event))


async def _on_peer_event(hub: Hub, event: dict) -> None:
    """Presence traffic from another process."""
    kind = event["type"]
    if kind == "introduce":  # answers to one of our newcomers
        feed = hub.feeds.get(event["to"])
        if feed is not None and feed.push(event["encoded"]):
            hub._schedule_flush()
        return
    hub.push(event["encoded"])
    if kind == "arrival":  # tell the newcomer on that process who is here
        for feed in list(hub.feeds.values()):
            if feed.presence is not None:
                try:
                    await hub.hubs.layer.send(event["origin"], {
                        "type": "introduce", "document": hub.document_id, "to": event["from"],
                        "origin": hub.hubs.channel, "encoded": protocol.dumps(feed.presence),
                    })
                except ChannelFull:
                    # That process is flooded (a crowd rejoining at once): the newcomer
                    # sees the others at their next presence, as after a lost message.
                    log.info("introductions to a newcomer on %s dropped: its channel is full", event["origin"])
                    return


_tasks: set[asyncio.Task] = set()


def _spawn(coroutine) -> None:
    """Run a coroutine in the background, keeping a reference until it ends."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


hubs = Hubs()
