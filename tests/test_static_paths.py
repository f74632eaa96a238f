"""Static file paths that try to leave the static directories, over a real daphne."""

import http.client

import pytest

PATHS = [
    "/static/..%2f..%2fcollab%2fsettings.py",
    "/static/%2e%2e%2f%2e%2e%2fmanage.py",
    "/static/editor/..%2f..%2f..%2f..%2fcollab%2fsettings.py",
    "/static/%2fetc%2fpasswd",
    "/static/editor%00.js",
]


def get(server, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)  # sent as written, never normalised
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", PATHS)
def test_a_path_out_of_the_static_directories_is_not_found(server, path):
    """Answered 404, never 500, and nothing of the project's files is served."""
    status, body = get(server, path)
    assert status == 404
    assert b"SECRET_KEY" not in body and b"DJANGO_SETTINGS_MODULE" not in body


def test_a_real_static_file_is_still_served(server):
    status, body = get(server, "/static/editor/ot.js")
    assert status == 200 and body
