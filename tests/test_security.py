"""The socket's gatekeeping and limits, each rule over a real daphne."""

import socket

import pytest
from django.contrib.sessions.models import Session
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from editor.domain import selectors, services
from editor.models import Document, Membership

from . import http
from .conftest import Daphne
from .wire import Wire, closed_with

OP = {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]}


def text_of(doc) -> tuple[int, str]:
    d = Document.objects.get(pk=doc.pk)
    return d.revision, selectors.document_text(d)


@pytest.mark.parametrize("origin", ["http://evil.example", None])
async def test_foreign_or_missing_origin_is_refused_at_the_handshake(server, doc, headers_for, ada, origin):
    """A page on another site cannot open a socket with the user's cookie (HTTP 403)."""
    headers = headers_for(ada)
    del headers["Origin"]
    if origin:
        headers["Origin"] = origin
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws(doc.pk), additional_headers=headers)
    assert refused.value.response.status_code == 403


async def test_revoking_access_closes_open_sockets_within_a_second(server, doc, headers_for, ada, make_user):
    """The owner revokes a member from the editor page; the member's socket closes with 4403."""
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(server.ws(doc.pk), headers_for(bob)) as b:
        await b.join("b")
        status = http.post(
            server.url,
            f"/documents/{doc.pk}/sharing/",
            {"action": "revoke", "username": "bob"},
            cookie=headers_for(ada)["Cookie"],
        )
        assert status == 302
        assert await closed_with(b) == 4403
    assert not Membership.objects.filter(user=bob).exists()


async def test_downgrade_to_viewer_reconnects_the_socket_as_viewer(server, doc, headers_for, ada, make_user):
    """A changed role closes with a reconnectable code; the next join says viewer."""
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(server.ws(doc.pk), headers_for(bob)) as b:
        await b.join("b")
        http.post(
            server.url,
            f"/documents/{doc.pk}/sharing/",
            {"action": "set", "username": "bob", "role": "viewer"},
            cookie=headers_for(ada)["Cookie"],
        )
        assert await closed_with(b) == 4000
    async with Wire(server.ws(doc.pk), headers_for(bob)) as b:
        assert (await b.join("b"))[-1]["role"] == "viewer"
        await b.send(OP)
        assert (await b.recv())["code"] == "read_only"
    assert text_of(doc) == (1, "hello")


async def test_only_the_owner_can_share(server, doc, headers_for, make_user):
    """A member cannot add people; the sharing endpoint answers 404 to non-owners."""
    bob = make_user("bob")
    make_user("eve")
    Membership.objects.create(document=doc, user=bob, role="editor")
    status = http.post(
        server.url,
        f"/documents/{doc.pk}/sharing/",
        {"action": "set", "username": "eve", "role": "editor"},
        cookie=headers_for(bob)["Cookie"],
    )
    assert status == 404
    assert not Membership.objects.filter(user__username="eve").exists()


async def test_signing_out_closes_that_sessions_sockets(server, doc, headers_for, ada):
    """POST /accounts/logout/ closes the session's sockets with 4401."""
    headers = headers_for(ada)
    async with Wire(server.ws(doc.pk), headers) as a:
        await a.join("a")
        assert http.post(server.url, "/accounts/logout/", {}, cookie=headers["Cookie"]) == 302
        assert await closed_with(a) == 4401


async def test_an_ended_session_closes_its_sockets(limited_server, doc, headers_for, ada):
    """A session removed on the server side (expired, flushed) closes the socket with 4401."""
    async with Wire(limited_server.ws(doc.pk), headers_for(ada, limited_server)) as a:
        await a.join("a")
        Session.objects.all().delete()
        assert await closed_with(a) == 4401


async def test_document_size_limit(limited_server, headers_for, ada):
    """An op that would grow the document past its limit (200) gets too_large; one that
    fills it exactly is accepted."""
    doc = services.document_create(title="Nearly full", owner=ada, content="y" * 160)
    async with Wire(limited_server.ws(doc.pk), headers_for(ada, limited_server)) as a:
        await a.join("a")
        await a.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "y" * 40}]})
        rev = (await a.recv_until("ack"))[-1]["rev"]
        await a.send({"type": "op", "seq": 2, "base": rev, "ops": [{"pos": 0, "insert": "z"}]})
        error = await a.recv()
    assert (error["code"], error["seq"]) == ("too_large", 2)
    assert text_of(doc) == (2, "y" * 200)


async def test_inserted_text_per_op_limit(limited_server, doc, headers_for, ada):
    """An op inserting more than the per-op limit gets too_large."""
    async with Wire(limited_server.ws(doc.pk), headers_for(ada, limited_server)) as a:
        await a.join("a")
        await a.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "y" * 51}]})
        assert (await a.recv())["code"] == "too_large"
    assert text_of(doc) == (1, "hello")


async def test_rate_limit_then_4429_for_a_client_that_keeps_going(limited_server, doc, headers_for, ada):
    """Ops beyond the bucket get rate_limited; a flood of them closes with 4429."""
    async with Wire(limited_server.ws(doc.pk), headers_for(ada, limited_server)) as a:
        await a.join("a")
        for seq in range(1, 40):
            await a.send({"type": "op", "seq": seq, "base": 1, "ops": [{"pos": 0, "insert": "x"}]})
        codes = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = await a.recv()
                codes.append(message.get("code") or message["type"])
    assert codes[:3] == ["ack", "ack", "ack"] and "rate_limited" in codes
    assert closed.value.rcvd.code == 4429
    assert text_of(doc)[0] == 4


async def test_a_stream_of_bad_messages_closes_with_4400(limited_server, doc, headers_for, ada):
    """Each bad message gets its error; a client that keeps at it is closed with 4400."""
    async with Wire(limited_server.ws(doc.pk), headers_for(ada, limited_server)) as a:
        await a.join("a")
        for _ in range(20):
            await a.send("{not json")
        codes = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                codes.append((await a.recv())["code"])
    assert set(codes) == {"bad_json"} and len(codes) >= 8
    assert closed.value.rcvd.code == 4400
    assert text_of(doc) == (1, "hello")


async def test_open_sockets_per_user_are_limited(limited_server, doc, headers_for, ada):
    """A user's sockets beyond the limit are closed with 4429; the others keep working."""
    wires = [await Wire(limited_server.ws(doc.pk), headers_for(ada, limited_server)).__aenter__() for _ in range(4)]
    try:
        for w in wires[:3]:
            await w.join()
        assert await closed_with(wires[3]) == 4429
    finally:
        for w in wires:
            await w.ws.close()


async def test_a_frame_over_the_limit_is_refused_by_daphne(server, doc, headers_for, ada):
    """daphne aborts a socket that sends a frame over the frame limit, without a close
    frame (so no 1009, as docs/protocol.md says), and nothing changes."""
    async with Wire(server.ws(doc.pk), headers_for(ada)) as a:
        await a.join("a")
        big = '{"type":"op","seq":1,"base":1,"ops":[{"pos":0,"insert":"' + "x" * (1024 * 1024) + '"}]}'
        await a.send(big)
        assert await closed_with(a) is None
    assert text_of(doc) == (1, "hello")


def raw_handshake(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    """Open a WebSocket by hand and return the socket, which the test then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect(("127.0.0.1", port))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert b" 101 " in sock.recv(1024)
    join = b'{"type":"join","client":"stalled","since":null}'
    sock.sendall(bytes([0x81, 0x80 | len(join)]) + b"\0\0\0\0" + join)  # masked with a zero key
    return sock


async def test_a_client_that_stops_reading_is_dropped(transactional_db, doc, headers_for, ada):
    """Broadcasts pile up for a stalled reader until its backlog passes the limit; then it is cut off."""
    # A budget of inserted text large enough for the 6 million code points inserted here.
    server = Daphne(COLLAB_MAX_BACKLOG_BYTES=str(256 * 1024), COLLAB_INSERT_CHARS_BURST=str(10**8)).start()
    try:
        stalled = raw_handshake(server.port, f"/ws/documents/{doc.pk}/", headers_for(ada, server))
        block = "y" * 200_000
        async with Wire(server.ws(doc.pk), headers_for(ada, server)) as a:
            await a.join("a")
            rev = 1
            for seq in range(1, 61):  # about 12 MB of broadcasts
                ops = [{"pos": 0, "insert": block}] if seq % 2 else [{"pos": 0, "delete": len(block)}]
                await a.send({"type": "op", "seq": seq, "base": rev, "ops": ops})
                rev = (await a.recv_until("ack"))[-1]["rev"]
        assert Document.objects.get(pk=doc.pk).revision == 61
        # Reading now: the stream ends (reset or EOF) well before every revision arrived.
        stalled.settimeout(30)  # a hang guard: the server resets it as soon as its backlog is full
        received = 0
        try:
            while chunk := stalled.recv(1 << 20):
                received += len(chunk)
            ended_by = "eof"
        except ConnectionResetError:
            ended_by = "reset"
        except TimeoutError:
            ended_by = "still open"
        stalled.close()
        assert ended_by in ("reset", "eof")
        assert received < 6_000_000
    finally:
        server.stop()


@pytest.mark.parametrize("server_pair", ["redis"], indirect=True)
async def test_revocation_reaches_sockets_on_another_process(server_pair, doc, headers_for, ada, make_user):
    """Revoked on one daphne, the member's socket on the other closes within a second."""
    one, two = server_pair
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(two.ws(doc.pk), headers_for(bob, two)) as b:
        await b.join("b")
        http.post(
            one.url,
            f"/documents/{doc.pk}/sharing/",
            {"action": "revoke", "username": "bob"},
            cookie=headers_for(ada)["Cookie"],
        )
        assert await closed_with(b) == 4403


@pytest.mark.parametrize("server_pair", ["none"], indirect=True)
async def test_every_op_is_authorised_again_even_if_no_notice_arrives(server_pair, doc, headers_for, ada, make_user):
    """With no shared channel layer the notice is lost, yet the revoked member's next op is refused."""
    one, two = server_pair
    bob = make_user("bob")
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(two.ws(doc.pk), headers_for(bob, two)) as b:
        await b.join("b")
        http.post(
            one.url,
            f"/documents/{doc.pk}/sharing/",
            {"action": "revoke", "username": "bob"},
            cookie=headers_for(ada)["Cookie"],
        )
        await b.send(OP)
        assert await closed_with(b) == 4403
    assert text_of(doc) == (1, "hello")


async def test_a_reader_that_reads_gets_a_catch_up_larger_than_the_backlog_limit(
    transactional_db, doc, headers_for, ada
):
    """About 12 MB owed to a client that reads (backlog limit 256 kB): paced by the
    socket's flow control, every revision arrives and the socket is never dropped."""
    server = Daphne(COLLAB_MAX_BACKLOG_BYTES=str(256 * 1024)).start()
    try:
        block = "y" * 200_000
        rev = 1
        for seq in range(1, 61):
            ops = [{"pos": 0, "insert": block}] if seq % 2 else [{"pos": 0, "delete": len(block)}]
            rev = services.operation_commit(
                document_id=doc.pk, user=ada, client="w", seq=seq, base=rev, ops=ops
            ).revision
        async with Wire(server.ws(doc.pk), headers_for(ada, server)) as reader:
            # pending: true asks for the revisions themselves, never a snapshot instead
            await reader.send({"type": "join", "client": "r", "since": 1, "pending": True})
            messages = await reader.recv_until("ready", timeout=30)
        assert [m["rev"] for m in messages if m["type"] == "op"] == list(range(2, 62))
        assert messages[-1] == {"type": "ready", "rev": 61, "role": "editor"}
    finally:
        server.stop()


# --- roles: one rule for the page, the socket and the commit path --------------------


def make_staff(user, *, may_change_documents: bool):
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save()
    if may_change_documents:
        user.user_permissions.add(Permission.objects.get(codename="change_document"))
    return user


async def role_over_the_socket(server, doc, headers) -> str | int:
    """The role a join is told, or the close code of a refused socket."""
    async with Wire(server.ws(doc.pk), headers) as w:
        try:
            return (await w.join("tab"))[-1]["role"]
        except ConnectionClosed:
            assert w.ws.close_code is not None  # ConnectionClosed: the socket is closed
            return w.ws.close_code


@pytest.mark.parametrize(
    ("membership", "may_change_documents", "role"),
    [
        pytest.param(None, True, "editor", id="admin staff, not a member"),
        pytest.param("viewer", True, "editor", id="admin staff, a viewer"),
        pytest.param(None, False, 4403, id="staff without the permission, not a member"),
        pytest.param("viewer", False, "viewer", id="staff without the permission, a viewer"),
    ],
)
async def test_staff_who_may_change_documents_in_the_admin_are_editors_on_the_page_and_the_socket(
    server, async_client, doc, headers_for, make_user, membership, may_change_documents, role
):
    """The page, the socket and the commit path decide a staff user's role alike: staff who
    can rewrite any text in the admin may edit it in the editor too; other staff are
    like anyone else."""
    sam = make_staff(make_user("sam"), may_change_documents=may_change_documents)
    if membership is not None:
        Membership.objects.create(document=doc, user=sam, role=membership)
    await async_client.aforce_login(sam)
    page = await async_client.get(f"/documents/{doc.pk}/")
    if role == 4403:
        assert page.status_code == 404
    else:
        assert page.status_code == 200 and f'data-role="{role}"' in page.content.decode()
    assert await role_over_the_socket(server, doc, headers_for(sam)) == role
    if role == "editor":
        async with Wire(server.ws(doc.pk), headers_for(sam)) as w:
            await w.join("tab")
            await w.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "S"}]})
            assert (await w.recv_until("ack"))[-1] == {"type": "ack", "seq": 1, "rev": 2}
        assert text_of(doc)[1].startswith("S")


async def test_staff_whose_admin_rights_are_revoked_stop_editing_on_their_open_socket(
    server, doc, headers_for, make_user
):
    """The socket's user was loaded at connect; the commit and the next join ask the
    database, so a staff member who loses the admin's permission cannot edit any more."""
    from django.contrib.auth.models import Permission

    sam = make_staff(make_user("sam"), may_change_documents=True)
    async with Wire(server.ws(doc.pk), headers_for(sam)) as w:
        assert (await w.join("tab"))[-1]["role"] == "editor"
        await w.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "S"}]})
        assert (await w.recv_until("ack"))[-1] == {"type": "ack", "seq": 1, "rev": 2}
        sam.user_permissions.remove(Permission.objects.get(codename="change_document"))
        # No role left at all (not a member): the op is refused and the socket closed.
        await w.send({"type": "op", "seq": 2, "base": 2, "ops": [{"pos": 0, "insert": "T"}]})
        with pytest.raises(ConnectionClosed):
            await w.recv_until("ack")
        assert w.ws.close_code == 4403
    revision, text = text_of(doc)
    assert revision == 2 and text.startswith("S") and not text.startswith("TS")
