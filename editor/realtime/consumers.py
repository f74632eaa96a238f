"""The WebSocket endpoint of a document: parse, call the service, hand off to the feed."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import Counter, deque

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from ..core import frames
from ..domain import budgets, selectors, services
from ..domain.errors import (
    Closing,
    CollabError,
    NotJoined,
    RateLimited,
    ReadOnly,
    TooLarge,
    close_code,
)
from . import dbthread, identity, metrics, presence, protocol
from .bus import spawn
from .feed import Feed
from .hub import Hub
from .hubs import hubs
from .limits import TokenBucket
from .watch import watcher

log = logging.getLogger(__name__)

PALETTE = ("#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599", "#c2255c", "#5c940d")
# Close codes, from the table of codes (editor/static/editor/codes.json).
# (No access and no document: AccessDenied.close and DocumentNotFound.close.)
CLOSE_UNAUTHENTICATED = close_code("unauthenticated")
CLOSE_ABUSE, CLOSE_RATE = close_code("abuse"), close_code("rate")
CLOSE_ROLE_CHANGED = close_code("role_changed")  # not 44xx: the client reconnects and learns its new role
# A fault of the server: 1011 in spirit, but daphne (autobahn) lets an application
# close only with 1000 or 3000-4999. Not 44xx: the client reconnects and resends.
CLOSE_SERVER_FAULT = close_code("server_fault")

# A join that would wait longer than this for the socket's join budget is refused
# (rate_limited) instead of queued (possible only with a refill this slow).
JOIN_MAX_WAIT_SECONDS = 5.0

# Open sockets per user on this process, for COLLAB_MAX_SOCKETS_PER_USER.
_sockets_per_user: Counter[int] = Counter()


class DocumentConsumer(AsyncWebsocketConsumer):
    """One browser tab (or script) editing one document."""

    # No channel of its own: revisions and access notices reach the socket through its
    # hub's process channel (editor.realtime.hubs), sign-outs through the watcher's (editor.realtime.watch).
    channel_layer_alias = None
    groups = ()  # none, and no empty list per socket either

    # Made on first use: most sockets never send an op or a refused frame, and an idle
    # socket's every byte counts (see docs/performance.md, idle).
    bucket: TokenBucket | None = None
    join_bucket: TokenBucket | None = None
    refusals: dict[str, deque[float]] | None = None
    rate_wait_until = float("-inf")  # when the last rate_limited's retry_after is up
    # As connect leaves them on a refused socket: a consumer cancelled before its
    # connect ran is cleaned up by disconnect all the same.
    counted = False
    name: str | None = None
    client_id: str | None = None
    feed: Feed | None = None

    async def __call__(self, scope, receive, send) -> None:
        """Channels' ``AsyncConsumer.__call__`` for a consumer with no channel of its own.

        With only the socket to listen to, Channels' ``await_many_dispatch`` (a task
        per receive, a set and a wait around it, kept for as long as the socket is
        open) comes down to this loop: one message at a time, each dispatched before
        the next is read, as there.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # daphne stopped waiting for it (its disconnect ran past the application
            # close timeout) or is shutting down: what disconnect has not done yet is
            # done anyway, the socket count at once (it bounds the user's sockets).
            self._uncount()
            spawn(self.disconnect(1006))
            raise

    async def dispatch(self, message) -> None:
        """Channels' dispatch without its per-message ``close_old_connections``.

        That call is a round trip to a worker thread for every frame, to tidy
        connections this consumer never uses: its database work runs on
        :mod:`editor.realtime.dbthread`, which looks after its own connection.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.document_id = self.scope["url_route"]["kwargs"]["document_id"]
        self.name = None  # the key of its presence row, once watched
        self.feed = None
        self.hub: Hub | None = None
        self.client_id = None
        self.role: str | None = None  # stays None on a refused connection
        self.counted = False
        # Who it is, found once here (a middleware would stay on the socket's stack).
        self.user, self.session_key = await identity.identify(self.scope)
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            role = await dbthread.run(selectors.document_role, document_id=self.document_id, user=self.user)
        except Closing as exc:
            await self._refuse(exc.close)
            return
        if _sockets_per_user[self.user.pk] >= settings.COLLAB_MAX_SOCKETS_PER_USER:
            await self._refuse(CLOSE_RATE)
            return
        _sockets_per_user[self.user.pk] += 1
        self.counted = True
        self.role = role
        self.name = await watcher.register(self)

    async def disconnect(self, code) -> None:
        self._uncount()
        if self.name is not None:
            try:
                await watcher.unregister(self)
            except Exception:  # the layer forgets the group membership when it expires
                log.warning("could not stop watching connection %s", self.name, exc_info=True)
        if self.client_id is not None:  # joined, so it has a row
            try:
                await dbthread.run(presence.connection_closed, channel_name=self.name)
            except Exception:  # the row goes stale, is ignored, and is pruned later
                log.warning("could not forget connection %s", self.name, exc_info=True)
        if self.feed is not None:
            await self._leave()

    def _uncount(self) -> None:
        """No longer count this socket among its user's (once)."""
        if self.counted:
            self.counted = False
            _sockets_per_user[self.user.pk] -= 1
            if _sockets_per_user[self.user.pk] <= 0:
                del _sockets_per_user[self.user.pk]
                budgets.forget_if_full(self.user.pk)  # a new one would be the same

    # --- frames from the client ----------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Handle one client frame; every refusal becomes an ``error`` reply."""
        if self.role is None:
            return  # refused in connect and closing: frames already in flight are ignored
        try:
            if text_data is not None and frames.frame_too_large(text_data, max_frame=settings.COLLAB_MAX_FRAME_BYTES):
                raise TooLarge(f"frames are limited to {settings.COLLAB_MAX_FRAME_BYTES} bytes")
            message = protocol.parse(
                text_data if bytes_data is None else bytes_data,
                max_components=settings.COLLAB_MAX_COMPONENTS,
                max_insert=settings.COLLAB_MAX_INSERT_CHARS,
            )
            # Dispatch on the parsed class, never on a name the client chose.
            if isinstance(message, protocol.Join):
                await self.on_join(message)
            elif isinstance(message, protocol.SubmitOp):
                await self.on_op(message)
            else:
                await self.on_presence(message)
        except CollabError as exc:
            await self._reply(exc.as_message())
            await self._count_refusal(exc)
        except Closing as exc:  # no access (any more), or no document (deleted meanwhile)
            await self.close(code=exc.close)
        except Exception:
            # A fault of the server, not of the message: the client reconnects and
            # resends, and exactly-once keeps a resent op from landing twice.
            log.exception("closing a connection to %s after a server error", self.document_id)
            await self.close(code=CLOSE_SERVER_FAULT)

    async def on_join(self, message: protocol.Join) -> None:
        await self._pace_join()
        # Authorised again at every join: a socket opened before its user lost access
        # hears no notice until it joins (raises AccessDenied, closing with 4403).
        role = await dbthread.run(selectors.document_role, document_id=self.document_id, user=self.user)
        if self.role is None:  # closed meanwhile (signed out, revoked): it stays closed
            return
        self.role = role
        if self.feed is not None and message.client != self.client_id:
            await self._leave()
        if self.feed is None:
            self.client_id = message.client
            socket = self.scope.get("collab.socket")  # daphne's, past Channels' send (collab.backlog)
            self.feed = Feed(
                document_id=self.document_id,
                user_id=self.user.pk,
                client=message.client,
                send=self._send_frame,
                max_frame=settings.COLLAB_MAX_FRAME_BYTES,
                batch=settings.COLLAB_CATCHUP_BATCH,
                on_event=self._on_access_event,
                writable=self._writable,
                write=None if socket is None else socket.write_frame,
            )
            # Attached before the catch-up is read, so no revision falls in between.
            self.hub = await hubs.attach(self.feed)
        rev = await self.feed.join(message.since, role=self.role, pending=message.pending)
        self.feed.presence = self.presence_message(rev=rev, cursor=None)
        await self._introduce()
        # Counted in the admin's "connected now" until disconnect (or, if this process
        # dies, until its rows go stale); the watcher keeps the row fresh.
        await dbthread.run(
            presence.connection_opened,
            document_id=self.document_id,
            channel_name=self.name,
            user_id=self.user.pk,
            client=self.client_id,
        )

    async def _introduce(self) -> None:
        """Tell everyone else, on every process, that this connection is here, and
        tell it who else is (each other connection answers with its presence)."""
        encoded = protocol.dumps(self.feed.presence)
        self.hub.push(encoded, skip=self.feed.id)
        for other in list(self.hub.feeds.values()):
            if other is not self.feed and other.presence is not None:
                self.feed.push(protocol.dumps(other.presence))
        await self.feed.flush()
        await self.hub.announce({"type": "arrival", "from": self.feed.id, "encoded": encoded})

    async def _leave(self) -> None:
        feed, self.feed = self.feed, None
        await hubs.detach(feed)
        if feed.last_sent is not None and self.hub is not None:
            encoded = protocol.dumps({"type": "leave", "client": feed.client})
            self.hub.push(encoded)
            await self.hub.announce({"type": "leave", "encoded": encoded})
        self.hub = None

    async def on_op(self, message: protocol.SubmitOp) -> None:
        if self.feed is None:
            raise NotJoined("send join first", seq=message.seq)
        if self.role != "editor":
            raise ReadOnly("viewers cannot edit this document", seq=message.seq)
        if not self._take_token():
            raise RateLimited("too many ops; slow down", seq=message.seq, retry_after=self.bucket.wait())
        inserted = sum(len(component["insert"]) for component in message.ops if "insert" in component)
        # The user's inserted-text budget on this process, shared with their whole-text writes.
        budgets.spend_typed(user_id=self.user.pk, chars=inserted, seq=message.seq)
        # The service checks the role again inside its transaction.
        result = await self.hub.commit(
            services.Submission(
                user=self.user, client=self.client_id, seq=message.seq, base=message.base, ops=message.ops
            )
        )
        if isinstance(result, Exception):
            raise result
        if result.duplicate:
            # A reply to a resend: the ack is repeated even if this connection sent it,
            # after every revision under it (another process may have committed it, and
            # its announcements may not have come yet).
            await self.hub.through(result.revision)
            await self._reply(protocol.ack_message(seq=message.seq, rev=result.revision))
        # Otherwise the ack reaches this connection through its feed, in revision order.

    async def on_presence(self, message: protocol.Presence) -> None:
        if self.feed is None:
            raise NotJoined("send join first")
        if not self._take_token():
            raise RateLimited("too many messages; slow down", retry_after=self.bucket.wait())
        self.feed.presence = self.presence_message(rev=message.rev, cursor=message.cursor)
        encoded = protocol.dumps(self.feed.presence)
        self.hub.push(encoded, skip=self.feed.id)
        await self.hub.announce({"type": "presence", "encoded": encoded})

    # --- what the watcher and the hub tell this socket ------------------------------

    @property
    def user_id(self) -> int:
        return self.user.pk

    @property
    def joined(self) -> bool:
        """Whether it has joined, so that it has a presence row."""
        return self.client_id is not None

    async def _on_access_event(self, event) -> None:
        """Someone's access to the document changed: check this connection's again."""
        if self.role is not None:
            await self._recheck_role()

    async def signed_out(self) -> None:
        """Its session ended (signed out, expired, or the password changed)."""
        if self.role is not None:
            await self._close_for(CLOSE_UNAUTHENTICATED)

    async def role_checked(self, role: str | Exception) -> None:
        """The user's role on the document now, or why there is none: close if it changed."""
        if self.role is None:
            return
        if isinstance(role, Closing):
            await self._close_for(role.close)
        elif role != self.role:
            await self._close_for(CLOSE_ROLE_CHANGED)

    # --- helpers ---------------------------------------------------------------------

    async def _recheck_role(self) -> None:
        role: str | Exception
        try:
            role = await dbthread.run(selectors.document_role, document_id=self.document_id, user=self.user)
        except Closing as exc:
            role = exc
        await self.role_checked(role)

    async def _count_refusal(self, exc: CollabError) -> None:
        """Close a connection that keeps sending what the server refuses.

        A ``rate_limited`` counts only when the message came before the last one's
        ``retry_after`` was up: a client that waits as told and then goes on at its own
        pace (its next op right after the ack, say) is refused again and again while
        above the rate, and slowed down to it, but never closed for that; one that does
        not wait is.
        """
        metrics.refused(exc.code)
        kind = "rate" if isinstance(exc, RateLimited) else "bad"
        now = time.monotonic()
        if isinstance(exc, RateLimited):
            waited = now >= self.rate_wait_until
            self.rate_wait_until = now + (exc.retry_after or 0.0)
            if waited:
                return
        if self.refusals is None:
            self.refusals = {"bad": deque(), "rate": deque()}
        window = self.refusals[kind]
        window.append(now)
        while window and window[0] < now - settings.COLLAB_ABUSE_WINDOW:
            window.popleft()
        if len(window) > settings.COLLAB_ABUSE_LIMIT:
            await self._close_for(CLOSE_RATE if kind == "rate" else CLOSE_ABUSE)

    def _take_token(self) -> bool:
        """Spend one of the socket's tokens for ops and presence; False when none is left."""
        if self.bucket is None:  # a new bucket is full, as it would be after idling
            self.bucket = TokenBucket(rate=settings.COLLAB_OPS_PER_SECOND, burst=settings.COLLAB_OPS_BURST)
        return self.bucket.take()

    async def _pace_join(self) -> None:
        """Spend a token of the socket's join budget, waiting for one if need be.

        Each join costs a role check, a catch-up and a presence and leave message to
        every peer, so a client cannot make that happen faster than
        COLLAB_JOINS_PER_SECOND (bursts of COLLAB_JOINS_BURST). Frames behind it wait.
        """
        if self.join_bucket is None:
            self.join_bucket = TokenBucket(rate=settings.COLLAB_JOINS_PER_SECOND, burst=settings.COLLAB_JOINS_BURST)
        wait = self.join_bucket.wait()
        if wait > JOIN_MAX_WAIT_SECONDS:
            raise RateLimited("too many joins; slow down", retry_after=wait)
        if wait > 0:
            await asyncio.sleep(wait)
        self.join_bucket.take()

    async def _writable(self) -> None:
        """Wait while more than half the backlog limit waits to be read by the client
        (see collab.backlog); a client that reads is thus never dropped for the size of
        a catch-up, and one that stopped reading is dropped by the live revisions."""
        socket = self.scope.get("collab.socket")
        if socket is None:
            return
        room = settings.COLLAB_MAX_BACKLOG_BYTES // 2
        # The transport's buffer has no event to wait on: poll it.
        while socket.buffered() > room and self.role is not None and self.feed is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def _close_for(self, code: int) -> None:
        self.role = None  # ignore whatever the client still sends
        await self._refuse(code)

    async def _refuse(self, code: int) -> None:
        """Close with ``code``, counted in the metrics."""
        metrics.refused(code)
        await self.close(code=code)

    def presence_message(self, *, rev: int, cursor: dict | None) -> dict:
        """This connection's ``presence`` message as others receive it."""
        user = {
            "id": self.user.pk,
            "name": self.user.get_username(),
            "color": PALETTE[zlib.crc32(str(self.user.pk).encode()) % len(PALETTE)],
        }
        return {"type": "presence", "client": self.client_id, "user": user, "rev": rev, "cursor": cursor}

    async def _reply(self, message: dict) -> None:
        """Answer the client, in order with what its feed already queued."""
        if self.feed is not None:
            await self.feed.reply(message)
        else:
            await self.send(text_data=protocol.dumps(message))

    async def _send_frame(self, frame: str) -> None:
        socket = self.scope.get("collab.socket")  # daphne's, past Channels' send (collab.backlog)
        if socket is None or not socket.write_frame(protocol.text_frame(frame)):
            await self.send(text_data=frame)
