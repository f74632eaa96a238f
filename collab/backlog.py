"""Drop WebSocket clients that stop reading before their backlog grows without bound.

ASGI gives an application no view of how much a client has not yet read: daphne
queues every frame in Twisted's transport buffer. This hook, installed when the ASGI
application is imported (so it works under a plain ``daphne collab.asgi:application``),
checks that buffer before each frame daphne sends and aborts the connection once it
holds more than COLLAB_MAX_BACKLOG_BYTES. The application then gets its usual
``websocket.disconnect``; the client, if it ever reads again, reconnects and catches up.
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
    return True
