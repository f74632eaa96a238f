"""The backlog guard refuses to start on a daphne or Twisted without what it patches."""

import pytest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.core.exceptions import ImproperlyConfigured
from twisted.internet import abstract, tcp

from collab import backlog


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
