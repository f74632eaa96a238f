"""Drop WebSocket clients that stop reading before their backlog grows without bound.

ASGI gives an application no view of how much a client has not yet read: daphne
queues every frame in Twisted's transport buffer. This hook, installed when the ASGI
application is imported (so it works under a plain ``daphne collab.asgi:application``),
checks that buffer before each frame daphne sends and aborts the connection once it
holds more than COLLAB_MAX_BACKLOG_BYTES. The application then gets its usual
``websocket.disconnect``; the client, if it ever reads again, reconnects and catches up.

It also gives each WebSocket's scope a ``collab.buffered`` callable returning that
buffer's size now, so that the application can pace a long catch-up by the socket's
own flow control (send while the client reads, wait while it does not) instead of
writing it in one burst that the guard would take for a client that stopped reading.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def buffered_bytes(transport) -> int:
    """Bytes written to a Twisted TCP transport that the kernel has not taken yet."""
    data = getattr(transport, "dataBuffer", b"")
    offset = getattr(transport, "offset", 0)
    pending = getattr(transport, "_tempDataLen", 0)
    return len(data) - offset + pending


def install(limit: int) -> bool:
    """Patch daphne's WebSocket protocol to enforce ``limit``; False if not possible."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server: it must bound buffers itself
        return False
    if getattr(WebSocketProtocol, "_collab_backlog_limit", None) is not None:
        WebSocketProtocol._collab_backlog_limit = limit
        return True
    original = WebSocketProtocol.serverSend

    def server_send(self, content, binary=False):
        transport = getattr(self, "transport", None)
        if transport is not None and buffered_bytes(transport) > WebSocketProtocol._collab_backlog_limit:
            if not getattr(self, "_collab_dropped", False):
                self._collab_dropped = True
                log.warning("dropping %s: it stopped reading (backlog over %d bytes)",
                            getattr(self, "client_addr", "a client"), WebSocketProtocol._collab_backlog_limit)
                transport.abortConnection()
            return
        return original(self, content, binary)

    WebSocketProtocol._collab_backlog_limit = limit
    WebSocketProtocol.serverSend = server_send
    _give_scopes_the_buffer()
    return True


def _give_scopes_the_buffer() -> None:
    from daphne.server import Server

    original = Server.create_application

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope["collab.buffered"] = lambda: _still_buffered(protocol)
        return original(self, protocol, scope)

    Server.create_application = create_application


def _still_buffered(protocol) -> int:
    """Bytes the client has yet to read; 0 once the connection is gone (nothing will)."""
    transport = getattr(protocol, "transport", None)
    if transport is None or getattr(transport, "disconnected", False) or not getattr(transport, "connected", True):
        return 0
    return buffered_bytes(transport)
