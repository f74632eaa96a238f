"""The backlog guard refuses to start on a daphne or Twisted without what it patches;
frames written past Channels' send arrive as any WebSocket client reads them."""

import pytest
from autobahn.websocket.protocol import WebSocketProtocol as Autobahn
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.core.exceptions import ImproperlyConfigured
from twisted.internet import abstract, tcp
from websockets.frames import Frame, Opcode

from collab import backlog
from editor.domain import services
from editor.realtime import protocol

from .wire import Wire


def test_the_pinned_daphne_and_twisted_have_what_the_guard_patches_and_reads():
    """With the versions requirements.txt pins, the check passes (so the server starts)."""
    backlog.check_servers()
    assert list(backlog.PATCHED) == [
        "daphne.ws_protocol.WebSocketProtocol.serverSend",
        "daphne.server.Server.create_application",
    ]


@pytest.mark.parametrize(
    ("owner", "attribute", "named"),
    [
        (WebSocketProtocol, "serverSend", "WebSocketProtocol.serverSend"),
        (Server, "create_application", "Server.create_application"),
        (tcp._AbortingMixin, "abortConnection", "tcp.Server.abortConnection"),
        (abstract.FileDescriptor, "dataBuffer", "tcp.Server.dataBuffer"),
        (abstract.FileDescriptor, "disconnecting", "tcp.Server.disconnecting"),
        (Autobahn, "STATE_OPEN", "WebSocketProtocol.STATE_OPEN"),
    ],
)
def test_a_daphne_or_twisted_without_an_attribute_makes_the_guard_refuse(monkeypatch, owner, attribute, named):
    """A method or buffer renamed upstream stops the server at start with a clear error,
    rather than switching the backlog limit off without a word."""
    monkeypatch.delattr(owner, attribute)
    with pytest.raises(ImproperlyConfigured, match=named):
        backlog.install(8 * 1024 * 1024)


def test_a_changed_signature_or_instance_buffer_makes_the_guard_refuse(monkeypatch):
    """A patched method whose arguments changed, or a buffer __init__ no longer sets, is refused too."""
    monkeypatch.setattr(WebSocketProtocol, "serverSend", lambda self, payload, is_binary=False: None)
    with pytest.raises(ImproperlyConfigured, match=r"serverSend\(self, content, binary\)"):
        backlog.check_servers()
    monkeypatch.undo()
    original = abstract.FileDescriptor.__init__

    def without_temp_buffer(self, reactor=None):
        original(self, reactor)
        del self._tempDataLen

    monkeypatch.setattr(abstract.FileDescriptor, "__init__", without_temp_buffer)
    with pytest.raises(ImproperlyConfigured, match="_tempDataLen"):
        backlog.check_servers()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_is_framed_as_any_websocket_implementation_frames_it(size):
    """Server frames are unmasked: the same bytes for every connection, at every length's header form."""
    text = ("é" * size)[: size // 2] + "a" * (size - size // 2)  # multi-byte code points too
    payload = text.encode()
    assert protocol.text_frame(text) == Frame(Opcode.TEXT, payload).serialize(mask=False)


async def test_rounds_of_every_frame_size_reach_the_others_whole_and_in_order(server, headers_for, ada):
    """Each size of frame header, written straight to the sockets, reaches a real client intact."""
    doc = services.document_create(title="T", owner=ada, content="")
    sizes = [1, 200, 70_000, 3, 100_000]
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a, Wire(server.ws(doc.pk), headers_for(ada)) as b:
        start = (await a.join("a"))[-1]["rev"]
        await b.join("b")
        for seq, size in enumerate(sizes, start=1):
            base = start + seq - 1
            await a.send({"type": "op", "seq": seq, "base": base, "ops": [{"pos": 0, "insert": "ü" * size}]})
            assert (await a.recv_until("ack"))[-1] == {"type": "ack", "seq": seq, "rev": base + 1}
        ops: list[dict] = []
        while len(ops) < len(sizes):
            ops += [m for m in await b.recv_until("op") if m["type"] == "op"]
    assert [m["rev"] for m in ops] == [start + n for n in range(1, len(sizes) + 1)]
    assert [m["ops"] for m in ops] == [[{"pos": 0, "insert": "ü" * size}] for size in sizes]
