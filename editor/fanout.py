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
from typing import Any, Awaitable, Callable

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from . import protocol, selectors

log = logging.getLogger(__name__)

# Frames owed to one connection within this many seconds go out together.
TICK_SECONDS = 0.005
# After this many seconds without an announcement a hub asks the database whether it
# missed the last one.
QUIET_CHECK_SECONDS = 1.5
# Revisions read from the database per query when filling a gap.
FILL_BATCH = 500
# Most ops committed in one transaction when several wait.
COMMIT_BATCH = 64

_feed_ids = itertools.count(1)


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
        loop = asyncio.get_running_loop()
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
    ) -> None:
        self.id = next(_feed_ids)
        self.document_id = document_id
        self.user_id = user_id
        self.client = client
        self._send = send  # sends one text frame to the socket
        self.max_frame = max_frame
        self.batch = batch
        self.on_event = on_event  # access changes and the like, handled by the consumer
        self.last_sent: int | None = None  # None until join has been answered
        self.presence: dict | None = None  # this connection's own presence message
        self._joining = False
        self._aside: list[tuple[int, dict, str]] = []  # revisions that came during a join
        self._outbox: list[str] = []  # encoded messages not yet framed
        self._hub: Hub | None = None

    # --- what the hub calls ------------------------------------------------------

    def take(self, rev: int, message: dict, encoded: str) -> bool:
        """Queue revision ``rev`` if it is the next one owed; True when something was queued."""
        if self._joining or self.last_sent is None:
            if self._joining:
                self._aside.append((rev, message, encoded))
            return False
        if rev <= self.last_sent:
            return False  # a repeat changes nothing
        if rev != self.last_sent + 1:
            # The hub fills its own gaps, so this feed fell behind on its own (a fill
            # failed): re-synchronise from the database.
            self._aside.append((rev, message, encoded))
            self._start_resync()
            return False
        self._outbox.append(self._render(message, encoded))
        self.last_sent = rev
        return True

    def push(self, encoded: str) -> bool:
        """Queue a message that is not a revision (presence, leave)."""
        if self.last_sent is None:
            return False
        self._outbox.append(encoded)
        return True

    async def reply(self, message: dict) -> None:
        """Send a reply (an error, a repeated ack) after everything queued before it."""
        self._outbox.append(protocol.dumps(message))
        await self.flush()

    async def flush(self) -> None:
        """Send what is queued, packed into as few frames as the frame limit allows."""
        if not self._outbox:
            return
        encoded, self._outbox = self._outbox, []
        for frame in protocol.frames(encoded, max_frame=self.max_frame):
            await self._send(frame)

    # --- join and catch-up ---------------------------------------------------------

    async def join(self, since: int | None, *, role: str) -> int:
        """Answer ``join``: a catch-up from ``since`` or a snapshot, then ``ready``."""
        self._joining = True
        self._aside = []
        try:
            await self.flush()
            head = await database_sync_to_async(selectors.document_head)(document_id=self.document_id)
            if since is None or since > head:
                rev, content = await database_sync_to_async(selectors.document_snapshot)(
                    document_id=self.document_id
                )
                for message in protocol.snapshot_messages(rev=rev, content=content, max_frame=self.max_frame):
                    self._outbox.append(protocol.dumps(message))
                self.last_sent = rev
            else:
                self.last_sent = since
            await self._fill(until=None)
            self._outbox.append(protocol.dumps(protocol.ready_message(rev=self.last_sent, role=role)))
            await self._drain_aside()
        finally:
            self._joining = False
        await self.flush()
        return self.last_sent

    async def _drain_aside(self) -> None:
        """Queue revisions that arrived during a join or a resync, filling gaps first."""
        while self._aside:
            aside, self._aside = sorted(self._aside, key=lambda item: item[0]), []
            for rev, message, encoded in aside:
                if rev <= self.last_sent:
                    continue
                if rev > self.last_sent + 1:
                    await self._fill(until=rev - 1)
                if rev == self.last_sent + 1:
                    self._outbox.append(self._render(message, encoded))
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
        """Queue stored revisions after ``last_sent`` (through ``until``), in order."""
        while True:
            revisions = await database_sync_to_async(selectors.operations_since)(
                document_id=self.document_id, since=self.last_sent, until=until, limit=self.batch
            )
            for revision in revisions:
                message = revision_message(revision)
                self._outbox.append(self._render(message, None))
                self.last_sent = revision.rev
            if len(self._outbox) > 64:
                await self.flush()
            if len(revisions) < self.batch:
                return

    def _render(self, message: dict, encoded: str | None) -> str:
        """An ``ack`` for this connection's own revisions, the ``op`` otherwise."""
        if message["user"]["id"] == self.user_id and message["client"] == self.client:
            return protocol.dumps(protocol.ack_message(seq=message["seq"], rev=message["rev"]))
        return encoded if encoded is not None else protocol.dumps(message)


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
        return await future

    async def _commit_waiting(self) -> None:
        # Imported here: services announces the admin's edits through this module.
        from .services import operations_commit

        try:
            while self._queue:
                batch, self._queue = self._queue[:COMMIT_BATCH], self._queue[COMMIT_BATCH:]
                try:
                    results = await database_sync_to_async(operations_commit)(
                        document_id=self.document_id, submissions=[s for s, _ in batch]
                    )
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
                if announcements:
                    await self.publish(announcements)
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._committer = None

    # --- revisions -----------------------------------------------------------------

    async def publish(self, messages: list[dict]) -> None:
        """Announce revisions committed by this process: locally, then to the others."""
        await self.deliver(messages)
        try:
            await self.hubs.layer.group_send(
                group_name(self.document_id),
                _revisions_event(self.document_id, messages, origin=self.hubs.channel),
            )
        except Exception:  # committed all the same; other processes fill the gap later
            log.warning("announcing revisions of %s failed", self.document_id, exc_info=True)

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
        encoded = protocol.dumps(message)
        queued = False
        for feed in self.feeds.values():
            queued = feed.take(message["rev"], message, encoded) or queued
        self.last_rev = message["rev"]
        if queued:
            self._schedule_flush()

    async def _fill(self, *, until: int | None) -> None:
        while True:
            revisions = await database_sync_to_async(selectors.operations_since)(
                document_id=self.document_id, since=self.last_rev, until=until, limit=FILL_BATCH
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
        await self.hubs.layer.group_send(
            group_name(self.document_id), {**event, "origin": self.hubs.channel, "document": self.document_id}
        )

    # --- timing --------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(TICK_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        self._flush = None
        _spawn(self.flush())

    async def flush(self) -> None:
        """Send every feed what it is owed."""
        for feed in list(self.feeds.values()):
            try:
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
                head = await database_sync_to_async(selectors.document_head)(document_id=self.document_id)
                if self.last_rev is not None and head > self.last_rev and not self._filling:
                    # Stand in for the announcement that never came.
                    await self.deliver([{"rev": head, "missing": True}])
            except Exception:
                log.warning("quiet check of %s failed", self.document_id, exc_info=True)

        _spawn(check())

    def close(self) -> None:
        for handle in (self._flush, self._quiet):
            if handle is not None:
                handle.cancel()


class Hubs:
    """This process's hubs, and the one channel through which it hears other processes."""

    def __init__(self) -> None:
        self.layer = None
        self.channel: str | None = None
        self.hubs: dict[str, Hub] = {}
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def attach(self, feed: Feed) -> Hub:
        """Register a joined feed with its document's hub (creating the hub if needed)."""
        async with self._lock:
            await self._start()
            hub = self.hubs.get(feed.document_id)
            if hub is None:
                hub = Hub(feed.document_id, self)
                hub.last_rev = await database_sync_to_async(selectors.document_head)(
                    document_id=feed.document_id
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
            # The default prefix matters: channels-redis serves every "specific." channel
            # of a process from one receive loop, and any other prefix would wait its turn.
            self.channel = await self.layer.new_channel()
            self._reader = loop.create_task(self._read())

    async def _read(self) -> None:
        """Receive other processes' announcements for as long as this process lives."""
        while True:
            try:
                event = await self.layer.receive(self.channel)
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
                await hub.hubs.layer.send(event["origin"], {
                    "type": "introduce", "document": hub.document_id, "to": event["from"],
                    "origin": hub.hubs.channel, "encoded": protocol.dumps(feed.presence),
                })


_tasks: set[asyncio.Task] = set()


def _spawn(coroutine) -> None:
    """Run a coroutine in the background, keeping a reference until it ends."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


hubs = Hubs()
