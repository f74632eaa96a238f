"""Plain HTTP against a test server, as a signed-in browser would send it."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post(base_url: str, path: str, data: dict, *, cookie: str) -> int:
    """POST a form with the session's CSRF token; returns the status code."""
    jar = SimpleCookie(cookie)
    token = jar["csrftoken"].value
    request = urllib.request.Request(
        base_url + path,
        data=urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode(),
        headers={"Cookie": cookie, "Referer": base_url + "/", "X-CSRFToken": token},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
