"""What one person's edits cost the server: stored bytes, and the inserted-text budget."""

import asyncio
import json
import sys

import pytest
from django.db import connection

from editor.client import CollabClient
from editor.domain import selectors, services
from editor.models import Document, Operation

from .conftest import Daphne, session_headers

EMOJI = "😀" * 10_000  # 40,000 bytes of UTF-8


def stored_bytes(doc) -> int:
    """Bytes the ops of ``doc`` take in the database, as text."""
    table = Operation._meta.db_table
    column = "CAST(ops AS BLOB)" if connection.vendor == "sqlite" else "convert_to(ops::text, 'UTF8')"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT SUM(LENGTH({column})) FROM {table} WHERE document_id = %s", [doc.pk])
        return cursor.fetchone()[0]


def test_ops_are_stored_as_utf8_not_escaped(doc, ada):
    """An op inserting 40,000 bytes of emoji is stored in little more than that, not 3x."""
    before = stored_bytes(doc)
    services.operation_commit(
        document_id=doc.pk, user=ada, client="c", seq=1, base=1, ops=[{"pos": 0, "insert": EMOJI}]
    )
    assert stored_bytes(doc) - before < len(EMOJI.encode()) + 200
    assert Operation.objects.get(document=doc, revision=2).ops == [{"pos": 0, "insert": EMOJI}]
    assert selectors.document_text(Document.objects.get(pk=doc.pk)) == EMOJI + "hello"


BUDGET_ENV = {
    "COLLAB_INSERT_CHARS_PER_SECOND": "5",
    "COLLAB_INSERT_CHARS_BURST": "100",
    "COLLAB_MAX_INSERT_CHARS": "50",
}


@pytest.fixture
def budget_server(transactional_db):
    server = Daphne(**BUDGET_ENV).start()
    yield server
    server.stop()


async def test_inserted_text_per_person_is_budgeted_and_delayed_text_still_lands(budget_server, doc, ada):
    """Past the burst, an insert is rate_limited with the wait its size needs, on every
    socket of the person; the client waits that long and the text lands."""
    from .wire import Wire

    headers = session_headers(ada, budget_server)
    async with Wire(budget_server.ws(doc.pk), headers) as a, Wire(budget_server.ws(doc.pk), headers) as b:
        await a.join("a")
        await b.join("b")
        for seq in (1, 2):
            await a.send({"type": "op", "seq": seq, "base": seq, "ops": [{"pos": 0, "insert": "y" * 50}]})
            assert (await a.recv_until("ack"))[-1]["rev"] == seq + 1
        await a.send({"type": "op", "seq": 3, "base": 3, "ops": [{"pos": 0, "insert": "z" * 40}]})
        refused = await a.recv_until("error")
        assert refused[-1]["code"] == "rate_limited" and refused[-1]["seq"] == 3
        assert 6000 < refused[-1]["retry_after"] <= 8000  # 40 code points at 5 a second
        await b.send({"type": "op", "seq": 1, "base": 3, "ops": [{"pos": 0, "delete": 10}]})
        assert (await b.recv_until("ack"))[-1]["rev"] == 4  # deleting costs nothing
        await b.send({"type": "op", "seq": 2, "base": 4, "ops": [{"pos": 0, "insert": "w" * 30}]})
        assert (await b.recv_until("error"))[-1]["code"] == "rate_limited"  # one budget per person
    async with CollabClient(budget_server.ws(doc.pk), headers=headers) as c:
        c.insert(0, "z" * 10)
        await c.wait_synced(timeout=20)
        assert c.waiting is False
    document = Document.objects.get(pk=doc.pk)
    assert selectors.document_text(document) == "z" * 10 + "y" * 90 + "hello"


def test_a_documents_recent_revisions_are_bounded_in_bytes_not_only_in_count():
    """Ten 4 MB inserts: the state keeps the newest that fit in its bytes; older bases
    are read from the history instead."""
    from editor.domain import state as state_module
    from editor.domain.state import DocumentState, Entry

    state = DocumentState(rev=0, text="")
    block = "😀" * 1_000_000  # 4 MB as a Python string
    for rev in range(1, 11):
        state.extend([Entry(rev=rev, ops=[{"pos": 0, "insert": block}], key=(1, "c"), seq=rev)], "")
    assert state.rev == 10
    fit = state_module.RECENT_BYTES // sys.getsizeof(block)  # 4 of the 10 revisions
    assert 0 < fit < 10
    assert len(state.ops_since(10 - fit)) == fit  # the newest that fit are all kept
    assert state.ops_since(10 - fit - 1) is None  # one more would not fit: read from the history
    assert len(state.ops_since(7)) == 3


def test_a_hubs_recent_messages_are_bounded_in_bytes_not_only_in_count():
    """The serialised revisions a hub keeps for catch-ups stay under RECENT_BYTES."""
    from editor.realtime import ordering
    from editor.realtime.hub import Hub

    hub = Hub("d", hubs=None)
    block = "😀" * 1_000_000
    for rev in range(1, 11):
        hub.order.hand_out(
            {
                "type": "op",
                "rev": rev,
                "client": "c",
                "seq": rev,
                "user": {"id": 1, "name": "a"},
                "ops": [{"pos": 0, "insert": block}],
            }
        )
    assert hub.last_rev == 10 and hub.recent[-1].rev == 10
    assert hub.order.recent_bytes <= ordering.RECENT_BYTES and len(hub.recent) < 10
    assert [item.rev for item in hub.recent] == list(range(11 - len(hub.recent), 11))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_inserting_and_deleting_huge_blocks_in_a_loop_is_bounded_in_database_and_memory(
    transactional_db, doc, ada
):
    """The attack that grew the database by 281 MB: 250,000 emoji inserted and deleted
    in a loop, as fast as the socket allows. The budget stops it after about a million
    code points (plus the refill), so the stored history and the server's memory grow
    by a few megabytes."""
    from .wire import Wire

    server = Daphne().start()  # the default limits
    try:
        block = "😀" * 250_000
        before_db, before_rss = stored_bytes(doc), rss_bytes(server.proc.pid)
        started = asyncio.get_running_loop().time()
        async with Wire(server.ws(doc.pk), session_headers(ada, server)) as a:
            await a.join("a")
            rev, refused = 1, 0
            for seq in range(1, 41):
                ops = [{"pos": 0, "insert": block}] if rev % 2 else [{"pos": 0, "delete": len(block)}]
                # As UTF-8 (1 MB), not as \u escapes (3 MB, over the frame limit).
                await a.send(json.dumps({"type": "op", "seq": seq, "base": rev, "ops": ops}, ensure_ascii=False))
                answer = (await a.recv_until_any(("ack", "error"), timeout=30))[-1]
                if answer["type"] == "ack":
                    rev = answer["rev"]
                else:
                    assert answer["code"] == "rate_limited"
                    refused += 1
        elapsed = asyncio.get_running_loop().time() - started
        grown_db, grown_rss = stored_bytes(doc) - before_db, rss_bytes(server.proc.pid) - before_rss
        print(f"stored +{grown_db} bytes, server +{grown_rss} bytes RSS, {refused} refused, {elapsed:.1f} s")
        allowed = (1_000_000 + 5_000 * elapsed) * 4  # the burst and the refill, 4 bytes each
        assert refused > 0
        assert grown_db <= allowed + 100_000
        assert grown_rss < 64 * 1024 * 1024
    finally:
        server.stop()
