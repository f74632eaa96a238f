"""Logging in over HTTP, for the session cookie a socket's handshake carries."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class LoginFailed(Exception):
    """Logging in over HTTP did not yield a session."""


_CSRF_INPUT = re.compile(r"<input[^>]*name=[\"']csrfmiddlewaretoken[\"'][^>]*>", re.IGNORECASE)
_VALUE = re.compile(r"value=[\"']([^\"']*)[\"']")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the redirect after logging in is the answer; its target is not needed


async def login(base_url: str, username: str, password: str) -> str:
    """Log in with Django's LoginView; return a ``Cookie`` header value for the handshake.

    Raises :class:`LoginFailed` when the server does not open a session.
    """
    return await asyncio.to_thread(_login, base_url.rstrip("/"), username, password)


def _login(base_url: str, username: str, password: str) -> str:
    url = f"{base_url}/accounts/login/"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    with opener.open(url, timeout=10) as response:
        page = response.read().decode("utf-8", "replace")
    tag = _CSRF_INPUT.search(page)
    token = _VALUE.search(tag.group(0)) if tag else None
    if token is None:
        raise LoginFailed(f"no csrfmiddlewaretoken field in the log-in form at {url}")
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    ).encode()
    request = urllib.request.Request(url, data=body, headers={"Referer": url})
    try:
        with opener.open(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    cookies = sorted(jar, key=lambda cookie: cookie.name != "sessionid")
    if status not in (301, 302, 303) or not any(c.name == "sessionid" for c in cookies):
        raise LoginFailed(f"log-in as {username!r} at {url} failed (HTTP {status}): wrong username or password?")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in cookies)
