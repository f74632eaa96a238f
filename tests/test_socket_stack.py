"""The WebSocket application's layers as ASGI sees them, driven without a server."""

import asyncio

import pytest
from asgiref.compatibility import guarantee_single_callable
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.core.exceptions import ImproperlyConfigured
from django.urls import include, path

from collab.origin import OriginValidator
from collab.protocols import ProtocolRouter
from editor.realtime import consumers
from editor.realtime.routing import Router, websocket_urlpatterns

# collab.asgi's WebSocket application, made here: importing collab.asgi would install
# its daphne hooks in this process (tests/test_backlog.py checks them uninstalled).
application = ProtocolRouter({"websocket": OriginValidator(Router(websocket_urlpatterns))})


def scope_for(path_: str, *, cookie: str | None = None, origin: str = "http://testserver") -> dict:
    headers = [(b"host", b"testserver"), (b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "websocket",
        "path": path_,
        "raw_path": path_.encode(),
        "root_path": "",
        "headers": headers,
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "subprotocols": [],
        "asgi": {"version": "3.0"},
    }


def test_the_layers_are_single_callables_on_their_own():
    """asgiref must not take a plain __call__ returning a coroutine for an ASGI 2 app."""
    for app in (Router(websocket_urlpatterns), OriginValidator(Router(websocket_urlpatterns)), application):
        assert guarantee_single_callable(app) is app


def test_no_layer_stays_on_an_open_sockets_stack():
    """What the server awaits for a socket is the consumer's own coroutine: each layer
    above it chose, and returned it instead of awaiting it."""
    running = application(scope_for("/ws/documents/x/"), None, None)
    try:
        assert running.cr_code is consumers.DocumentConsumer.__call__.__code__
        assert running.cr_frame.f_locals["scope"]["url_route"]["kwargs"] == {"document_id": "x"}
    finally:
        running.close()


async def test_the_protocol_router_refuses_a_kind_of_connection_it_has_no_application_for():
    async def http(scope, receive, send):
        pass

    router = ProtocolRouter({"http": http})
    running = router({"type": "http"}, None, None)
    assert running.cr_code is http.__code__
    running.close()
    with pytest.raises(ValueError, match="scope type 'lifespan'"):  # when awaited, as from Channels' router
        await router({"type": "lifespan"}, None, None)


@pytest.mark.django_db(transaction=True)  # Channels' denier tidies database connections
async def test_the_layers_serve_a_socket_without_channels_routers_around_them():
    """A foreign origin is refused by the inner layers run as the whole application."""
    app = OriginValidator(Router(websocket_urlpatterns))
    refused = ApplicationCommunicator(app, scope_for("/ws/documents/x/", origin="http://evil.example"))
    await refused.send_input({"type": "websocket.connect"})
    assert (await refused.receive_output(2))["type"] == "websocket.close"


def test_include_is_refused_when_the_router_is_made():
    with pytest.raises(ImproperlyConfigured, match="include"):
        Router([path("ws/", include(websocket_urlpatterns))])


async def test_an_unknown_path_is_an_error():
    socket = ApplicationCommunicator(application, scope_for("/nowhere/"))
    await socket.send_input({"type": "websocket.connect"})
    with pytest.raises(ValueError, match="No route"):
        await socket.receive_output(2)


@pytest.mark.django_db(transaction=True)
async def test_a_cancelled_consumer_no_longer_counts_against_its_users_sockets(client, ada, doc):
    """daphne cancels an application that outlives its socket by its close timeout."""
    await sync_to_async(client.force_login)(ada)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    socket = ApplicationCommunicator(application, scope_for(f"/ws/documents/{doc.pk}/", cookie=cookie))
    await socket.send_input({"type": "websocket.connect"})
    assert (await socket.receive_output(5))["type"] == "websocket.accept"
    for _ in range(100):  # connect goes on after the accept: the count comes last
        if consumers._sockets_per_user.get(ada.pk):
            break
        await asyncio.sleep(0.02)
    assert consumers._sockets_per_user[ada.pk] == 1
    socket.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await socket.future
    assert ada.pk not in consumers._sockets_per_user
    from editor.realtime.watch import watcher

    for _ in range(100):  # the rest of disconnect runs in a task of its own
        if not any(getattr(s, "user_id", None) == ada.pk for s in watcher.sockets):
            break
        await asyncio.sleep(0.02)
    assert not any(getattr(s, "user_id", None) == ada.pk for s in watcher.sockets)
