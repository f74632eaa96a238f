"""The WebSocket endpoint over a real daphne, spoken to message by message."""

import pytest
from websockets.exceptions import ConnectionClosed

from editor.domain import selectors, services
from editor.models import Connection, Document, Membership

from .waiting import eventually_async
from .wire import Wire


async def content_of(document_id: str) -> tuple[int, str]:
    d = Document.objects.get(pk=document_id)
    return d.revision, selectors.document_text(d)


async def test_join_without_since_gets_snapshot_then_ready(server, doc, headers_for, ada):
    """A fresh join gets the whole text and the revision it is at."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
        messages = await w.join()
    assert messages == [
        {"type": "snapshot", "rev": 1, "content": "hello"},
        {"type": "ready", "rev": 1, "role": "editor"},
    ]


async def test_op_is_acked_and_broadcast_to_others(server, doc, headers_for, ada, make_user):
    """The sender gets an ack, another tab gets the op, the database holds the result."""
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a, Wire(server.ws(doc.pk), headers_for(bob)) as b:
        await a.join("a")
        await b.join("b")
        await a.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 5, "insert": " world"}]})
        assert (await a.recv_until("ack"))[-1] == {"type": "ack", "seq": 1, "rev": 2}
        op = (await b.recv_until("op"))[-1]
    assert op == {
        "type": "op",
        "rev": 2,
        "client": "a",
        "seq": 1,
        "user": {"id": ada.pk, "name": "ada"},
        "ops": [{"pos": 5, "insert": " world"}],
    }
    assert await content_of(doc.pk) == (2, "hello world")


async def test_concurrent_ops_are_transformed_committed_first(server, doc, headers_for, ada):
    """An op on an old base is rebased; at a tie the committed insert comes first."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a, Wire(server.ws(doc.pk), headers_for(ada)) as b:
        await a.join("a")
        await b.join("b")
        await a.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "A"}]})
        await a.recv_until("ack")
        await b.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "B"}, {"pos": 2, "delete": 3}]})
        messages = await b.recv_until("ack")
    assert messages[-2]["rev"] == 2 and messages[-1] == {"type": "ack", "seq": 1, "rev": 3}
    assert await content_of(doc.pk) == (3, "ABho")


async def test_resent_op_is_applied_once_and_acked_again(server, doc, headers_for, ada):
    """Exactly-once: the same (client, seq) twice is one revision, acked both times."""
    op = {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]}
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.join("a")
        await a.send(op)
        first = (await a.recv_until("ack"))[-1]
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.join("a", since=1)  # catch-up shows its own revision as an ack
        await a.send(op)
        again = (await a.recv_until("ack"))[-1]
    assert first == again == {"type": "ack", "seq": 1, "rev": 2}
    assert await content_of(doc.pk) == (2, "xhello")


async def test_join_since_catches_up_with_ops_and_acks(server, doc, headers_for, ada):
    """Catch-up from ``since`` sends each later revision once, own ones as acks."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a, Wire(server.ws(doc.pk), headers_for(ada)) as b:
        await a.join("a")
        await b.join("b")
        for seq in (1, 2):
            await a.send({"type": "op", "seq": seq, "base": seq, "ops": [{"pos": 0, "insert": str(seq)}]})
            await a.recv_until("ack")
        await b.send({"type": "op", "seq": 1, "base": 3, "ops": [{"pos": 0, "insert": "b"}]})
        await b.recv_until("ack")
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        messages = await a.join("a", since=1)
    assert [(m["type"], m["rev"]) for m in messages] == [("ack", 2), ("ack", 3), ("op", 4), ("ready", 4)]
    assert messages[2]["ops"] == [{"pos": 0, "insert": "b"}]


BAD_INPUTS = [
    ("not json", "{", "bad_json"),
    ("binary frame", b"\x00\x01", "bad_message"),
    ("array frame", "[]", "bad_message"),
    ("no type", {"seq": 1}, "bad_message"),
    ("unknown type", {"type": "nuke"}, "bad_message"),
    ("type not a string", {"type": 5}, "bad_message"),
    ("seq zero", {"type": "op", "seq": 0, "base": 1, "ops": [{"pos": 0, "insert": "x"}]}, "bad_message"),
    ("seq a string", {"type": "op", "seq": "1", "base": 1, "ops": [{"pos": 0, "insert": "x"}]}, "bad_message"),
    ("seq a bool", {"type": "op", "seq": True, "base": 1, "ops": [{"pos": 0, "insert": "x"}]}, "bad_message"),
    ("seq huge", {"type": "op", "seq": 10**30, "base": 1, "ops": [{"pos": 0, "insert": "x"}]}, "bad_message"),
    ("base a float", {"type": "op", "seq": 1, "base": 1.0, "ops": [{"pos": 0, "insert": "x"}]}, "bad_message"),
    ("base ahead", {"type": "op", "seq": 1, "base": 99, "ops": [{"pos": 0, "insert": "x"}]}, "bad_base"),
    ("ops missing", {"type": "op", "seq": 1, "base": 1}, "bad_op"),
    ("ops empty", {"type": "op", "seq": 1, "base": 1, "ops": []}, "bad_op"),
    ("insert past end", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 6, "insert": "x"}]}, "bad_op"),
    ("delete past end", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 3, "delete": 3}]}, "bad_op"),
    ("delete zero", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "delete": 0}]}, "bad_op"),
    ("empty insert", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": ""}]}, "bad_op"),
    ("negative pos", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": -1, "insert": "x"}]}, "bad_op"),
    (
        "insert and delete",
        {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x", "delete": 1}]},
        "bad_op",
    ),
    ("NUL in text", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "a\u0000"}]}, "bad_op"),
    ("lone surrogate", '{"type":"op","seq":1,"base":1,"ops":[{"pos":0,"insert":"\\ud800"}]}', "bad_op"),
    ("too many components", {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}] * 101}, "too_large"),
    ("bad client id", {"type": "join", "client": "a b", "since": None}, "bad_message"),
    ("presence bad cursor", {"type": "presence", "rev": 1, "cursor": {"anchor": -1, "head": 0}}, "bad_message"),
]


@pytest.mark.parametrize("frame,code", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
async def test_bad_input_gets_its_error_and_changes_nothing(server, doc, headers_for, ada, frame, code):
    """Every malformed message is refused with its code; the socket and document live on."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.join("a")
        await a.send(frame)
        error = await a.recv()
        assert error["type"] == "error" and error["code"] == code, error
        if isinstance(frame, dict) and frame.get("type") == "op" and code != "bad_message":
            assert error["seq"] == 1
        # The connection stays usable.
        await a.send({"type": "op", "seq": 2, "base": 1, "ops": [{"pos": 0, "insert": "!"}]})
        assert (await a.recv_until("ack"))[-1] == {"type": "ack", "seq": 2, "rev": 2}
    assert await content_of(doc.pk) == (2, "!hello")


async def test_op_before_join_is_refused(server, doc, headers_for, ada):
    """An op on a connection that has not joined gets not_joined."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]})
        assert await a.recv() == {"type": "error", "code": "not_joined", "message": "send join first", "seq": 1}
    assert await content_of(doc.pk) == (1, "hello")


async def test_viewer_cannot_edit(server, doc, headers_for, make_user):
    """A viewer joins with role viewer and its ops get read_only."""
    vic = make_user("vic")
    Membership.objects.create(document=doc, user=vic, role="viewer")
    async with Wire(server.ws(doc.pk), headers_for(vic)) as v:
        assert (await v.join("v"))[-1] == {"type": "ready", "rev": 1, "role": "viewer"}
        await v.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]})
        assert (await v.recv())["code"] == "read_only"
    assert await content_of(doc.pk) == (1, "hello")


@pytest.mark.parametrize("who,code", [("anonymous", 4401), ("stranger", 4403), ("missing", 4404)])
async def test_refused_connections_close_with_their_code(server, doc, headers_for, make_user, who, code):
    """Anonymous, non-member and unknown-document sockets close before any data."""
    from websockets.exceptions import ConnectionClosed

    headers = {"Origin": server.url}
    target = doc.pk
    if who == "stranger":
        headers = headers_for(make_user("eve"))
    if who == "missing":
        headers = headers_for(make_user("max"))
        target = "nope"
    w = await Wire(server.ws(target), headers).__aenter__()
    with pytest.raises(ConnectionClosed) as closed:
        await w.recv()
    assert closed.value.rcvd.code == code


async def test_a_server_fault_closes_with_4011_and_the_resent_op_lands_once(server, doc, headers_for, ada):
    """The database refusing the insert is the server's fault, not the op's: no error that
    would make the client drop the edit, but a close it reconnects after."""
    from django.db import connection

    def rename(old: str, new: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {old} RENAME TO {new}")

    op = {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 5, "insert": "!"}]}
    rename("editor_operation", "editor_operation_away")
    try:
        async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
            await w.join("tab")
            await w.send(op)
            with pytest.raises(ConnectionClosed):
                await w.recv(10)
            assert w.ws.close_code == 4011
    finally:
        rename("editor_operation_away", "editor_operation")
    assert await content_of(doc.pk) == (1, "hello")
    async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
        await w.join("tab", since=1)
        await w.send(op)
        assert await w.recv() == {"type": "ack", "seq": 1, "rev": 2}
    assert await content_of(doc.pk) == (2, "hello!")


async def test_an_op_on_a_document_deleted_meanwhile_closes_with_4404_not_a_server_fault(server, doc, headers_for, ada):
    """The document vanishes between join and op, unannounced (as when the notice is
    lost): the commit finds no document and the socket closes with 4404, a close the
    client does not retry, not with 4011, which it would retry for ever."""
    from django.db.models.signals import post_delete

    from editor.domain import signals

    async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
        await w.join("tab")
        # Its presence row is written just after ready; deleted with the document.
        await eventually_async(lambda: Connection.objects.filter(document_id=doc.pk).exists())
        post_delete.disconnect(signals.document_deleted, sender=Document)
        try:
            Document.objects.filter(pk=doc.pk).delete()
        finally:
            post_delete.connect(signals.document_deleted, sender=Document)
        await w.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 5, "insert": "!"}]})
        with pytest.raises(ConnectionClosed):
            await w.recv(10)
        assert w.ws.close_code == 4404


async def test_a_resend_committed_by_another_process_is_acked_after_the_revisions_under_it(
    server, doc, headers_for, ada
):
    """The tab's op was committed by another process (its socket there dropped before the
    ack), and this process has not heard of that commit nor of the one before it: the
    repeated ack comes after revision 2, never before it (no gap at the client)."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
        await w.join("tab", since=1)
        op = [{"pos": 5, "insert": "!"}]
        # Committed outside this server, and not announced to it (the test process has
        # a channel layer of its own in this pass; over Redis the announcement may come).
        services.operation_commit(
            document_id=doc.pk, user=ada, client="other", seq=1, base=1, ops=[{"pos": 0, "insert": ">"}]
        )
        services.operation_commit(document_id=doc.pk, user=ada, client="tab", seq=1, base=1, ops=op)
        await w.send({"type": "op", "seq": 1, "base": 1, "ops": op})
        seen = await w.recv_until("ack")
        assert [(m["type"], m["rev"]) for m in seen if m["type"] in ("op", "ack")] == [("op", 2), ("ack", 3)]
