"""What every fault scenario shares: clients that remember their acks, random typing,
and the one check of a document's history and of its clients after a scenario."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

from django.db.models import Count

from editor.client import CollabClient
from editor.core import ot
from editor.domain import selectors
from editor.models import Document, Operation, Snapshot
from tests.conftest import session_headers

ALPHABET = ["a", "b", "c", " ", "\n", "😀", "é", "e\u0301", "中", "👍🏽"]
# Documents stay short, so a scenario's time goes to faults rather than to long texts.
MAX_LENGTH = 400


class RecordingClient(CollabClient):
    """A :class:`CollabClient` that remembers every ``ack`` of its own ops and the
    revision it first joined at."""

    def __init__(self, url: str, *, user, headers: dict[str, str], **kwargs) -> None:
        kwargs.setdefault("max_backoff", 0.5)
        super().__init__(url, headers=headers, on_ack=self.record_ack, on_ready=self.record_ready, **kwargs)
        self.user_id = user.pk
        self.acked: dict[int, int] = {}  # seq -> revision
        self.first_rev: int | None = None

    def record_ack(self, seq: int, rev: int) -> None:
        self.acked[seq] = rev

    def record_ready(self, message: dict) -> None:
        if self.first_rev is None:
            self.first_rev = message.get("rev")


def assert_every_revision_once(client, head: int) -> None:
    """``client`` received every revision after the one it first joined at once, in order,
    through ``head``; a revision may be skipped only when a snapshot (a re-join's
    answer) brought the client past it."""
    covered = set(client.snapshots)
    held = client.first_rev
    for rev in client.revisions:
        assert rev > held, f"{client.client_id} received revision {rev} again, or out of order, after {held}"
        assert rev == held + 1 or rev - 1 in covered, (
            f"{client.client_id} received revision {rev} after {held}, and no snapshot brought it past the gap"
        )
        held = rev
    assert held == head or head in covered, f"{client.client_id} stopped at revision {held}, not {head}"


async def connect(server, document_id: str, user, headers: dict | None = None, **kwargs) -> RecordingClient:
    """A joined client of ``user`` on ``server`` (a :class:`tests.conftest.Daphne`);
    ``headers`` made beforehand spare the event loop the database work of a session."""
    headers = headers or session_headers(user, server)
    client = RecordingClient(server.ws(document_id), user=user, headers=headers, **kwargs)
    await client.connect(timeout=30)
    return client


def random_edit(client: CollabClient, rng: random.Random) -> None:
    """A random insert or delete against the client's local text."""
    length = len(client.text)
    if length and (length > MAX_LENGTH or rng.random() < 0.35):
        pos = rng.randrange(length)
        client.delete(pos, rng.randint(1, min(4, length - pos)))
    else:
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3)))
        client.insert(rng.randint(0, length), text)


async def type_randomly(
    client: CollabClient, rng: random.Random, *, ops: int, deadline: float, pause: float = 0.03
) -> int:
    """Up to ``ops`` random edits, a random pause of up to ``pause`` s after each, until
    the loop time ``deadline``; returns how many were made."""
    loop = asyncio.get_running_loop()
    made = 0
    while made < ops and loop.time() < deadline and client.closed_code is None:
        try:
            random_edit(client, rng)
        except RuntimeError:  # stopped for good meanwhile
            break
        made += 1
        await asyncio.sleep(rng.uniform(0, pause))
    return made


async def check_document(document_id: str, clients: Iterable[RecordingClient], *, timeout: float = 40) -> list[str]:
    """Let the clients settle, then check the document's history and every client.

    From the database: revisions are 1..head with no gap; each (user, client, seq) is
    stored at most once; every op acked to a client is stored as that revision, by that
    user and client; the text read as the server reads it (snapshot + replay) equals
    the replay of the whole op log from the empty text, as does the stored snapshot at
    its revision. From the clients: each holds the head, with that same text, and
    received every revision since it joined exactly once, in order. Returns the checks
    made, with their counts, for the report.
    """
    clients = list(clients)
    for client in clients:
        await client.wait_synced(timeout=timeout)
    head = selectors.document_head(document_id=document_id)
    for client in clients:
        await client.wait_for_rev(head, timeout=timeout)
    return check_history(document_id, clients)


def check_history(document_id: str, clients: list[RecordingClient]) -> list[str]:
    """The checks of :func:`check_document` on what is stored and held now, without waiting."""
    document = Document.objects.get(pk=document_id)
    head = document.revision
    rows = list(
        Operation.objects.filter(document_id=document_id)
        .order_by("revision")
        .values_list("revision", "user_id", "client", "seq", "ops")
    )
    revisions = [row[0] for row in rows]
    assert revisions == list(range(1, head + 1)), f"revisions are not 1..{head}"

    twice = (
        Operation.objects.filter(document_id=document_id)
        .values("user_id", "client", "seq")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not twice.exists(), f"submissions stored more than once: {list(twice)}"

    stored = {(user, client, seq): rev for rev, user, client, seq, _ in rows}
    acked = 0
    for client in clients:
        for seq, rev in client.acked.items():
            key = (client.user_id, client.client_id, seq)
            assert stored.get(key) == rev, f"acked op {key} at {rev} is stored at {stored.get(key)}"
            acked += 1

    replayed, texts = "", {0: ""}
    for rev, *_, ops in rows:
        replayed = ot.apply(replayed, ops) if ops else replayed
        texts[rev] = replayed
    assert selectors.document_text(document) == replayed, "the text read differs from the replay"
    snapshot = Snapshot.objects.filter(document_id=document_id).first()
    if snapshot is not None:
        assert snapshot.revision <= head and texts[snapshot.revision] == snapshot.content, "bad snapshot"
    assert document.length == len(replayed), "the stored length differs from the text's"

    for client in clients:
        assert client.rev == head, f"{client.client_id} holds {client.rev}, not {head}"
        assert client.text == client.server_text == replayed, f"{client.client_id} diverged"
        assert client.first_rev is not None, f"{client.client_id} never joined"
        assert_every_revision_once(client, head)
    return [
        f"{head} revisions contiguous",
        f"{len(rows)} submissions unique",
        f"{acked} acked ops stored",
        "text = replay of the log",
        f"{len(clients)} clients on that text",
    ]


def team(make_user, names: Iterable[str] = ("ada", "bob", "cy"), content: str = "Once upon a time\n"):
    """A document owned by the first user and shared with the others as editors."""
    from editor.domain import services
    from editor.models import Membership

    users = [make_user(name) for name in names]
    document = services.document_create(title="Faults", owner=users[0], content=content)
    for user in users[1:]:
        Membership.objects.create(document=document, user=user, role="editor")
    return document, users


async def close_all(clients: Iterable[CollabClient]) -> None:
    """Close the clients, and the database session the test's own context opened (the
    fixtures' is another), so that the test database can be dropped at the end."""
    from django.db import connection

    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    connection.close()
