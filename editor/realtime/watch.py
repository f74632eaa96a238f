"""One watcher per server process over every socket it holds.

Every COLLAB_SESSION_CHECK_SECONDS (at most every ``presence.HEARTBEAT_SECONDS``) the
watcher checks all open sockets of this process at once, in a few batched queries on
the database thread: that each socket's session is still signed in (signed out
elsewhere, expired, flushed, or the password changed), that its user's role on the
document is still the one it joined with, and it refreshes the presence rows of joined
sockets. What a socket makes of a result (which close code) is up to the socket.

The watcher also holds this process's one channel for sign-out notices (and password
changes, which keep the changing session's sockets and sign out the others): while the
process has a socket of a user, that channel is in the user's group
(:func:`.bus.user_group`), so a sign-out anywhere reaches the user's sockets here at once
without each socket holding a channel of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from typing import Any, Protocol

from django.conf import settings

from ..domain import access
from . import dbthread, presence
from .bus import ProcessChannel, spawn, user_group

log = logging.getLogger(__name__)

# Session keys, (document, user) pairs and presence rows per query: well under the
# smallest limit on query parameters (SQLite's 999).
QUERY_BATCH = 400


class Socket(Protocol):
    """What the watcher needs of a socket (``editor.realtime.consumers.DocumentConsumer``)."""

    user_id: int
    session_key: str | None
    document_id: str
    role: str | None  # None once the socket is closing
    name: str  # unique across processes: the key of its presence row

    @property
    def joined(self) -> bool: ...

    async def signed_out(self) -> None: ...

    async def role_checked(self, role: str | Exception) -> None: ...


def batches(items: list, size: int = QUERY_BATCH):
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_interval() -> float:
    """Seconds between two rounds: presence rows must be refreshed in time too."""
    return min(settings.COLLAB_SESSION_CHECK_SECONDS, presence.HEARTBEAT_SECONDS)


class Watcher:
    """This process's sockets and the tasks that watch over them."""

    def __init__(self) -> None:
        self.bus: ProcessChannel | None = None  # this process's channel for sign-out notices
        # One flat set and a count per user, rather than a set per user: most users
        # hold one socket, and an idle socket's every byte counts.
        self.sockets: set[Socket] = set()
        self.per_user: Counter[int] = Counter()
        self._in_group: set[int] = set()  # users whose group holds this process's channel
        self._names = itertools.count(1)
        self._checks: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None
        self._ready: asyncio.Event | None = None  # set once the channel exists
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- sockets come and go -----------------------------------------------------------

    async def register(self, socket: Socket) -> str:
        """Watch ``socket`` from now on; returns the unique name of its presence row."""
        await self._start()
        if socket not in self.sockets:
            self.sockets.add(socket)
            self.per_user[socket.user_id] += 1
        await self._sync_group(socket.user_id)
        return f"{self.channel}#{next(self._names)}"

    async def unregister(self, socket: Socket) -> None:
        """Stop watching ``socket``; unknown sockets are ignored."""
        if socket not in self.sockets:
            return
        self.sockets.discard(socket)
        self.per_user[socket.user_id] -= 1
        if self.per_user[socket.user_id] <= 0:
            del self.per_user[socket.user_id]
        await self._sync_group(socket.user_id)

    def __len__(self) -> int:
        return len(self.sockets)

    @property
    def channel(self) -> str | None:
        """This process's channel for sign-out notices."""
        return None if self.bus is None else self.bus.name

    @property
    def layer(self):
        return None if self.bus is None else self.bus.layer

    @property
    def users_listened_for(self) -> frozenset[int]:
        """The users whose group holds this process's channel."""
        return frozenset(self._in_group)

    async def _sync_group(self, user_id: int) -> None:
        """Put this process's channel in the user's group while it holds a socket of the
        user, and take it out after the last one."""
        # Under a lock, and deciding only once inside it, so that an add and a discard
        # of the same group cannot overtake each other on the way to the layer.
        async with self._lock:
            wanted = user_id in self.per_user
            if wanted == (user_id in self._in_group):
                return
            if wanted:
                await self.layer.group_add(user_group(user_id), self.channel)
                self._in_group.add(user_id)
            else:
                self._in_group.discard(user_id)
                await self.layer.group_discard(user_group(user_id), self.channel)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            await self._ready.wait()  # a socket that came while the first one started it
            return
        # A fresh event loop (tests run several) starts afresh.
        self._loop, self.sockets, self.per_user, self._in_group = loop, set(), Counter(), set()
        self._lock, self._ready = asyncio.Lock(), asyncio.Event()
        # Sign-outs announced while the layer had lost the groups never arrived: a
        # round of checks at once finds them.
        self.bus = ProcessChannel(
            what="sign-out notices",
            groups=lambda: [user_group(user_id) for user_id in self._in_group],
            lock=self._lock,
            on_event=self.dispatch,
            on_rejoin=lambda: spawn(self.check()),
        )
        await self.bus.open()
        self._checks = loop.create_task(self._check_forever())
        self._ready.set()

    async def stop(self) -> None:
        """Stop watching (tests, shutdown); the next registration starts afresh."""
        bus, checks, self._checks, self._loop = self.bus, self._checks, None, None
        if checks is not None:
            checks.cancel()
            await asyncio.gather(checks, return_exceptions=True)
        if bus is not None:
            await bus.close()

    # --- notices -----------------------------------------------------------------------

    async def dispatch(self, event: dict[str, Any]) -> None:
        """Close the sockets a notice is about."""
        if event.get("type") not in ("user.signed_out", "user.password_changed"):
            return
        user_id = event.get("user_id")
        if user_id not in self.per_user:
            return
        # A pass over every socket, but only on a notice about a user who has one here.
        for socket in [s for s in self.sockets if s.user_id == user_id]:
            if socket.role is None:
                continue
            if event["type"] == "user.signed_out":
                if event.get("session_key") in (None, socket.session_key):
                    await _tell(socket.signed_out())
            elif socket.session_key == event.get("old_session_key"):
                # The session that changed the password: its key rotated, it stays.
                socket.session_key = event.get("new_session_key")
            elif socket.session_key != event.get("new_session_key"):
                await _tell(socket.signed_out())

    # --- periodic checks ---------------------------------------------------------------

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(check_interval())
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: the next round tries again
                log.warning("checking the open sockets failed", exc_info=True)

    async def check(self) -> None:
        """One round over every socket open now: sessions, then roles, then presence."""
        sockets = self._open()
        if not sockets:
            return
        sockets = await self._check_sessions(sockets)
        sockets = await self._check_roles(sockets)
        names = [socket.name for socket in sockets if socket.joined]
        for batch in batches(names):
            await dbthread.run(presence.connections_seen, channel_names=batch)

    def _open(self) -> list[Socket]:
        return [socket for socket in self.sockets if socket.role is not None]

    async def _check_sessions(self, sockets: list[Socket]) -> list[Socket]:
        """Close the sockets whose session ended; the others."""
        pairs = sorted({(socket.session_key or "", socket.user_id) for socket in sockets})
        signed_in: set[tuple[str, int]] = set()
        for batch in batches(pairs):
            signed_in |= await dbthread.run(access.sessions_signed_in, batch)
        kept = []
        for socket in sockets:
            if (socket.session_key, socket.user_id) in signed_in:
                kept.append(socket)
            elif socket.role is not None:
                await _tell(socket.signed_out())
        return kept

    async def _check_roles(self, sockets: list[Socket]) -> list[Socket]:
        """Tell each socket its user's current role on its document; the sockets still open."""
        pairs = sorted({(socket.document_id, socket.user_id) for socket in sockets})
        found: dict[tuple[str, int], str | Exception] = {}
        for batch in batches(pairs):
            found |= await dbthread.run(access.roles, batch)
        for socket in sockets:
            if socket.role is not None:
                await _tell(socket.role_checked(found[socket.document_id, socket.user_id]))
        return [socket for socket in sockets if socket.role is not None]


async def _tell(coroutine) -> None:
    """Run a socket's reaction; one that fails (its client just left) spoils no round."""
    try:
        await coroutine
    except Exception:
        log.debug("a watched socket failed to react", exc_info=True)


watcher = Watcher()
