"""Who opened a WebSocket: Channels' ``AuthMiddlewareStack`` in one layer.

Channels' stack is three middlewares (cookies, session, user). Each copies the scope
and stays on the socket's stack for as long as it is open, with a session wrapper and
a lazy user besides: about 3 KB of every idle connection's memory (see
docs/performance.md, *idle*). For a WebSocket the three do exactly this, which this
layer does once: read the session cookie as Django parses it, open the session it
names with ``SESSION_ENGINE``, and resolve the user with Channels' own
:func:`channels.auth.get_user` (the session's auth hash checked, a stale session
flushed). Channels' session wrapper saves a session only on an HTTP response, never for
a socket, so nothing of it is lost. ``scope["cookies"]`` is left out: nothing here
reads it. ``scope["user"]`` is the user itself, not a lazy object.
"""

from __future__ import annotations

from importlib import import_module

from channels.auth import get_user
from django.conf import settings
from django.http.cookie import parse_cookie


def session_key(headers) -> str | None:
    """The session cookie's value in the handshake's headers, as Django's request.COOKIES has it."""
    for name, value in headers:
        if name == b"cookie":
            return parse_cookie(value.decode("latin1")).get(settings.SESSION_COOKIE_NAME)
    return None


class SessionAuthMiddleware:
    """Puts ``session`` and ``user`` in a WebSocket's scope, as Channels' stack does."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        if "headers" not in scope:
            raise ValueError("SessionAuthMiddleware needs a scope with headers (HTTP or WebSocket)")
        scope = dict(scope, session=self.session_store(session_key(scope["headers"])))
        scope["user"] = await get_user(scope)
        return await self.inner(scope, receive, send)
