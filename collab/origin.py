"""The WebSocket origin check: scheme, host and port, as Django's CSRF check does it.

A socket is let through when its ``Origin`` header names exactly the origin the page
was served from (the scheme of the socket, ``ws`` → ``http`` and ``wss`` → ``https``,
with the ``Host`` it was opened on, which must be in ALLOWED_HOSTS), or one of
CSRF_TRUSTED_ORIGINS. Default ports are written out, so ``http://h`` and ``http://h:80``
are one origin, and ``https://h`` or ``http://h:1`` are others. Anything else, and a
missing or malformed ``Origin``, is refused with HTTP 403 before the consumer runs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin such as ``https://Example.com:443``; None if malformed."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username is not None or parts.password is not None:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _secure(scope) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
        return _header(scope, header) == value
    return False


def own_origin(scope) -> tuple[str, str, int] | None:
    """The origin of the page that may open this socket: its scheme and allowed Host."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return normalise(f"{'https' if _secure(scope) else 'http'}://{host}")


def trusted(origin: tuple[str, str, int]) -> bool:
    """Whether CSRF_TRUSTED_ORIGINS lists the origin (``https://*.example.com`` for subdomains)."""
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        allowed = normalise(entry.replace("://*.", "://", 1))
        if allowed is None or allowed[0] != scheme or allowed[2] != port:
            continue
        if host == allowed[1] or (wildcard and host.endswith("." + allowed[1])):
            return True
    return False


def origin_allowed(scope) -> bool:
    """Whether the socket's ``Origin`` is its own page's origin or a trusted one."""
    header = _header(scope, b"origin")
    origin = normalise(header) if header else None
    if origin is None:
        return False
    return origin == own_origin(scope) or trusted(origin)


class Denier(WebsocketDenier):
    """Channels' denier without a channel of the layer: a refused socket hears nothing
    (and channels-redis would open one, and poll it, for every refusal)."""

    channel_layer_alias = None


class OriginValidator:
    """ASGI middleware: refuse (HTTP 403) a socket whose origin :func:`origin_allowed` refuses."""

    # One call of (scope, receive, send), as asgiref would not guess from a plain
    # __call__ (it would take this for an ASGI 2 application).
    _asgi_single_callable = True

    def __init__(self, application) -> None:
        self.application = application

    def __call__(self, scope, receive, send):
        # The chosen application's coroutine, returned to be awaited by the caller:
        # not awaited here, this layer does not stay on every open socket's stack.
        if origin_allowed(scope):
            return self.application(scope, receive, send)
        return Denier()(scope, receive, send)
