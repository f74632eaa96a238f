"""SIGTERM on a real daphne: sockets closed with 1012, commits finished or rolled back
whole, and the process gone within a bounded time, even when a commit hangs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3

import pytest
from django.conf import settings

from editor.client import CollabClient
from editor.domain import selectors, services
from editor.models import Document, Membership, Operation

from .conftest import Daphne, closing_connections, session_headers
from .waiting import eventually_async


@pytest.fixture
def own_server(transactional_db):
    servers = []

    def start(**env: str) -> Daphne:
        server = Daphne(**env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def pair(make_user):
    ada, bob = make_user("ada"), make_user("bob")
    doc = services.document_create(title="Notes", owner=ada, content="")
    Membership.objects.create(document=doc, user=bob, role="editor")
    return doc, ada, bob


async def exited(server: Daphne, timeout: float = 30) -> int:
    """Wait (bounded) for the server's process to end; its exit status."""
    proc = server.proc
    assert proc is not None, "daphne was not started"
    await eventually_async(lambda: proc.poll() is not None, timeout=timeout, what="daphne to exit")
    return proc.returncode


def restart(server: Daphne) -> None:
    """Start the server again on the same port."""
    server.start()


@contextlib.contextmanager
def commits_blocked(doc):
    """Hold the document's row (PostgreSQL) or the write lock (SQLite) from outside."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        conn = sqlite3.connect(db["NAME"], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        conn = psycopg.connect(
            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
        )
        conn.execute("SELECT id FROM editor_document WHERE id = %s FOR UPDATE", [doc.pk])
    try:
        yield
    finally:
        conn.rollback()
        conn.close()


def assert_history_whole(doc) -> str:
    """Every revision up to the document's head is stored once, and the text replays."""
    doc = Document.objects.get(pk=doc.pk)
    revisions = list(Operation.objects.filter(document=doc).order_by("revision").values_list("revision", flat=True))
    assert revisions == list(range(1, doc.revision + 1))
    text = selectors.document_at_revision(document_id=doc.pk, revision=doc.revision)
    assert selectors.document_snapshot(document_id=doc.pk) == (doc.revision, text)
    return text


@closing_connections
async def test_sigterm_closes_sockets_with_1012_and_exits(own_server, pair):
    """An idle process closes its socket with 1012, stops listening and exits 0."""
    doc, ada, _ = pair
    server = own_server()
    client = CollabClient(server.ws(doc.pk), headers=session_headers(ada, server), reconnect=False)
    await client.connect()
    server.proc.send_signal(signal.SIGTERM)
    await eventually_async(lambda: client.closed_code is not None, what="the socket to close")
    assert client.closed_code == 1012
    assert await exited(server) == 0
    await client.close()


@closing_connections
async def test_restart_while_two_people_type_loses_nothing(own_server, pair):
    """Two clients type through a SIGTERM and a restart on the same port: every
    keystroke lands exactly once and both end on the server's text."""
    doc, ada, bob = pair
    server = own_server()
    clients = [
        CollabClient(server.ws(doc.pk), headers=session_headers(user, server), max_backoff=0.5) for user in (ada, bob)
    ]
    for client in clients:
        await client.connect()
    words: list[str] = []

    async def type_words(client: CollabClient, name: str, stop: asyncio.Event) -> None:
        i = 0
        while not stop.is_set():
            word = f"<{name}{i}>"
            client.insert(len(client.text), word)
            words.append(word)
            i += 1
            await asyncio.sleep(0.01)

    stop = asyncio.Event()
    typing = [asyncio.create_task(type_words(c, n, stop)) for c, n in zip(clients, "ab")]
    await eventually_async(lambda: len(words) > 40, what="typing")
    server.proc.send_signal(signal.SIGTERM)
    assert await exited(server) == 0
    await asyncio.sleep(0.2)  # typing goes on while no server runs
    restart(server)
    await eventually_async(lambda: all(c.rev is not None and c.rev > 0 for c in clients), what="reconnection")
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*typing)
    for client in clients:
        await client.wait_synced(timeout=30)
    text = assert_history_whole(doc)
    await eventually_async(lambda: all(c.text == text for c in clients), what="convergence")
    assert sorted(text.replace("><", ">\n<").splitlines()) == sorted(words)
    for client in clients:
        await client.close()


@closing_connections
async def test_sigterm_lets_a_commit_in_flight_finish(own_server, pair):
    """A commit waiting when SIGTERM comes is still made by the stopping process, which
    then exits cleanly; its client, closed with 1012 before the ack, has nothing lost."""
    doc, ada, _ = pair
    server = own_server()
    client = CollabClient(server.ws(doc.pk), headers=session_headers(ada, server), reconnect=False)
    await client.connect()
    client.insert(0, "kept")
    await client.wait_synced()
    with commits_blocked(doc):
        client.insert(4, " once")
        await asyncio.sleep(0.3)  # the commit is waiting for the lock
        server.proc.send_signal(signal.SIGTERM)
        await eventually_async(lambda: client.closed_code is not None, what="the socket to close")
        assert client.closed_code == 1012
        await asyncio.sleep(0.5)
        assert server.proc.poll() is None  # waiting for the commit
    assert await exited(server) == 0
    assert assert_history_whole(doc) == "kept once"
    await client.close()


@closing_connections
async def test_sigterm_during_a_hung_commit_exits_and_keeps_history_whole(own_server, pair):
    """A commit that cannot finish (the row is locked elsewhere): the process still
    exits after its grace period, the revision is not half-written, and the op lands
    exactly once after a restart."""
    doc, ada, _ = pair
    server = own_server(COLLAB_SHUTDOWN_GRACE_SECONDS="1")
    client = CollabClient(server.ws(doc.pk), headers=session_headers(ada, server), max_backoff=0.5)
    await client.connect()
    client.insert(0, "kept")
    await client.wait_synced()
    with commits_blocked(doc):
        client.insert(4, " once")
        await asyncio.sleep(0.3)  # the commit is waiting for the lock
        server.proc.send_signal(signal.SIGTERM)
        await exited(server)
    assert assert_history_whole(doc) == "kept"
    restart(server)
    await client.wait_synced(timeout=30)
    assert assert_history_whole(doc) == "kept once" == client.text
    await client.close()


@closing_connections
async def test_second_sigterm_stops_at_once(own_server, pair):
    """With a long grace period and a hung commit: the process stops listening and
    waits, and a second SIGTERM still ends it."""
    doc, ada, _ = pair
    server = own_server(COLLAB_SHUTDOWN_GRACE_SECONDS="120")
    client = CollabClient(server.ws(doc.pk), headers=session_headers(ada, server), reconnect=False)
    await client.connect()
    with commits_blocked(doc):
        client.insert(0, "x")
        await asyncio.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        await eventually_async(lambda: client.closed_code is not None, what="the socket to close")
        assert server.proc.poll() is None  # still waiting for the commit
        with pytest.raises(ConnectionRefusedError):  # and no longer listening
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        server.proc.send_signal(signal.SIGTERM)
        await exited(server, timeout=30)
    assert_history_whole(doc)
    await client.close()
