"""Drop WebSocket clients that stop reading before their backlog grows without bound.

ASGI gives an application no view of how much a client has not yet read: daphne
queues every frame in Twisted's transport buffer. This hook, installed when the ASGI
application is imported (so it works under a plain ``daphne collab.asgi:application``),
checks that buffer before each frame daphne sends and aborts the connection once it
holds more than COLLAB_MAX_BACKLOG_BYTES. The application then gets its usual
``websocket.disconnect``; the client, if it ever reads again, reconnects and catches up.

It also gives each WebSocket's scope a ``collab.socket`` (a :class:`SocketHooks`)
with two methods:

- ``buffered()`` returns that buffer's size now, so that the application can pace a
  long catch-up by the socket's own flow control (send while the client reads, wait
  while it does not) instead of writing it in one burst that the guard would take for
  a client that stopped reading;
- ``write_frame(frame)`` writes a ready-made text frame
  (``editor.realtime.protocol.text_frame``) to the socket, under the same guard: a
  round of revisions is framed once and written to every connection that is owed it,
  where Channels' ``send`` would encode and frame it again per connection and Twisted
  would schedule each write for the next turn of the loop. It declines (returns False,
  and the caller sends the usual way) whenever the connection is not a plain open one.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

# What the guard patches and reads, as daphne and Twisted have them (the versions pinned
# in requirements.txt). A rename upstream must stop the server at start, never switch
# the limit off in silence.
PATCHED = {
    "daphne.ws_protocol.WebSocketProtocol.serverSend": ["self", "content", "binary"],
    "daphne.server.Server.create_application": ["self", "protocol", "scope"],
}
# Attributes of Twisted's TCP transport (twisted.internet.tcp.Server) read here.
TRANSPORT_CLASS_ATTRIBUTES = (
    "dataBuffer",
    "offset",
    "connected",
    "disconnected",
    "disconnecting",
    "TLS",
    "abortConnection",
)
TRANSPORT_INSTANCE_ATTRIBUTES = ("_tempDataLen",)  # set by FileDescriptor.__init__
# Attributes of autobahn's WebSocket protocol (daphne's base class) read by the frame writer.
PROTOCOL_ATTRIBUTES = ("STATE_OPEN", "state", "send_queue", "_perMessageCompress")


def buffered_bytes(transport: Any) -> int:
    """Bytes written to a Twisted TCP transport that the kernel has not taken yet.

    A transport of another kind (TLS terminated by daphne itself rather than by the
    proxy in front, see docs/deploy.md) is not bounded: 0, with a warning once.
    """
    if not isinstance(transport, _TCP_TRANSPORT):
        if not _warned:
            _warned.append(type(transport))
            log.warning("WebSocket backlogs are not bounded over %s transports", type(transport).__name__)
        return 0
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


_warned: list[type] = []
_TCP_TRANSPORT: Any = ()  # (twisted.internet.tcp.Connection,) once installed


def check_servers() -> None:
    """Raise ImproperlyConfigured unless daphne and Twisted have exactly what the guard
    patches (the methods, with their arguments) and reads (the transport's buffers)."""
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import abstract, tcp

    owners = {"daphne.ws_protocol.WebSocketProtocol": WebSocketProtocol, "daphne.server.Server": Server}
    missing = []
    for name, arguments in PATCHED.items():
        owner, _, method = name.rpartition(".")
        function = getattr(owners[owner], method, None)
        original = _ORIGINALS.get(name, function)  # already patched: check what it wraps
        if not callable(original) or list(inspect.signature(original).parameters) != arguments:
            missing.append(f"{name}({', '.join(arguments)})")
    missing += [
        f"twisted.internet.tcp.Server.{attribute}"
        for attribute in TRANSPORT_CLASS_ATTRIBUTES
        if not hasattr(tcp.Server, attribute)
    ]
    from autobahn.websocket.protocol import WebSocketProtocol as Autobahn

    made = inspect.getsource(Autobahn._connectionMade)
    missing += [
        f"autobahn.websocket.protocol.WebSocketProtocol.{attribute}"
        for attribute in PROTOCOL_ATTRIBUTES
        if not hasattr(Autobahn, attribute) and f"self.{attribute}" not in made
    ]
    if "self.socket" not in inspect.getsource(tcp.Connection.__init__):
        missing.append("twisted.internet.tcp.Connection().socket")
    descriptor = abstract.FileDescriptor(reactor=_NO_REACTOR)  # only to see what __init__ sets
    missing += [
        f"twisted.internet.abstract.FileDescriptor().{attribute}"
        for attribute in TRANSPORT_INSTANCE_ATTRIBUTES
        if not hasattr(descriptor, attribute)
    ]
    if missing:
        raise ImproperlyConfigured(
            "collab.backlog cannot bound what a WebSocket client has not read: this daphne or"
            f" Twisted lacks {', '.join(missing)}. Install the versions requirements.txt pins."
        )


class _NoReactor:
    """A stand-in reactor, so that looking at a FileDescriptor installs none."""


_NO_REACTOR: Any = _NoReactor()
# The methods as daphne had them, by name in PATCHED, once patched.
_ORIGINALS: dict[str, Callable] = {}


def install(limit: int) -> bool:
    """Patch daphne's WebSocket protocol to enforce ``limit``; False when daphne is not
    installed. Raises ImproperlyConfigured when daphne or Twisted lack what it patches."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server: it must bound buffers itself
        return False
    check_servers()
    from twisted.internet import tcp

    global _TCP_TRANSPORT
    _TCP_TRANSPORT = (tcp.Connection,)
    if getattr(WebSocketProtocol, "_collab_backlog_limit", None) is not None:
        WebSocketProtocol._collab_backlog_limit = limit
        return True
    original = WebSocketProtocol.serverSend

    def server_send(self, content, binary=False):
        transport = getattr(self, "transport", None)
        if transport is not None and buffered_bytes(transport) > WebSocketProtocol._collab_backlog_limit:
            _drop(self, transport)
            return
        return original(self, content, binary)

    _ORIGINALS["daphne.ws_protocol.WebSocketProtocol.serverSend"] = original
    WebSocketProtocol._collab_backlog_limit = limit
    WebSocketProtocol.serverSend = server_send
    _give_scopes_the_buffer()
    return True


def _give_scopes_the_buffer() -> None:
    from daphne.server import Server

    original = Server.create_application

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope["collab.socket"] = SocketHooks(protocol)
        return original(self, protocol, scope)

    _ORIGINALS["daphne.server.Server.create_application"] = original
    Server.create_application = create_application


class SocketHooks:
    """What an application may ask of its WebSocket's daphne protocol beyond ASGI.

    Every open socket keeps one: a single object with slots, lighter than a closure or
    a partial per hook (docs/performance.md, *idle*).
    """

    __slots__ = ("protocol",)

    def __init__(self, protocol) -> None:
        self.protocol = protocol

    def buffered(self) -> int:
        """Bytes the client has yet to read; 0 once the connection is gone."""
        return _still_buffered(self.protocol)

    def write_frame(self, frame: bytes) -> bool:
        """Write a ready-made text frame; False (nothing written) when the connection is
        not a plain open one, and the caller sends through daphne instead."""
        return _write_frame(self.protocol, frame)


def _still_buffered(protocol) -> int:
    """Bytes the client has yet to read; 0 once the connection is gone (nothing will)."""
    transport: Any = getattr(protocol, "transport", None)  # None until the connection is made
    if transport is None:
        return 0
    if isinstance(transport, _TCP_TRANSPORT) and (transport.disconnected or not transport.connected):
        return 0
    return buffered_bytes(transport)


def _write_frame(protocol, frame: bytes) -> bool:
    """Write a ready-made text frame to an open WebSocket; False (nothing written) when
    the connection is not a plain open one: the caller then sends through daphne.

    Bytes go straight to the socket when nothing is queued before them (the common
    case), else behind what is, through the transport: order is kept either way.
    """
    transport: Any = getattr(protocol, "transport", None)
    if (
        transport is None
        or protocol.state != protocol.STATE_OPEN
        or protocol._perMessageCompress is not None
        or protocol.send_queue
        or not isinstance(transport, _TCP_TRANSPORT)
        or transport.TLS  # started on this very connection: its writes encrypt
        or transport.disconnecting
        or not transport.connected
    ):
        return False
    buffered = buffered_bytes(transport)
    if buffered > protocol._collab_backlog_limit:
        _drop(protocol, transport)
        return True
    if not buffered:
        try:
            sent = transport.socket.send(frame)
        except OSError:  # full (the rest waits in the transport), or going: Twisted finds out as usual
            sent = 0
        if sent == len(frame):
            return True
        frame = frame[sent:]
    transport.write(frame)
    return True


def _drop(protocol, transport) -> None:
    """Abort a connection whose client stopped reading (once)."""
    if not getattr(protocol, "_collab_dropped", False):
        protocol._collab_dropped = True
        log.warning(
            "dropping %s: it stopped reading (backlog over %d bytes)",
            getattr(protocol, "client_addr", "a client"),
            protocol._collab_backlog_limit,
        )
        transport.abortConnection()
