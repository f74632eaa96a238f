"""The WebSocket routes, and the router that serves them."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, path

from .consumers import DocumentConsumer

websocket_urlpatterns = [
    path("ws/documents/<str:document_id>/", DocumentConsumer.as_asgi()),
]


class Router:
    """Channels' ``URLRouter`` for flat routes, not kept on every open socket's stack.

    It matches ``scope["path"]`` (less ``root_path``) as ``URLRouter`` does and calls the
    route with a copy of the scope holding ``url_route`` and ``path_remaining``, but
    returns the consumer's coroutine for the server to await instead of awaiting it
    itself, and makes the consumer of an ``as_asgi()`` route directly: ``URLRouter`` and
    ``as_asgi()`` would each stay suspended, a coroutine and its frame, under every open
    socket (docs/performance.md, *idle*). No nested routers: none is needed here.
    """

    # One call of (scope, receive, send), as asgiref would not guess from a plain
    # __call__ (it would take this for an ASGI 2 application).
    _asgi_single_callable = True

    def __init__(self, routes) -> None:
        self.routes = list(routes)
        for route in self.routes:
            if not isinstance(route, URLPattern):
                raise ImproperlyConfigured(f"{route!r}: only path() and re_path() routes, no include()")

    def __call__(self, scope, receive, send):
        full = scope["path"]
        root = scope.get("root_path", "")
        if root and not full.startswith(root):
            raise ValueError(f"No route found for path {full!r}.")
        rest = full[len(root) :].lstrip("/")
        for route in self.routes:
            match = route.pattern.match(rest)
            if match:
                remaining, args, kwargs = match
                scope = dict(
                    scope,
                    path_remaining=remaining,
                    url_route={"args": args, "kwargs": {**kwargs, **route.default_args}},
                )
                app = route.callback
                consumer_class = getattr(app, "consumer_class", None)
                if consumer_class is not None:  # as_asgi(): what its wrapper does, without the wrapper
                    app = consumer_class(**app.consumer_initkwargs)
                return app(scope, receive, send)
        raise ValueError(f"No route found for path {rest!r}.")
