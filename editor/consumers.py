"""The WebSocket endpoint of a document: parse, call the service, hand off to the feed."""

from __future__ import annotations

import logging
import zlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import fanout, protocol, selectors, services
from .errors import CollabError, NotJoined, RateLimited, ReadOnly, TooLarge
from .limits import TokenBucket

log = logging.getLogger(__name__)

PALETTE = ("#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599", "#c2255c", "#5c940d")


class DocumentConsumer(AsyncWebsocketConsumer):
    """One browser tab (or script) editing one document."""

    async def connect(self) -> None:
        self.document_id = self.scope["url_route"]["kwargs"]["document_id"]
        self.user = self.scope.get("user")
        self.feed: fanout.RevisionFeed | None = None
        self.client_id: str | None = None
        self.presence: dict | None = None
        self.role: str | None = None  # stays None on a refused connection
        self.group: str | None = None
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            self.role = await database_sync_to_async(selectors.document_role)(
                document_id=self.document_id, user=self.user
            )
        except selectors.DocumentNotFound:
            await self.close(code=4404)
            return
        except selectors.AccessDenied:
            await self.close(code=4403)
            return
        self.group = fanout.group_name(self.document_id)
        self.bucket = TokenBucket(rate=settings.COLLAB_OPS_PER_SECOND, burst=settings.COLLAB_OPS_BURST)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code) -> None:
        if self.feed is not None:
            self.feed.close()
            await self.channel_layer.group_send(
                self.group, {"type": "doc.leave", "client": self.client_id, "sender": self.channel_name}
            )
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- frames from the client ----------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Handle one client frame; every refusal becomes an ``error`` reply."""
        if self.role is None:
            return  # refused in connect and closing: frames already in flight are ignored
        try:
            if text_data is not None and len(text_data) * 4 > settings.COLLAB_MAX_FRAME_BYTES:
                if len(text_data.encode("utf-8", "surrogatepass")) > settings.COLLAB_MAX_FRAME_BYTES:
                    raise TooLarge(f"frames are limited to {settings.COLLAB_MAX_FRAME_BYTES} bytes")
            message = protocol.parse(
                text_data if bytes_data is None else bytes_data,
                max_components=settings.COLLAB_MAX_COMPONENTS,
            )
            # Dispatch on the parsed class, never on a name the client chose.
            if isinstance(message, protocol.Join):
                await self.on_join(message)
            elif isinstance(message, protocol.SubmitOp):
                await self.on_op(message)
            else:
                await self.on_presence(message)
        except CollabError as exc:
            await self.send(text_data=protocol.dumps(exc.as_message()))
        except Exception:
            # A fault of the server, not of the message: the client reconnects and
            # resends, and exactly-once keeps a resent op from landing twice.
            log.exception("closing a connection to %s after a server error", self.document_id)
            await self.close(code=1011)

    async def on_join(self, message: protocol.Join) -> None:
        if self.feed is not None and message.client != self.client_id:
            self.feed.close()
            self.feed = None
        if self.feed is None:
            self.client_id = message.client
            self.feed = fanout.RevisionFeed(
                document_id=self.document_id,
                user_id=self.user.pk,
                client=message.client,
                send=self._send_frame,
                max_frame=settings.COLLAB_MAX_FRAME_BYTES,
                batch=settings.COLLAB_CATCHUP_BATCH,
            )
        await self.feed.join(message.since, role=self.role)
        # Introduce this connection to every other one, on every process; each answers
        # with its own presence, so the newcomer learns who is here.
        await self.channel_layer.group_send(
            self.group, {**self._presence_event(), "type": "doc.arrival"}
        )

    async def on_op(self, message: protocol.SubmitOp) -> None:
        if self.feed is None:
            raise NotJoined("send join first", seq=message.seq)
        if self.role != "editor":
            raise ReadOnly("viewers cannot edit this document", seq=message.seq)
        if not self.bucket.take():
            raise RateLimited("too many ops; slow down", seq=message.seq)
        committed = await database_sync_to_async(services.operation_commit)(
            document_id=self.document_id,
            user=self.user,
            client=self.client_id,
            seq=message.seq,
            base=message.base,
            ops=message.ops,
        )
        if committed.duplicate:
            # A reply to a resend: the ack is repeated even if this connection sent it.
            await self.send(text_data=protocol.dumps(protocol.ack_message(seq=message.seq, rev=committed.revision)))
            return
        announcement = protocol.op_message(
            rev=committed.revision,
            client=self.client_id,
            seq=message.seq,
            user_id=self.user.pk,
            user_name=self.user.get_username(),
            ops=committed.ops,
        )
        await self.feed.offer(announcement)
        await fanout.publish(self.channel_layer, self.document_id, announcement)

    async def on_presence(self, message: protocol.Presence) -> None:
        if self.feed is None:
            raise NotJoined("send join first")
        self.presence = {"rev": message.rev, "cursor": message.cursor}
        await self.channel_layer.group_send(self.group, self._presence_event())

    # --- events from the channel layer (names chosen by the server alone) -------

    async def doc_revision(self, event) -> None:
        if self.feed is not None:
            await self.feed.offer(event["message"])

    async def doc_presence(self, event) -> None:
        if self.feed is not None and event["sender"] != self.channel_name:
            await self._send_frame(protocol.dumps(event["message"]))

    async def doc_arrival(self, event) -> None:
        if self.feed is not None and event["sender"] != self.channel_name:
            await self._send_frame(protocol.dumps(event["message"]))
            await self.channel_layer.send(event["sender"], self._presence_event())

    async def doc_leave(self, event) -> None:
        if self.feed is not None and event["sender"] != self.channel_name and event["client"]:
            await self._send_frame(protocol.dumps({"type": "leave", "client": event["client"]}))

    # --- helpers ---------------------------------------------------------------------

    def _presence_event(self) -> dict:
        presence = self.presence or {"rev": self.feed.last_sent, "cursor": None}
        user = {
            "id": self.user.pk,
            "name": self.user.get_username(),
            "color": PALETTE[zlib.crc32(str(self.user.pk).encode()) % len(PALETTE)],
        }
        message = {"type": "presence", "client": self.client_id, "user": user, **presence}
        return {"type": "doc.presence", "sender": self.channel_name, "message": message}

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)
