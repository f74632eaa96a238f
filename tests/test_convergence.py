"""Many clients, random edits, random delays and reconnects: everyone ends on the server's text."""

import asyncio
import random

import pytest
from django.conf import settings

from editor.client import CollabClient
from editor.domain import selectors, services
from editor.models import Document, Membership, Operation

from .conftest import Daphne, closing_connections, running, session_headers

ALPHABET = ["a", "b", "c", " ", "\n", "😀", "é", "e\u0301", "中", "👍🏽"]


def random_edit(client: CollabClient, rng: random.Random) -> None:
    """A random insert or delete against the client's current local text."""
    length = len(client.text)
    if length and rng.random() < 0.35:
        pos = rng.randrange(length)
        client.delete(pos, rng.randint(1, min(4, length - pos)))
    else:
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3)))
        client.insert(rng.randint(0, length), text)


async def type_randomly(client: CollabClient, rng: random.Random, steps: int, *, drops: bool) -> None:
    for _ in range(steps):
        random_edit(client, rng)
        await asyncio.sleep(rng.uniform(0, 0.03))
        if drops and rng.random() < 0.04:
            await client.drop_connection()


def assert_exactly_once(client: CollabClient, start: int, head: int) -> None:
    """The client saw every revision after ``start`` exactly once, in order."""
    assert client.revisions == list(range(start + 1, head + 1)), client.client_id


async def type_together_and_converge(doc, clients, rng, steps, *, drops) -> tuple[int, Document]:
    """Connect ``clients``, let each make ``steps`` random edits at once (those for whose
    index ``drops`` is true dropping their sockets now and then), and check that every
    one ends on the stored text having seen every revision exactly once. Returns the
    revision they started from and the document as stored."""
    for c in clients:
        await c.connect()
    start = clients[0].rev
    await asyncio.gather(
        *(type_randomly(c, random.Random(rng.random()), steps, drops=drops(i)) for i, c in enumerate(clients))
    )
    for c in clients:
        await c.wait_synced(timeout=30)
    document = Document.objects.get(pk=doc.pk)
    for c in clients:
        await c.wait_for_rev(document.revision, timeout=30)
    for c in clients:
        assert c.text == selectors.document_text(document)
        assert_exactly_once(c, start, document.revision)
        assert c.errors == []
    return start, document


@pytest.fixture
def team(make_user):
    owner = make_user("ada")
    doc = services.document_create(title="Shared", owner=owner, content="Once upon a time\n")
    users = [owner]
    for name in ("bob", "cy"):
        user = make_user(name)
        Membership.objects.create(document=doc, user=user, role="editor")
        users.append(user)
    return doc, users


async def test_six_clients_with_delays_and_reconnects_converge(server, team, headers_for):
    """Six clients type at random, three of them dropping their sockets now and then."""
    doc, users = team
    clients = [CollabClient(server.ws(doc.pk), headers=headers_for(users[i % 3])) for i in range(6)]
    try:
        await type_together_and_converge(doc, clients, random.Random(20261123), 40, drops=lambda i: i % 2 == 0)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_edits_made_while_the_server_restarts_are_not_lost(transactional_db, team, headers_for):
    """A client keeps typing through a server restart; its edits land once afterwards."""
    doc, users = team
    server = Daphne().start()
    try:
        a = CollabClient(server.ws(doc.pk), headers=headers_for(users[0], server), max_backoff=0.5)
        b = CollabClient(server.ws(doc.pk), headers=headers_for(users[1], server), max_backoff=0.5)
        await a.connect()
        await b.connect()
        a.insert(0, "before ")
        await a.wait_synced()
        server.stop()
        a.insert(len(a.text), "during😀")
        b.insert(0, "B:")
        await asyncio.sleep(0.5)
        server.start()
        await a.wait_synced(timeout=20)
        await b.wait_synced(timeout=20)
        document = Document.objects.get(pk=doc.pk)
        await a.wait_for_rev(document.revision, timeout=20)
        await b.wait_for_rev(document.revision, timeout=20)
        assert a.text == b.text == selectors.document_text(document)
        assert (
            selectors.document_text(document).count("during😀") == 1
            and selectors.document_text(document).count("B:") == 1
        )
        assert selectors.document_text(document).count("before ") == 1
        await a.close()
        await b.close()
    finally:
        server.stop()


@closing_connections
async def test_clients_converge_on_a_server_with_debug_off(transactional_db, django_db_blocker, team):
    """As in production, debug is off, so nothing logs the queries: on SQLite the
    commits' own statements run on the driver's cursor (``editor.domain.commit._cursor``;
    the other tests' servers run in debug, on Django's cursor). Four clients type at
    once, one dropping its socket now and then: everyone ends on the stored text, every
    revision reached everyone once, and the stored history rebuilds that text."""
    doc, users = team
    server = Daphne(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=settings.SECRET_KEY, DJANGO_SECURE_SSL_REDIRECT="false")
    with running(server, django_db_blocker):
        clients = [CollabClient(server.ws(doc.pk), headers=session_headers(users[i % 3], server)) for i in range(4)]
        try:
            start, document = await type_together_and_converge(
                doc, clients, random.Random(20261201), 30, drops=lambda i: i == 0
            )
            writers = Operation.objects.filter(document=doc, revision__gt=start).values_list("client", flat=True)
            assert set(writers) == {c.client_id for c in clients}  # every client's ops were committed
            text = selectors.document_text(document)
            assert selectors.replay(document_id=doc.pk, text="", after=0, through=document.revision) == text
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
