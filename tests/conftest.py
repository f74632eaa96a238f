"""Shared fixtures: a real daphne on a loopback port, users and their session cookies."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

from .waiting import eventually

pytest_plugins = ["tests.hangs"]

ROOT = Path(__file__).resolve().parent.parent
# Test set-up code calls the ORM from async tests; the servers under test never do.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Hypothesis keeps what it learns (failing examples, Unicode tables) in the user's
# cache, never in the tree, and has no deadline: a loaded machine is slow, not wrong.
HYPOTHESIS_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "collab-tests" / "hypothesis"
set_hypothesis_home_dir(HYPOTHESIS_HOME)
hypothesis_settings.register_profile(
    "collab", deadline=None, database=DirectoryBasedExampleDatabase(HYPOTHESIS_HOME / "examples")
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "collab"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    """The environment a server process needs to open the tests' database."""
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env["DJANGO_SETTINGS_MODULE"] = "collab.settings"
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env["COLLAB_SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env.update(extra)
    return env


class Daphne:
    """A daphne process serving the project on a free loopback port."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = server_env(**env)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Daphne:
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                "--websocket-max-message-size", str(settings.COLLAB_MAX_FRAME_BYTES),
                "collab.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
        )

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        eventually(listening, timeout=60, interval=0.1)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def ws(self, document_id: str) -> str:
        return f"{self.ws_url}/ws/documents/{document_id}/"


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker):
    """One daphne for the session, on the tests' database."""
    server = Daphne().start()
    yield server
    server.stop()
    time.sleep(0.5)  # PostgreSQL ends the server's sessions just after it exits


def settle(timeout: float = 10) -> None:
    """Wait until the servers have finished with this test's sockets.

    A disconnect still writing while the test database is flushed can deadlock the
    flush on PostgreSQL (TRUNCATE locks every table), so the next test would start
    on a dirty database.
    """
    from editor.models import Connection

    with contextlib.suppress(AssertionError):  # the flush is attempted all the same
        eventually(lambda: not Connection.objects.exists(), timeout=timeout, interval=0.05)
    time.sleep(0.05)


@pytest.fixture
def server(daphne_server, transactional_db):
    """The session's daphne, with a clean database for this test."""
    yield daphne_server
    settle()


@pytest.fixture
def make_user(transactional_db):
    """Create a user; returns it."""
    from django.contrib.auth import get_user_model

    def make(username: str):
        return get_user_model().objects.create_user(username=username, password=None)

    return make


@pytest.fixture
def ada(make_user):
    """A user with no rights beyond her own documents."""
    return make_user("ada")


def session_headers(user, server: Daphne) -> dict[str, str]:
    """The headers a signed-in browser tab of ``user`` sends on the socket handshake."""
    client = Client()
    client.force_login(user)
    csrf = get_random_string(32)  # Django accepts a client-chosen CSRF secret of 32 characters
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}"
    return {"Cookie": cookie, "Origin": server.url}


@pytest.fixture
def headers_for(server):
    """Session headers for a user, as a signed-in browser tab of ``target`` (by default
    the session's server) would send them: the Origin names that server."""
    return lambda user, target=None: session_headers(user, target or server)


def redis_url() -> str | None:
    """A reachable Redis for tests, or None; under CI=true an unreachable one fails."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        socket.create_connection(("127.0.0.1", 6379) if "REDIS_URL" not in os.environ else _hostport(url), timeout=2).close()
        return url
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {url} is unreachable, and CI requires it")
        return None


def _hostport(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


@pytest.fixture
def server_pair(transactional_db, request):
    """Two daphne processes on one database; ``request.param`` chooses the channel layer."""
    if request.param == "redis":
        url = redis_url()
        if url is None:
            pytest.skip("Redis is unreachable")
        env = {"REDIS_URL": url, "COLLAB_REDIS_PREFIX": f"pair-{os.getpid()}-{free_port()}"}
    else:
        env = {"REDIS_URL": ""}
    servers = [Daphne(**env).start(), Daphne(**env).start()]
    yield servers
    for s in servers:
        s.stop()


# Small limits, so each can be hit quickly by a test.
LIMITED_ENV = {
    "COLLAB_MAX_DOCUMENT_CHARS": "200",
    "COLLAB_MAX_INSERT_CHARS": "50",
    "COLLAB_OPS_PER_SECOND": "2",
    "COLLAB_OPS_BURST": "3",
    "COLLAB_MAX_SOCKETS_PER_USER": "3",
    "COLLAB_ABUSE_LIMIT": "8",
    "COLLAB_SESSION_CHECK_SECONDS": "1",
    "COLLAB_MAX_BACKLOG_BYTES": "262144",
}


@pytest.fixture(scope="session")
def limited_daphne(django_db_setup, django_db_blocker):
    """A daphne whose limits are small (see LIMITED_ENV)."""
    server = Daphne(**LIMITED_ENV).start()
    yield server
    server.stop()


@pytest.fixture
def limited_server(limited_daphne, transactional_db):
    yield limited_daphne
    settle()


def closing_connections(test):
    """For an async test that uses the ORM: close its task's own database connection at
    the end, which no fixture can reach; left open, it keeps PostgreSQL from dropping
    the test database."""
    import functools

    from django.db import connections

    @functools.wraps(test)
    async def run(*args, **kwargs):
        try:
            return await test(*args, **kwargs)
        finally:
            connections.close_all()

    return run
