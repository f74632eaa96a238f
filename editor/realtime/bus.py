"""The process bus: this process's channels on the channel layer.

A server process holds two channels: the hubs' (revisions and presence of the documents
open here, in the group :func:`document_group` of each) and the watcher's (sign-out
notices, in the group :func:`user_group` of each user with a socket here). Each is a
:class:`ProcessChannel`: one task reads it and one :class:`GroupKeeper` keeps it in its
groups. Synchronous code (pages, the admin, signals) sends with :func:`send_from_sync`.

The channel layer is only a hint: it may drop (channels-redis drops messages to full
channels by design), repeat or reorder, and whoever listens must make up for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

# Channel layers drop a group's member group_expiry after it joined (a day by default),
# and a document or a user may stay open here longer: their groups are joined again
# this often.
GROUP_REFRESH_SECONDS = 3600
# A process checks this often that the channel layer still holds its groups (a Redis
# restarted empty holds none), and joins them again at once when it does not.
CANARY_SECONDS = 2.0


def document_group(document_id: str) -> str:
    """The channel-layer group of the processes serving one document."""
    return f"doc.{document_id}"


def user_group(user_id: int) -> str:
    """The channel-layer group of the processes holding a socket of the user."""
    return f"user.{user_id}"


def revisions_event(document_id: str, messages: list[dict], origin: str | None = None) -> dict:
    """The channel-layer event announcing committed revisions of one document."""
    return {"type": "revisions", "origin": origin, "document": document_id, "messages": messages}


def stopping() -> bool:
    """Whether the running task was asked to stop.

    A loop that carries on after a channel-layer error must check this before it does:
    the layer's client may turn the cancellation of a command into an error of its own
    (redis-py on Python 3.11 can report a cancelled read as a ``TimeoutError``), and a
    loop that took it for a hiccup would never end.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


_tasks: set[asyncio.Task] = set()


def spawn(coroutine) -> None:
    """Run a coroutine in the background, keeping a reference until it ends."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


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
        spawn(layer.group_send(group, message))


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

    @property
    def canaries_heard(self) -> int:
        """How many of this keeper's canaries came back (the number of the last one)."""
        return self._heard

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


class ProcessChannel:
    """One channel of this process: a task reads it for as long as the process lives
    and hands each event to ``on_event``; a :class:`GroupKeeper` keeps it in ``groups``.

    ``what`` names the events in log lines ("revisions and presence", "sign-out notices").
    """

    def __init__(
        self,
        *,
        what: str,
        groups: Callable[[], list[str]],
        lock: asyncio.Lock,
        on_event: Callable[[dict[str, Any]], Awaitable[None]],
        on_rejoin: Callable[[], None] | None = None,
    ) -> None:
        self.what = what
        self.layer: Any = None
        self.name: str | None = None  # the channel's name, once open
        self.keeper: GroupKeeper | None = None
        self._groups, self._lock, self._on_event, self._on_rejoin = groups, lock, on_event, on_rejoin
        self._tasks: list[asyncio.Task] = []

    async def open(self) -> None:
        """Create the channel and start reading it and keeping its groups."""
        loop = asyncio.get_running_loop()
        self.layer = get_channel_layer()
        # The default prefix matters: channels-redis serves every "specific." channel of
        # a process from one receive loop, and any other prefix would wait its turn.
        self.name = await self.layer.new_channel()
        self.keeper = GroupKeeper(self.layer, self.name, self._groups, self._lock, on_rejoin=self._on_rejoin)
        self._tasks = [loop.create_task(self._read()), loop.create_task(self.keeper.run())]

    @property
    def running(self) -> bool:
        """Whether the reader and the keeper run (stopped or ended tasks do not)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def close(self) -> None:
        """Stop reading and keeping the groups."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                if stopping():
                    raise asyncio.CancelledError from None
                log.warning("receiving %s from the channel layer failed", self.what, exc_info=True)
                await asyncio.sleep(0.5)  # a layer that keeps failing must not spin the loop
                continue
            try:
                if not self.keeper.heard(event):
                    await self._on_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling %s from the channel layer failed", self.what)
