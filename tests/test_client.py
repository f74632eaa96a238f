"""The Python client's state machine, driven by a scripted fake server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from editor.client import ClosedByServer, CollabClient, Editing, ProtocolViolation

from .waiting import TIMEOUT


class Peer:
    """The server's end of one client connection, driven by the test."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def recv(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))

    async def send(self, message: dict | list) -> None:
        await self.ws.send(json.dumps(message))

    async def welcome(self, rev: int, content: str) -> dict[str, Any]:
        """Read the join and answer with a snapshot and ready; return the join."""
        join = await self.recv()
        await self.send([{"type": "snapshot", "rev": rev, "content": content}, ready(rev)])
        return join


class FakeServer:
    """Hands each accepted connection to the test and keeps it open until the test is done."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        await self.peers.put(Peer(ws))
        await ws.wait_closed()

    async def accept(self) -> Peer:
        return await asyncio.wait_for(self.peers.get(), TIMEOUT)


@asynccontextmanager
async def fake_server() -> AsyncIterator[FakeServer]:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/ws/documents/1/"
        yield server


@asynccontextmanager
async def joined(content: str, rev: int) -> AsyncIterator[tuple[FakeServer, Peer, CollabClient]]:
    """A client joined to a fake server holding ``content`` at ``rev``."""
    async with fake_server() as server:
        client = CollabClient(server.url)
        connecting = asyncio.create_task(client.connect(timeout=TIMEOUT))
        peer = await server.accept()
        await peer.welcome(rev, content)
        await connecting
        try:
            yield server, peer, client
        finally:
            await client.close()


def ready(rev: int) -> dict[str, Any]:
    return {"type": "ready", "rev": rev, "role": "editor"}


def ins(pos: int, text: str) -> list[dict[str, Any]]:
    return [{"pos": pos, "insert": text}]


def remote_op(rev: int, ops: list[dict]) -> dict[str, Any]:
    user = {"id": 2, "name": "bo"}
    return {"type": "op", "rev": rev, "client": "other", "seq": rev, "user": user, "ops": ops}


def client_op(seq: int, base: int, ops: list[dict]) -> dict[str, Any]:
    return {"type": "op", "seq": seq, "base": base, "ops": ops}


@pytest.mark.asyncio
async def test_the_first_join_has_no_since_and_ready_completes_it() -> None:
    """A fresh client joins with since null, takes the snapshot, and is synced after ready."""
    async with fake_server() as server:
        client = CollabClient(server.url)
        connecting = asyncio.create_task(client.connect(timeout=TIMEOUT))
        peer = await server.accept()
        join = await peer.welcome(7, "hello")
        await connecting
        assert join == {"type": "join", "client": client.client_id, "since": None}
        assert len(client.client_id) == 22
        assert (client.text, client.server_text) == ("hello", "hello")
        assert (client.rev, client.role) == (7, "editor")
        assert client.synced
        await client.close()


@pytest.mark.asyncio
async def test_an_array_frame_is_processed_in_order() -> None:
    """Two ops batched in one frame apply one after the other."""
    async with joined("abc", 3) as (_, peer, client):
        await peer.send([remote_op(4, ins(3, "X")), remote_op(5, ins(4, "Y"))])
        await client.wait_for_rev(5, timeout=TIMEOUT)
        assert client.text == client.server_text == "abcXY"
        assert client.revisions == [4, 5]


@pytest.mark.asyncio
async def test_a_chunked_snapshot_is_joined_in_order() -> None:
    """Snapshot parts marked more are concatenated into one text."""
    async with fake_server() as server:
        client = CollabClient(server.url)
        connecting = asyncio.create_task(client.connect(timeout=TIMEOUT))
        peer = await server.accept()
        await peer.recv()
        await peer.send({"type": "snapshot", "rev": 9, "content": "ab😀", "more": True})
        await peer.send(
            [
                {"type": "snapshot", "rev": 9, "content": "cd", "more": True},
                {"type": "snapshot", "rev": 9, "content": "ef"},
                ready(9),
            ]
        )
        await connecting
        assert (client.text, client.rev) == ("ab😀cdef", 9)
        await client.close()


@pytest.mark.asyncio
async def test_a_concurrent_remote_op_transforms_the_pending_ops() -> None:
    """A remote op arriving with one op in flight and one buffered is rebased onto both."""
    async with joined("hello", 1) as (_, peer, client):
        client.insert(0, "A")
        assert await peer.recv() == client_op(1, 1, ins(0, "A"))
        client.insert(6, "!")  # buffered: one op in flight at most
        await peer.send(remote_op(2, ins(0, "B") + [{"pos": 5, "delete": 1}]))
        await client.wait_for_rev(2, timeout=TIMEOUT)
        assert client.server_text == "Bhell"
        assert client.text == "BAhell!"  # the server's insert wins the tie at 0
        await peer.send({"type": "ack", "seq": 1, "rev": 3})
        assert await peer.recv() == client_op(2, 3, ins(6, "!"))
        assert client.server_text == "BAhell"
        await peer.send({"type": "ack", "seq": 2, "rev": 4})
        await client.wait_synced(timeout=TIMEOUT)
        assert client.text == client.server_text == "BAhell!"
        assert client.revisions == [2, 3, 4]


@pytest.mark.asyncio
async def test_a_repeated_ack_changes_nothing() -> None:
    """An ack repeated for a duplicate resend is ignored."""
    async with joined("", 1) as (_, peer, client):
        client.insert(0, "x")
        await peer.recv()
        await peer.send([{"type": "ack", "seq": 1, "rev": 2}, {"type": "ack", "seq": 1, "rev": 2}])
        await peer.send(remote_op(3, ins(1, "y")))
        await client.wait_for_rev(3, timeout=TIMEOUT)
        assert client.text == client.server_text == "xy"
        assert client.revisions == [2, 3]


@pytest.mark.asyncio
async def test_observers_hear_each_own_op_acknowledged_once_and_every_ready() -> None:
    """on_ack gets (seq, rev) of an op the server acknowledged, not the repeat of a
    resend's ack; on_ready every ready, a reconnection's too; in_flight and readies say
    the same from outside."""
    acks: list[tuple[int, int]] = []
    readies: list[int] = []
    async with fake_server() as server:
        client = CollabClient(server.url, on_ack=lambda seq, rev: acks.append((seq, rev)))
        client.on_ready = lambda message: readies.append(message["rev"])
        connecting = asyncio.create_task(client.connect(timeout=TIMEOUT))
        peer = await server.accept()
        await peer.welcome(1, "")
        await connecting
        client.insert(0, "x")
        assert client.in_flight
        await peer.recv()
        await peer.send([{"type": "ack", "seq": 1, "rev": 2}, {"type": "ack", "seq": 1, "rev": 2}])
        await client.wait_synced(timeout=TIMEOUT)
        assert not client.in_flight
        await client.drop_connection()
        again = await server.accept()
        await again.recv()
        await again.send(ready(2))
        await client.wait_synced(timeout=TIMEOUT)
        assert (acks, readies, client.readies) == ([(1, 2)], [1, 2], 2)
        await client.close()


def test_the_state_machine_runs_without_a_socket() -> None:
    """Editing, given only somewhere to put messages, joins, edits and follows acks."""

    class Wire(Editing):
        def __init__(self) -> None:
            super().__init__("wire")
            self.sent: list[dict] = []
            self.changes = 0

        def _send(self, message: dict[str, Any]) -> None:
            self.sent.append(message)

        def _notify(self) -> None:
            self.changes += 1

    wire = Wire()
    wire.socket_opened()
    wire.receive(json.dumps([{"type": "snapshot", "rev": 3, "content": "ab"}, ready(3)]))
    wire.insert(2, "c")
    wire.receive(json.dumps({"type": "ack", "seq": 1, "rev": 4}))
    assert wire.sent == [{"type": "join", "client": "wire", "since": None}, client_op(1, 3, ins(2, "c"))]
    assert (wire.text, wire.server_text, wire.rev, wire.synced, wire.changes) == ("abc", "abc", 4, True, 3)


class Socketless(Editing):
    """The state machine with a list for a wire."""

    def __init__(self, **observers: Any) -> None:
        super().__init__("wire", **observers)
        self.sent: list[dict] = []

    def _send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def _notify(self) -> None:
        pass


def test_on_send_hears_each_op_put_on_the_wire_and_on_op_each_revision_applied() -> None:
    """on_send gets (seq, ops) before the op is on the wire, again at a resend; on_op
    every server op applied, after it is applied, and not a repeat the client skips."""
    events: list[tuple] = []
    wire: Socketless = Socketless(
        on_send=lambda seq, ops: events.append(("send", seq, ops, len(wire.sent))),
        on_op=lambda message: events.append(("op", message["rev"], wire.text)),
    )
    wire.socket_opened()
    wire.receive(json.dumps([{"type": "snapshot", "rev": 3, "content": "ab"}, ready(3)]))
    wire.insert(2, "c")
    wire.socket_opened()  # a new socket: the op in flight goes again, same seq
    wire.receive(json.dumps([remote_op(4, ins(0, "Z")), ready(4)]))
    assert events == [("send", 1, ins(2, "c"), 1), ("op", 4, "Zabc"), ("send", 1, ins(3, "c"), 3)]
    events.clear()
    wire.receive(json.dumps({"type": "error", "code": "forbidden", "message": "no", "seq": 1}))
    wire.receive(json.dumps([remote_op(4, ins(0, "Z")), remote_op(5, ins(0, "Y")), ready(5)]))
    assert events == [("op", 5, "YZab")]


def test_a_subclass_sees_each_message_through_handle() -> None:
    """receive passes every message of a frame, in order, to handle; what handle raises
    for a malformed message stops the client as a protocol violation."""

    class Seeing(Socketless):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def handle(self, message: dict[str, Any]) -> None:
            self.seen.append(message["type"])
            if message["type"] == "op":
                message = {**message, "ops": []}  # follow the revision, not its text
            super().handle(message)

    wire = Seeing()
    wire.socket_opened()
    wire.receive(json.dumps([{"type": "snapshot", "rev": 1, "content": "ab"}, ready(1), remote_op(2, ins(0, "Z"))]))
    assert (wire.seen, wire.rev, wire.text) == (["snapshot", "ready", "op"], 2, "ab")
    with pytest.raises(ProtocolViolation):
        wire.receive(json.dumps({"client": "x"}))


@pytest.mark.asyncio
async def test_after_a_drop_the_unacked_op_is_resent_with_the_same_seq() -> None:
    """The unacked op goes out again with its seq, rebased onto what the catch-up brought."""
    async with joined("abc", 5) as (server, peer, client):
        client.insert(3, "d")
        assert (await peer.recv())["seq"] == 1
        await client.drop_connection()
        again = await server.accept()
        assert await again.recv() == {"type": "join", "client": client.client_id, "since": 5, "pending": True}
        await again.send([remote_op(6, ins(0, "Z")), ready(6)])
        assert await again.recv() == client_op(1, 6, ins(4, "d"))
        await again.send({"type": "ack", "seq": 1, "rev": 7})
        await client.wait_synced(timeout=TIMEOUT)
        assert client.text == client.server_text == "Zabcd"
        assert client.revisions == [6, 7]


@pytest.mark.asyncio
async def test_a_rate_limited_op_is_kept_and_resent_with_the_same_seq_after_retry_after() -> None:
    """rate_limited is retryable: nothing is dropped, and the same op goes again after the delay."""
    async with joined("abc", 2) as (_, peer, client):
        client.insert(0, "x")
        first = await peer.recv()
        client.insert(1, "y")
        await peer.send({"type": "error", "code": "rate_limited", "message": "slow down", "seq": 1, "retry_after": 50})
        assert await peer.recv() == first == client_op(1, 2, ins(0, "x"))
        assert client.text == "xyabc"
        await peer.send({"type": "ack", "seq": 1, "rev": 3})
        assert await peer.recv() == client_op(2, 3, ins(1, "y"))
        await peer.send({"type": "ack", "seq": 2, "rev": 4})
        await client.wait_synced(timeout=TIMEOUT)
        assert client.text == client.server_text == "xyabc" and not client.waiting


@pytest.mark.asyncio
async def test_an_error_on_the_outstanding_op_resets_to_the_server_text_and_rejoins() -> None:
    """A refused op and its buffer are dropped, the text reset, and the client joins again."""
    async with joined("abc", 2) as (_, peer, client):
        client.insert(0, "x")
        await peer.recv()
        client.insert(1, "y")
        error = {"type": "error", "code": "too_large", "message": "too much", "seq": 1}
        await peer.send(error)
        assert await peer.recv() == {"type": "join", "client": client.client_id, "since": 2}
        assert client.text == "abc"
        assert client.errors == [error]
        assert not client.synced
        await peer.send(ready(2))
        await client.wait_synced(timeout=TIMEOUT)
        client.insert(3, "!")
        assert await peer.recv() == client_op(2, 2, ins(3, "!"))


@pytest.mark.asyncio
async def test_a_bad_base_keeps_the_text_and_merges_the_edit_into_the_rejoins_snapshot() -> None:
    """bad_base: the text is kept, the client re-joins from its revision, resends with a new seq."""
    async with joined("one\ntwo\n", 2) as (_, peer, client):
        client.insert(8, "three")
        assert await peer.recv() == client_op(1, 2, ins(8, "three"))
        client.insert(0, "> ")
        await peer.send({"type": "error", "code": "bad_base", "message": "ahead", "seq": 1})
        join = await peer.recv()
        assert join == {"type": "join", "client": client.client_id, "since": 2, "pending": True}
        assert client.text == "> one\ntwo\nthree"
        # The server lost revision 2, which had added "two".
        await peer.send([{"type": "snapshot", "rev": 1, "content": "one\n"}, ready(1)])
        assert await peer.recv() == client_op(2, 1, [*ins(0, "> "), *ins(6, "three")])
        await peer.send({"type": "ack", "seq": 2, "rev": 2})
        await client.wait_synced(timeout=TIMEOUT)
        assert client.text == client.server_text == "> one\nthree"


@pytest.mark.asyncio
async def test_a_bad_op_rejoins_for_a_fresh_snapshot_and_gives_up_after_two_reapplies() -> None:
    """bad_op: a snapshot is asked for and merged; a third refusal in a row drops the edit."""
    async with joined("abc", 4) as (_, peer, client):
        client.insert(3, "!")
        await peer.recv()
        for seq in (1, 2):
            await peer.send({"type": "error", "code": "bad_op", "message": "no", "seq": seq})
            join = await peer.recv()
            assert (join["since"], join["pending"]) == (None, True)
            assert client.text == "abc!"
            await peer.send([{"type": "snapshot", "rev": 4, "content": "abc"}, ready(4)])
            assert await peer.recv() == client_op(seq + 1, 4, ins(3, "!"))
        await peer.send({"type": "error", "code": "bad_op", "message": "no", "seq": 3})
        assert await peer.recv() == {"type": "join", "client": client.client_id, "since": 4}
        assert client.text == "abc"


@pytest.mark.asyncio
async def test_a_snapshot_drops_the_op_in_flight_it_may_hold_and_merges_the_buffer() -> None:
    """A snapshot not behind the client: the op in flight is not resent, the buffer is merged."""
    async with joined("abc", 2) as (server, peer, client):
        client.insert(0, "x")
        await peer.recv()
        client.insert(4, "y")
        await client.drop_connection()
        again = await server.accept()
        assert (await again.recv())["pending"] is True
        await again.send([{"type": "snapshot", "rev": 5, "content": "Zxabc"}, ready(5)])
        assert await again.recv() == client_op(2, 5, ins(5, "y"))
        assert client.text == "Zxabcy"
        await again.send({"type": "ack", "seq": 2, "rev": 6})
        await client.wait_synced(timeout=TIMEOUT)
        assert client.server_text == "Zxabcy"


@pytest.mark.asyncio
async def test_a_4403_close_raises_closed_by_server_and_the_client_does_not_reconnect() -> None:
    """A 44xx close ends the client for good."""
    async with fake_server() as server:
        client = CollabClient(server.url)
        connecting = asyncio.create_task(client.connect(timeout=TIMEOUT))
        peer = await server.accept()
        await peer.recv()
        await peer.ws.close(4403, "no access")
        with pytest.raises(ClosedByServer) as caught:
            await connecting
        assert (caught.value.code, caught.value.reason) == (4403, "no access")
        assert client.closed_code == 4403
        await asyncio.sleep(0.5)
        assert server.peers.empty()


@pytest.mark.asyncio
async def test_a_revision_gap_stops_the_client_with_a_protocol_violation() -> None:
    """An op that skips a revision is not applied and makes waiters raise."""
    async with joined("abc", 3) as (_, peer, client):
        await peer.send(remote_op(5, ins(0, "X")))
        with pytest.raises(ProtocolViolation, match="expected 4, got 5"):
            await client.wait_for_rev(5, timeout=TIMEOUT)
        assert (client.text, client.rev) == ("abc", 3)


@pytest.mark.asyncio
async def test_presence_and_leave_of_others_update_peers() -> None:
    """Other participants' presence is kept by client id until they leave."""
    async with joined("hello", 1) as (_, peer, client):
        user = {"id": 2, "name": "bo", "color": "#000"}
        presence = {"type": "presence", "client": "other", "user": user, "rev": 1, "cursor": {"anchor": 1, "head": 2}}
        own = {"type": "presence", "client": client.client_id, "rev": 1, "cursor": None}
        await peer.send([presence, own])
        client.insert(0, ">")
        await peer.recv()
        await client.set_presence({"anchor": 3, "head": 3})
        expected = {"type": "presence", "rev": 1, "cursor": {"anchor": 2, "head": 2}}
        assert await peer.recv() == expected  # caret after ">he" of ">hello" is after "he" at rev 1
        assert client.peers == {"other": presence}
        await peer.send({"type": "leave", "client": "other"})
        await peer.send({"type": "ack", "seq": 1, "rev": 2})
        await client.wait_synced(timeout=TIMEOUT)
        assert client.peers == {}
