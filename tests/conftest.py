"""Shared fixtures: a real daphne on a loopback port, users and their session cookies."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def wait_listening(port: int, proc: subprocess.Popen, what: str, *, timeout: float = 30) -> None:
    """Wait until ``proc`` accepts connections on ``port`` of 127.0.0.1; fail at once if it exits."""

    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    eventually(listening, timeout=timeout, interval=0.05, what=f"{what} listening on port {port}")


def other_sessions_ended(timeout: float = 10, *, application_name: str | None = None) -> None:
    """On PostgreSQL, wait (at most ``timeout``, then go on) until every other session on
    the test database has ended, or only those of ``application_name`` (one server's:
    see :class:`Daphne`). A stopped server's end just after it exits, and until then they
    keep the database from being flushed or dropped."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    # A scenario may have terminated this very session: the test itself runs in another
    # context, whose own connection is a different session.
    if connection.connection is not None and not connection.is_usable():
        connection.close()

    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    if application_name is not None:
        query += " AND application_name = %s"

    def alone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(query, [] if application_name is None else [application_name])
            return cursor.fetchone()[0] == 0

    with contextlib.suppress(AssertionError):
        eventually(alone, timeout=timeout, interval=0.05, what="the other database sessions to end")


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
        # Names its PostgreSQL sessions (libpq reads PGAPPNAME), so a test can wait for them to end.
        self.env.setdefault("PGAPPNAME", f"collab-test-daphne-{self.port}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Daphne:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--websocket-max-message-size",
                str(settings.COLLAB_MAX_FRAME_BYTES),
                "collab.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
        )

        wait_listening(self.port, self.proc, "daphne", timeout=60)
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


@contextlib.contextmanager
def running(server: Daphne, django_db_blocker):
    """Start ``server``; at the end stop it and wait for its database sessions to end."""
    try:
        server.start()  # inside: a server that never came up is stopped all the same
        yield server
    finally:
        server.stop()
        with django_db_blocker.unblock():
            other_sessions_ended(application_name=server.env["PGAPPNAME"])


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker):
    """One daphne for the session, on the tests' database."""
    with running(Daphne(), django_db_blocker) as server:
        yield server


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
    """Create a user, with no usable password unless given one (hashing one is slow);
    returns it. Its tests run on a database committed for real, as the servers see it."""
    from django.contrib.auth import get_user_model

    def make(username: str, password: str | None = None):
        return get_user_model().objects.create_user(username=username, password=password)

    return make


@pytest.fixture(autouse=True)
def _fresh_insert_budgets():
    """Each test starts with full inserted-text budgets: users' ids repeat between tests."""
    from editor.domain import budgets

    budgets.forget_all()
    yield
    budgets.forget_all()


@pytest.fixture
def ada(make_user):
    """A user with no rights beyond her own documents."""
    return make_user("ada")


ADA_PASSWORD = "correct horse battery"


@pytest.fixture
def ada_password(ada) -> str:
    """Ada's password, for the tests that sign in with it (hashing it is slow, so the
    ``ada`` of other tests has none)."""
    ada.set_password(ADA_PASSWORD)
    ada.save(update_fields=["password"])
    return ADA_PASSWORD


@pytest.fixture
def bob(make_user):
    """A second user, with no rights beyond his own documents."""
    return make_user("bob")


@pytest.fixture
def doc(ada):
    """Ada's document "Notes", holding "hello" at revision 1."""
    from editor.domain import services

    return services.document_create(title="Notes", owner=ada, content="hello")


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


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A redis-server of a test's own on a free loopback port, keeping nothing on disk."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir or Path(tempfile.gettempdir())
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        eventually(self.answers, timeout=20, interval=0.05, what="redis-server answering PING")
        return self

    def answers(self) -> bool:
        """Whether the server answers PING; fails at once if it has exited."""
        assert self.proc is not None, "redis-server was not started"
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, and wait for it to exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: everything it held is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def redis_url() -> str | None:
    """A reachable Redis for tests, or None; under CI=true an unreachable one fails."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        socket.create_connection(
            ("127.0.0.1", 6379) if "REDIS_URL" not in os.environ else _hostport(url), timeout=2
        ).close()
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
    with running(Daphne(**LIMITED_ENV), django_db_blocker) as server:
        yield server


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
