"""The WebSocket router: Channels' URLRouter's matching, without staying on the stack."""

import pytest
from django.urls import path, re_path

from editor.realtime.routing import Router


class Recorder:
    """An ASGI app (or consumer) that keeps the scope it was called with."""

    made = 0

    def __init__(self, **initkwargs) -> None:
        Recorder.made += 1
        self.initkwargs = initkwargs
        self.scope: dict | None = None

    async def __call__(self, scope, receive, send):
        self.scope = scope
        return self


def as_asgi(**initkwargs):
    """A stand-in for a consumer's ``as_asgi()``: the attributes Channels gives its app."""

    async def app(scope, receive, send):  # never called: the router makes the consumer itself
        raise AssertionError("the as_asgi wrapper should not be called")

    app.consumer_class = Recorder
    app.consumer_initkwargs = initkwargs
    return app


def scope_for(full_path: str, root_path: str = "") -> dict:
    return {"type": "websocket", "path": full_path, "root_path": root_path, "headers": []}


async def test_a_route_gets_its_url_kwargs_and_a_consumer_of_its_own():
    router = Router([path("ws/documents/<str:document_id>/", as_asgi(flavour="x"))])
    before = Recorder.made
    outer = scope_for("/ws/documents/AbC-1_z/")
    first = await router(outer, None, None)
    second = await router(scope_for("/ws/documents/other/"), None, None)
    assert Recorder.made == before + 2 and first is not second
    assert first.initkwargs == {"flavour": "x"}
    assert first.scope["url_route"] == {"args": (), "kwargs": {"document_id": "AbC-1_z"}}
    assert first.scope["path_remaining"] == ""
    assert second.scope["url_route"]["kwargs"] == {"document_id": "other"}
    assert "url_route" not in outer  # the caller's scope is copied, not changed


async def test_plain_asgi_apps_regex_routes_and_default_kwargs():
    app = Recorder()
    router = Router(
        [
            path("ws/documents/<str:document_id>/", as_asgi()),
            re_path(r"^ws/raw/(?P<n>[0-9]+)/$", app, kwargs={"kind": "raw"}),
        ]
    )
    assert await router(scope_for("/ws/raw/42/"), None, None) is app
    assert app.scope is not None
    assert app.scope["url_route"] == {"args": (), "kwargs": {"n": "42", "kind": "raw"}}


async def test_the_root_path_is_taken_off_first():
    router = Router([path("ws/documents/<str:document_id>/", as_asgi())])
    consumer = await router(scope_for("/editor/ws/documents/d1/", root_path="/editor"), None, None)
    assert consumer.scope["url_route"]["kwargs"] == {"document_id": "d1"}
    with pytest.raises(ValueError, match="No route"):
        router(scope_for("/elsewhere/ws/documents/d1/", root_path="/editor"), None, None)


@pytest.mark.parametrize("full_path", ["/ws/documents/", "/ws/documents/a/b/", "/nothing/", "/ws/documents/a"])
def test_no_route_is_an_error_as_in_channels(full_path):
    router = Router([path("ws/documents/<str:document_id>/", as_asgi())])
    with pytest.raises(ValueError, match="No route found"):
        router(scope_for(full_path), None, None)
