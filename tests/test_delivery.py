"""What each connection is sent: presence, large snapshots, and revisions across processes."""

import asyncio
import json

import pytest

from editor.domain import selectors, services
from editor.models import Connection, Document

from .waiting import eventually_async
from .wire import Wire


async def test_presence_reaches_others_and_newcomers(server, headers_for, ada):
    """A cursor is relayed to the others, and a newcomer hears of everyone after ready."""
    doc = services.document_create(title="T", owner=ada, content="hello")
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a, Wire(server.ws(doc.pk), headers_for(ada)) as b:
        await a.join("a")
        await b.join("b")
        assert (await a.recv_until("presence"))[-1]["client"] == "b"  # b's arrival
        await a.send({"type": "presence", "rev": 1, "cursor": {"anchor": 2, "head": 4}})
        seen = (await b.recv_until("presence"))[-1]
        while seen["cursor"] is None:  # a's answer to b's arrival comes first
            seen = (await b.recv_until("presence"))[-1]
        assert seen["client"] == "a" and seen["cursor"] == {"anchor": 2, "head": 4}
        assert seen["user"]["name"] == "ada" and seen["user"]["color"].startswith("#")
        async with Wire(server.ws(doc.pk), headers_for(ada)) as c:
            await c.join("c")
            first, second = await c.recv(), await c.recv()
            assert {first["client"], second["client"]} == {"a", "b"}
            assert {json.dumps(m["cursor"]) for m in (first, second)} == {'{"anchor": 2, "head": 4}', "null"}
        assert (await a.recv_until("leave"))[-1] == {"type": "leave", "client": "c"}


async def test_large_snapshot_is_split_into_frames_under_the_limit(server, headers_for, ada):
    """A text longer than one frame arrives as several snapshot messages that join up."""
    text = ("é😀\n" + "x" * 97) * 4000 + "\x01" * 200_000  # control characters escape to 6 bytes
    doc = services.document_create(title="T", owner=ada, content=text)
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.send({"type": "join", "client": "a", "since": None})
        frames = []
        while True:
            frame = await asyncio.wait_for(a.ws.recv(), 10)
            frames.append(frame)
            if '"ready"' in frame:
                break
    assert len(frames) > 2
    assert all(len(f.encode("utf-8")) <= 1024 * 1024 for f in frames)
    messages = []
    for frame in frames:
        data = json.loads(frame)
        messages.extend(data if isinstance(data, list) else [data])
    rev = doc.revision  # a text this large is created as several revisions
    assert messages[-1] == {"type": "ready", "rev": rev, "role": "editor"}
    assert all(m["type"] == "snapshot" and m["rev"] == rev for m in messages[:-1])
    assert [m.get("more", False) for m in messages[:-1]] == [True] * (len(messages) - 2) + [False]
    assert "".join(m["content"] for m in messages[:-1]) == text


async def collect(wire: Wire, until_rev: int) -> list[tuple[str, int]]:
    """(type, rev) of every op/ack received until ``until_rev`` has arrived."""
    got: list[tuple[str, int]] = []
    while not got or got[-1][1] < until_rev:
        message = await wire.recv(timeout=10)
        if message["type"] in ("op", "ack"):
            got.append((message["type"], message["rev"]))
    return got


@pytest.mark.parametrize("server_pair", ["none", "redis"], indirect=True)
async def test_two_processes_deliver_every_revision_once_in_order(server_pair, headers_for, ada):
    """Clients on two daphnes see every revision exactly once, in order.

    Without a shared channel layer every announcement from the other process is lost,
    so this also proves gaps and a lost tail are filled from the history.
    """
    doc = services.document_create(title="T", owner=ada, content="")
    one, two = server_pair
    async with Wire(one.ws(doc.pk), headers_for(ada, one)) as a, Wire(two.ws(doc.pk), headers_for(ada, two)) as b:
        await a.join("a")
        await b.join("b")
        for seq in range(1, 11):
            for wire, name in ((a, "a"), (b, "b")):
                head = Document.objects.get(pk=doc.pk).revision
                await wire.send({"type": "op", "seq": seq, "base": head, "ops": [{"pos": 0, "insert": name}]})
        got_a = await collect(a, 20)
        got_b = await collect(b, 20)
        await a.expect_nothing(2.0)  # nothing repeated after a quiet check either
    assert [rev for _, rev in got_a] == list(range(1, 21))
    assert [rev for _, rev in got_b] == list(range(1, 21))
    assert sum(kind == "ack" for kind, _ in got_a) == 10
    assert selectors.document_text(Document.objects.get(pk=doc.pk)).count("a") == 10


@pytest.mark.parametrize("server_pair", ["redis"], indirect=True)
async def test_a_process_opening_a_document_hears_the_one_that_served_it_alone(server_pair, headers_for, ada):
    """Revisions committed while one process served the document alone were announced to
    nobody; a process that opens it later still gets every revision after its catch-up,
    once and in order, and the first process hears the second's."""
    doc = services.document_create(title="T", owner=ada, content="")
    one, two = server_pair
    async with Wire(one.ws(doc.pk), headers_for(ada, one)) as a:
        head = (await a.join("a"))[-1]["rev"]
        for seq in range(1, 4):  # alone: no other process to announce to
            await a.send({"type": "op", "seq": seq, "base": head, "ops": [{"pos": 0, "insert": "a"}]})
            head = (await a.recv_until("ack"))[-1]["rev"]
        async with Wire(two.ws(doc.pk), headers_for(ada, two)) as b:
            joined = (await b.join("b"))[-1]["rev"]
            for seq in range(4, 7):  # at once, while the processes may not yet know of each other
                await a.send({"type": "op", "seq": seq, "base": head, "ops": [{"pos": 0, "insert": "a"}]})
                head = (await a.recv_until("ack"))[-1]["rev"]
            got_b = await collect(b, head)
            await b.send({"type": "op", "seq": 1, "base": head, "ops": [{"pos": 0, "insert": "b"}]})
            assert await collect(a, head + 1) == [("op", head + 1)]
            assert await collect(b, head + 1) == [("ack", head + 1)]
    assert got_b == [("op", rev) for rev in range(joined + 1, head + 1)]


async def test_joined_sockets_are_counted_as_connected_until_they_close(server, headers_for, ada, make_user):
    """The admin's 'connected now' counts people with a joined socket, not tabs."""
    from editor.realtime import presence

    doc = services.document_create(title="T", owner=ada, content="")
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a, Wire(server.ws(doc.pk), headers_for(ada)) as b:
        await a.join("a")
        await b.join("b")
        # The row is written just after the join reply, so it may trail it a little.
        await eventually_async(lambda: Connection.objects.filter(document_id=doc.pk).count() == 2)
        assert presence.connected_counts([doc.pk]) == {doc.pk: 1}
    await eventually_async(lambda: presence.connected_counts([doc.pk]) == {doc.pk: 0})


async def test_a_change_too_large_for_one_frame_reaches_a_socket_as_several_revisions(server, headers_for, ada):
    """1.4 MB pasted through the admin: each revision's frame is within the limit that
    daphne enforces on what it sends, so a socket catching up receives every one."""
    from django.conf import settings

    from editor.core import ot

    doc = services.document_create(title="T", owner=ada, content="")
    big = "é" * 700_000
    services.document_replace_text(document_id=doc.pk, user=ada, base=0, text=big, client="admin-form")
    async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
        await w.send({"type": "join", "client": "tab", "since": 0})
        frames = []
        while not frames or '"ready"' not in frames[-1][-200:]:
            frames.append(await asyncio.wait_for(w.ws.recv(), 10))
    assert max(len(frame.encode()) for frame in frames) <= settings.COLLAB_MAX_FRAME_BYTES
    messages = [m for frame in frames for m in (lambda d: d if isinstance(d, list) else [d])(json.loads(frame))]
    revisions = [m for m in messages if m["type"] == "op"]
    assert len(revisions) >= 5 and [m["seq"] for m in revisions] == list(range(1, len(revisions) + 1))
    text = ""
    for message in revisions:
        text = ot.apply(text, message["ops"])
    assert text == big and messages[-1] == {"type": "ready", "rev": len(revisions), "role": "editor"}
