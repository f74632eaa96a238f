"""The application's first layer: one application per kind of connection."""

from __future__ import annotations


class ProtocolRouter:
    """Channels' ``ProtocolTypeRouter``, returning the chosen application's coroutine
    for the server to await instead of awaiting it itself.

    ``ProtocolTypeRouter.__call__`` is a coroutine that stays suspended under every open
    socket for as long as it is open, a frame holding daphne's scope besides the copy
    the router below it makes (docs/performance.md, *idle*). This layer does the same
    choice and is gone once it has made it.
    """

    # One call of (scope, receive, send), as asgiref would not guess from a plain
    # __call__ (it would take this for an ASGI 2 application).
    _asgi_single_callable = True

    def __init__(self, application_mapping: dict) -> None:
        self.application_mapping = application_mapping

    def __call__(self, scope, receive, send):
        try:
            application = self.application_mapping.get(scope["type"])
            if application is None:
                raise ValueError(f"No application configured for scope type {scope['type']!r}")
            return application(scope, receive, send)
        except Exception as exc:
            # Raised when awaited, as from ProtocolTypeRouter: daphne answers an
            # application that fails so (no route, say) with a 500, where a WebSocket
            # handshake failing before there is anything to await gets no answer.
            return _raise(exc)


async def _raise(exc: Exception):
    raise exc
