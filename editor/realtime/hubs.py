"""This process's hubs, one per open document, and the channel they hear other
processes on.

:data:`hubs` registers each joined connection's feed with its document's hub (creating
the hub, and joining the document's group, for the first one) and hands each event the
process channel receives to the hub it is about: revisions, presence, access changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from . import protocol
from .bus import ProcessChannel, document_group, spawn
from .feed import Feed
from .hub import Hub, stored_head

log = logging.getLogger(__name__)


class Hubs:
    """This process's hubs, and the one channel through which it hears other processes."""

    def __init__(self) -> None:
        # True when no other process can share the channel layer (the in-memory one):
        # this process's own revisions and presence then need no announcing.
        self.alone = False
        self.hubs: dict[str, Hub] = {}
        self.bus: ProcessChannel | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def layer(self):
        return self.bus.layer

    @property
    def channel(self) -> str | None:
        """This process's channel for revisions and presence."""
        return None if self.bus is None else self.bus.name

    def __len__(self) -> int:
        return len(self.hubs)

    def __iter__(self) -> Iterator[Hub]:
        return iter(list(self.hubs.values()))

    @property
    def busy(self) -> bool:
        """Whether any hub has a commit in flight or revisions to announce."""
        return any(hub.busy for hub in self)

    async def attach(self, feed: Feed) -> Hub:
        """Register a joined feed with its document's hub (creating the hub if needed)."""
        async with self._lock:
            await self._start()
            hub = self.hubs.get(feed.document_id)
            if hub is None:
                head = await stored_head(document_id=feed.document_id)
                hub = Hub(feed.document_id, self, last_rev=head)
                self.hubs[feed.document_id] = hub
                await self.layer.group_add(document_group(feed.document_id), self.channel)
                # Whoever else serves the document answers, and announces to us from then
                # on. Lost, it is made up for by the heads-ups (hub.Announcer).
                try:
                    await hub.announce({"type": "hub.open"})
                except Exception:
                    log.info("announcing that %s is open failed", feed.document_id, exc_info=True)
            hub.add(feed)
            return hub

    async def detach(self, feed: Feed) -> None:
        """Forget a feed; the last one of a document takes its hub away."""
        async with self._lock:
            hub = self.hubs.get(feed.document_id)
            if hub is None or not hub.remove(feed):
                return
            if not hub.feeds:
                hub.close()
                del self.hubs[feed.document_id]
                await self.layer.group_discard(document_group(feed.document_id), self.channel)
                try:
                    await hub.announce({"type": "hub.close"})
                except Exception:  # the others then announce to us for nothing, as before
                    log.info("announcing that %s closed failed", feed.document_id, exc_info=True)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a fresh event loop (tests run several) starts afresh
            self._loop, self.hubs, self.bus = loop, {}, None
        if self.bus is None:
            self.bus = ProcessChannel(
                what="revisions and presence",
                groups=lambda: [document_group(d) for d in self.hubs],
                lock=self._lock,
                on_event=self._dispatch,
                on_rejoin=self._check_heads,
            )
            await self.bus.open()
            self.alone = isinstance(self.bus.layer, InMemoryChannelLayer)

    async def stop(self) -> None:
        """Stop hearing other processes (tests); the next attach starts afresh."""
        bus, self.bus, self._loop = self.bus, None, None
        if bus is not None:
            await bus.close()

    def _check_heads(self) -> None:
        """Read what every open document committed while announcements were lost, and
        say again which documents are open here (the others may have lost that too)."""
        for hub in self:
            hub.order.check_now()
            spawn(self._reopen(hub))

    async def _reopen(self, hub: Hub) -> None:
        if self.hubs.get(hub.document_id) is not hub:  # closed meanwhile
            return
        try:
            await hub.announce({"type": "hub.open"})
        except Exception:  # the layer is still away: its next recovery says it again
            log.info("announcing that %s is open failed", hub.document_id, exc_info=True)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        hub = self.hubs.get(event.get("document", ""))
        if hub is None:
            return
        kind = event.get("type")
        origin = event.get("origin")
        if isinstance(origin, str) and origin != self.channel:
            if kind == "hub.close":
                hub.part(origin)
                return
            # A word from a process about the document says it serves it (not a
            # leave: that follows its hub.close when its last connection goes). One that
            # opened it, that knows of no other (a heads-up), or that we had not heard
            # of (its hub.open was lost) hears that we serve it too.
            if kind != "leave":
                new = hub.meet(origin, tell_head=kind == "hub.open")
                if kind == "hub.open" or event.get("peerless") or (new and kind != "hub.here"):
                    hub.announcer.tell(origin, {"type": "hub.here"})
        if kind == "revisions":
            if event.get("origin") != self.channel:
                await hub.deliver(event["messages"])
        elif kind in ("presence", "leave", "arrival", "introduce"):
            if event.get("origin") != self.channel:
                await _on_peer_event(hub, event)
        elif kind == "doc.access":
            for feed in list(hub.feeds.values()):
                if feed.on_event and event.get("user_id") in (None, feed.user_id):
                    spawn(feed.on_event(event))


async def _on_peer_event(hub: Hub, event: dict) -> None:
    """Presence traffic from another process."""
    kind = event["type"]
    if kind == "introduce":  # answers to one of our newcomers
        feed = hub.feeds.get(event["to"])
        if feed is not None and feed.push(event["encoded"]):
            hub.rounds.schedule()
        return
    hub.push(event["encoded"])
    if kind == "arrival":  # tell the newcomer on that process who is here
        for feed in list(hub.feeds.values()):
            if feed.presence is not None:
                try:
                    await hub.hubs.layer.send(
                        event["origin"],
                        {
                            "type": "introduce",
                            "document": hub.document_id,
                            "to": event["from"],
                            "origin": hub.hubs.channel,
                            "encoded": protocol.dumps(feed.presence),
                        },
                    )
                except ChannelFull:
                    # That process is flooded (a crowd rejoining at once): the newcomer
                    # sees the others at their next presence, as after a lost message.
                    log.info("introductions to a newcomer on %s dropped: its channel is full", event["origin"])
                    return


hubs = Hubs()
