"""Who opened a socket: the user of the session its cookie names.

What Channels' ``AuthMiddlewareStack`` finds, found once, when the socket connects,
instead of by three middlewares (cookies, session, user) that each copy the scope and
stay on the socket's stack for as long as it is open, with a session wrapper and a
lazy user besides: about 3 KB of every idle socket's memory (docs/performance.md,
*idle*). The same steps: the session cookie read as Django's ``request.COOKIES`` has
it, the session it names opened with ``SESSION_ENGINE``, the user resolved by
Channels' own :func:`channels.auth.get_user` (the session's auth hash checked, a stale
session flushed). Channels' session wrapper saves a session only on an HTTP response,
never for a socket, so nothing of it is missed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import get_user
from django.conf import settings
from django.http.cookie import parse_cookie

from . import dbthread


def session_key(headers) -> str | None:
    """The session cookie's value in a handshake's first ``Cookie`` header (daphne joins
    repeated ones), parsed as Django parses it, as Channels' CookieMiddleware did."""
    for name, value in headers:
        if name == b"cookie":
            return parse_cookie(value.decode("latin1")).get(settings.SESSION_COOKIE_NAME)
    return None


# Channels' get_user without its ``database_sync_to_async`` wrapper: run on the
# sockets' database thread (dbthread), which keeps its connection, rather than on
# asgiref's, which opens and closes one around every call.
_get_user = getattr(get_user, "func", get_user)


def _identify(key: str | None) -> tuple[Any, str | None]:
    session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    user = _get_user({"session": session})
    return user, session.session_key


async def identify(scope) -> tuple[Any, str | None]:
    """The socket's user (``AnonymousUser`` without a valid session) and its session's key."""
    return await dbthread.run(_identify, session_key(scope["headers"]))
