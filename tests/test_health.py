"""/healthz on a real daphne: 200 when the database and the channel layer answer,
503 naming the part that failed when either is down or hangs, never a hang itself."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from .conftest import Daphne, free_port, redis_url


def get_health(server: Daphne) -> tuple[int, dict, dict]:
    """Status, JSON body and headers of /healthz (the client gives up after 20 s)."""
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=20) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


class Silent:
    """A loopback listener that takes TCP connections and never answers on them."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.taken: list[socket.socket] = []

    def accepted(self) -> int:
        """How many connections came (taken, and kept open, so that no client sees its
        connection fail and tries again)."""
        self.listener.settimeout(0.5)
        count = 0
        try:
            while True:
                self.taken.append(self.listener.accept()[0])
                count += 1
        except TimeoutError:
            return count

    def close(self) -> None:
        for connection in self.taken:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent():
    listener = Silent()
    yield listener
    listener.close()


@pytest.fixture
def health_server(transactional_db, request):
    """A daphne of this test's own, with the environment the test asks for."""
    servers = []

    def start(**env: str) -> Daphne:
        server = Daphne(COLLAB_HEALTH_TIMEOUT_SECONDS="1", **env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_healthy_process_answers_200(server):
    """Database and channel layer both answer: 200, not cached."""
    status, body, headers = get_health(server)
    assert (status, body) == (200, {"status": "ok", "database": "ok", "channel_layer": "ok"})
    assert "no-cache" in headers.get("Cache-Control", "")


def test_healthy_process_with_a_connection_pool_answers_200(health_server):
    """On PostgreSQL the check goes past the pool to the server, and answers."""
    server = health_server(COLLAB_DB_POOL_MAX_SIZE="2")
    for _ in range(3):
        assert get_health(server)[:2] == (200, {"status": "ok", "database": "ok", "channel_layer": "ok"})


def test_healthy_process_on_redis_answers_200(health_server):
    """A round trip through a reachable Redis channel layer succeeds."""
    url = redis_url()
    if url is None:
        pytest.skip("Redis is unreachable")
    server = health_server(REDIS_URL=url, COLLAB_REDIS_PREFIX=f"health-{free_port()}")
    assert get_health(server)[:2] == (200, {"status": "ok", "database": "ok", "channel_layer": "ok"})


def test_unreachable_redis_gives_503_naming_the_channel_layer(health_server):
    """Nothing listens where Redis should be: 503, the database still reported ok."""
    server = health_server(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body, _ = get_health(server)
    assert status == 503
    assert body == {"status": "unavailable", "database": "ok", "channel_layer": "unreachable"}


def test_hung_redis_gives_503_instead_of_hanging(health_server, silent):
    """Redis accepts connections but never answers: the check times out, twice in a row."""
    server = health_server(REDIS_URL=f"redis://127.0.0.1:{silent.port}/0")
    for _ in range(2):
        status, body, _ = get_health(server)
        assert (status, body["channel_layer"], body["database"]) == (503, "timeout", "ok")


@pytest.mark.parametrize("pool", ["0", "4"])
def test_unreachable_database_gives_503_naming_the_database(health_server, pool):
    """Nothing listens where PostgreSQL should be: 503, with no address or trace in the
    body, with or without a connection pool (which would wait rather than fail)."""
    port = free_port()
    server = health_server(DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/collab", COLLAB_DB_POOL_MAX_SIZE=pool)
    status, body, _ = get_health(server)
    assert status == 503
    assert body == {"status": "unavailable", "database": "unreachable", "channel_layer": "ok"}
    assert str(port) not in json.dumps(body)


@pytest.mark.parametrize("pool", ["0", "4"])
def test_hung_database_gives_503_and_checks_do_not_pile_up(health_server, silent, pool):
    """PostgreSQL accepts but never answers: every poll answers 503 'timeout', and the
    stuck check is shared rather than started again (one connection attempt only)."""
    server = health_server(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{silent.port}/collab", COLLAB_DB_POOL_MAX_SIZE=pool
    )
    for _ in range(3):
        status, body, _ = get_health(server)
        assert (status, body["database"], body["channel_layer"]) == (503, "timeout", "ok")
    assert silent.accepted() == 1
