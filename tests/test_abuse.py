"""Abuse resistance over a real daphne: the origin rule, joins, and what one client costs others."""

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from editor.domain import selectors, services
from editor.models import Document, Membership

from .conftest import Daphne, running, session_headers, settle
from .wire import Wire, closed_with

TRUSTED = "https://collab.example.com"
# Joins are nearly free of refill here, so the burst is all a socket gets.
STRICT_ENV = {
    "DJANGO_CSRF_TRUSTED_ORIGINS": TRUSTED,
    "COLLAB_JOINS_PER_SECOND": "0.01",
    "COLLAB_JOINS_BURST": "3",
    "COLLAB_ABUSE_LIMIT": "8",
}


@pytest.fixture(scope="module")
def strict_daphne(django_db_setup, django_db_blocker):
    with running(Daphne(**STRICT_ENV), django_db_blocker) as server:
        yield server


@pytest.fixture
def strict(strict_daphne, transactional_db):
    yield strict_daphne
    settle()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:1",  # another port
        "https://127.0.0.1:{port}",  # another scheme
        "https://127.0.0.1",
        "http://127.0.0.1",  # port 80
        "ws://127.0.0.1:{port}",
        "http://127.0.0.1:{port}/path",
        "null",
    ],
)
async def test_an_origin_that_differs_in_scheme_or_port_is_refused(server, doc, headers_for, ada, origin):
    """The origin is compared as scheme, host and port with the page's own (HTTP 403)."""
    headers = headers_for(ada) | {"Origin": origin.format(port=server.port)}
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws(doc.pk), additional_headers=headers)
    assert refused.value.response.status_code == 403


async def test_the_pages_own_origin_and_trusted_origins_are_accepted(strict, doc, ada):
    """Same scheme, host and port as the page, or listed in CSRF_TRUSTED_ORIGINS."""
    for origin in (strict.url, f"HTTP://127.0.0.1:{strict.port}/", TRUSTED, TRUSTED + ":443"):
        async with Wire(strict.ws(doc.pk), session_headers(ada, strict) | {"Origin": origin}) as a:
            assert (await a.join("a"))[-1]["type"] == "ready"
    for origin in ("http://collab.example.com", TRUSTED + ":8443", "https://evil.collab.example.com"):
        with pytest.raises(InvalidStatus):
            await connect(strict.ws(doc.pk), additional_headers=session_headers(ada, strict) | {"Origin": origin})


async def test_a_revoked_user_cannot_join_on_a_socket_opened_before(server, doc, headers_for, make_user):
    """Access is checked again at every join: the old socket's join closes with 4403."""
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(server.ws(doc.pk), headers_for(bob)) as b:
        await asyncio.sleep(0.2)  # the socket is open and accepted, not joined
        Membership.objects.filter(user=bob).delete()
        await b.send({"type": "join", "client": "b", "since": None})
        assert await closed_with(b) == 4403
        assert not [m for m in b.pending if m["type"] in ("snapshot", "ready")]


async def test_a_changed_role_is_what_the_next_join_says(server, doc, headers_for, make_user):
    """A downgrade seen at join: the join answers viewer, and an op is refused."""
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(server.ws(doc.pk), headers_for(bob)) as b:
        await asyncio.sleep(0.2)
        Membership.objects.filter(user=bob).update(role="viewer")  # no signal: no notice either
        assert (await b.join("b"))[-1]["role"] == "viewer"
        await b.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]})
        assert (await b.recv())["code"] == "read_only"


async def test_joins_are_rate_limited_so_peers_are_not_flooded(strict, doc, ada, make_user):
    """100 joins on one socket: peers hear at most the burst's presence; the flood closes with 4429."""
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    headers_a, headers_b = session_headers(ada, strict), session_headers(bob, strict)
    async with Wire(strict.ws(doc.pk), headers_a) as a, Wire(strict.ws(doc.pk), headers_b) as b:
        await a.join("a")
        for _ in range(100):
            await b.send({"type": "join", "client": "b", "since": None})
        codes = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = await b.recv()
                if message["type"] == "error":
                    codes.append(message["code"])
                    assert message["retry_after"] > 1000
        assert closed.value.rcvd.code == 4429
        assert set(codes) == {"rate_limited"}
        heard = [m["type"] for m in await a.recv_until("leave", timeout=10) if m.get("client") == "b"]
    assert heard.count("presence") == 3 and heard[-1] == "leave"


async def test_a_rate_limited_op_is_resent_after_retry_after_and_nothing_is_lost(limited_server, doc, ada):
    """Ops faster than the budget (2 a second, bursts of 3): the Python client waits
    ``retry_after`` and resends the same seq; every keystroke lands, in order."""
    from editor.client import CollabClient

    async with CollabClient(limited_server.ws(doc.pk), headers=session_headers(ada, limited_server)) as c:
        for n in range(6):
            c.insert(len(c.text), str(n))
            await c.wait_synced(timeout=20)
        limited = [e for e in c.errors if e.get("code") == "rate_limited"]
        assert limited and all(e["retry_after"] >= 1 for e in limited)
        assert c.text == "hello012345" and not c.waiting
    doc.refresh_from_db()
    assert doc.revision == 7 and selectors.document_text(doc) == "hello012345"


async def test_a_client_that_waits_as_told_is_slowed_to_the_rate_never_closed(
    transactional_db, doc, ada, django_db_blocker
):
    """Each op sent right after the previous ack, each refused op sent again after its
    retry_after: far more refusals than the abuse limit allows, and no 4429, because the
    client never sent before it was told it could."""
    from editor.client import CollabClient

    limits = {"COLLAB_OPS_PER_SECOND": "20", "COLLAB_OPS_BURST": "1", "COLLAB_ABUSE_LIMIT": "3"}
    with running(Daphne(**limits), django_db_blocker) as server:
        async with CollabClient(server.ws(doc.pk), headers=session_headers(ada, server)) as c:
            for n in range(20):
                c.insert(len(c.text), str(n % 10))
                await c.wait_synced(timeout=20)
            refused = [e for e in c.errors if e.get("code") == "rate_limited"]
            assert len(refused) > 3  # over the abuse limit, yet still open:
            c.insert(0, "!")
            await c.wait_synced(timeout=20)
    doc.refresh_from_db()
    assert doc.revision == 22 and selectors.document_text(doc) == "!hello" + "0123456789" * 2


def grow_history(doc, user, pairs: int) -> int:
    """Insert and delete a long block ``pairs`` times; the text ends as it began."""
    rev = Document.objects.get(pk=doc.pk).revision
    block = "y" * 2000
    for _ in range(pairs):
        for ops in ([{"pos": 0, "insert": block}], [{"pos": 0, "delete": len(block)}]):
            rev = services.operation_commit(
                document_id=doc.pk, user=user, client="grow", seq=rev, base=rev, ops=ops
            ).revision
    return rev


async def test_a_long_catch_up_becomes_a_snapshot_unless_the_join_holds_pending_edits(server, doc, ada, headers_for):
    """Owed 120 revisions of 2,000 characters on a 5-character text: a plain join gets the
    snapshot, a join with pending: true the revisions, a short catch-up the revisions."""
    head = grow_history(doc, ada, 60)
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.send({"type": "join", "client": "a", "since": 1})
        plain = await a.recv_until("ready")
        await a.send({"type": "join", "client": "a", "since": 1, "pending": True})
        pending = await a.recv_until("ready")
        short = await a.join("a", since=head - 10)
        await a.send({"type": "join", "client": "a", "since": 1, "pending": "yes"})
        assert (await a.recv())["code"] == "bad_message"
    assert [m["type"] for m in plain] == ["snapshot", "ready"]
    assert plain[0] == {"type": "snapshot", "rev": head, "content": "hello"}
    assert [m["rev"] for m in pending if m["type"] == "op"] == list(range(2, head + 1))
    assert [m["type"] for m in short] == ["op"] * 10 + ["ready"]
