"""How a hub and its feeds make up for what the channel layer loses, repeats or skips.

Each defence is checked on its own, against a real database and no server: the hub
filling a gap between announcements, a feed re-synchronising after the hub skipped
ahead, a repeated announcement dropped, the quiet check standing in for a lost last
announcement, and a join's catch-up or snapshot.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from editor.domain import selectors, services
from editor.realtime import dbthread, ordering
from editor.realtime.feed import EncodedRevision, Feed, revision_message
from editor.realtime.hub import Hub

from .waiting import eventually_async


@pytest.fixture
async def db_thread(transactional_db):
    """The real-time path's database thread, closed after the test."""
    yield
    await asyncio.to_thread(dbthread.close)


def typed(doc, user, count: int) -> None:
    """Commit ``count`` revisions appending "a", "b", ... (none of them announced)."""
    for seq in range(1, count + 1):
        services.operation_commit(
            document_id=doc.pk,
            user=user,
            client="typist",
            seq=seq,
            base=doc.revision + seq - 1,
            ops=[{"pos": doc.length + seq - 1, "insert": chr(96 + seq)}],
        )


def message(doc, rev: int) -> dict:
    """The ``op`` message of a stored revision, as its announcement carries it."""
    [revision] = selectors.operations_since(document_id=doc.pk, since=rev - 1, until=rev)
    return revision_message(revision)


def a_feed(doc, user, *, last_sent: int | None = None, batch: int | None = None):
    """A feed of another tab of ``user``, and the frames sent to it."""
    frames: list[str] = []

    async def send(frame: str) -> None:
        frames.append(frame)

    feed = Feed(document_id=doc.pk, user_id=user.pk, client="reader", send=send, max_frame=1 << 20, batch=batch)
    feed.last_sent = last_sent
    return feed, frames


def a_hub(doc, *feeds, last_rev: int) -> Hub:
    hub = Hub(doc.pk, hubs=None, last_rev=last_rev)
    for feed in feeds:
        hub.add(feed)
    return hub


def received(frames: list[str]) -> list[tuple[str, int]]:
    """(type, rev) of every message sent, in order; a frame holds one or an array."""
    out = []
    for frame in frames:
        decoded = json.loads(frame)
        for m in decoded if isinstance(decoded, list) else [decoded]:
            out.append((m["type"], m["rev"]))
    return out


def ops(*revs: int) -> list[tuple[str, int]]:
    return [("op", rev) for rev in revs]


async def test_an_announcement_after_a_gap_makes_the_hub_read_the_gap_first(ada, db_thread, settings):
    """The hub reads the missed revisions (in several batches) before handing out the
    announced one, so what it keeps for catch-ups stays contiguous."""
    settings.COLLAB_CATCHUP_BATCH = 2
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 6)  # revisions 2 to 7
    feed, frames = a_feed(doc, ada, last_sent=1)
    hub = a_hub(doc, feed, last_rev=1)
    try:
        await hub.deliver([message(doc, 7)])  # the announcements of 2 to 6 were lost
        assert hub.last_rev == 7
        assert [item.rev for item in hub.recent] == [2, 3, 4, 5, 6, 7]
        await eventually_async(lambda: received(frames) == ops(2, 3, 4, 5, 6, 7))
    finally:
        hub.close()


async def test_a_feed_handed_a_revision_past_a_gap_re_synchronises_from_the_history(ada, db_thread):
    """A feed that missed revisions (its hub failed to fill them) reads them itself,
    and sends everything once, in order."""
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 4)  # revisions 2 to 5
    feed, frames = a_feed(doc, ada, last_sent=1)
    feed.take([EncodedRevision.of(message(doc, 5))])
    assert frames == []  # nothing out of order meanwhile
    await eventually_async(lambda: received(frames) == ops(2, 3, 4, 5))
    assert feed.last_sent == 5
    # Back in step: the next revision goes out as it comes.
    typed_more = services.operation_commit(
        document_id=doc.pk, user=ada, client="typist", seq=5, base=5, ops=[{"pos": 0, "insert": "!"}]
    )
    feed.take([EncodedRevision.of(message(doc, typed_more.revision))])
    await feed.flush()
    assert received(frames) == ops(2, 3, 4, 5, 6)


async def test_repeated_announcements_change_nothing(ada, db_thread):
    """The channel layer may deliver an announcement twice, or late: the hub keeps its
    place and every connection is sent each revision once."""
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 3)  # revisions 2 to 4
    feed, frames = a_feed(doc, ada, last_sent=1)
    hub = a_hub(doc, feed, last_rev=1)
    try:
        await hub.deliver([message(doc, rev) for rev in (2, 3, 4)])
        await hub.deliver([message(doc, 3), message(doc, 2)])
        assert hub.last_rev == 4
        assert [item.rev for item in hub.recent] == [2, 3, 4]
        await eventually_async(lambda: received(frames) == ops(2, 3, 4))
        await hub.flush()
        assert received(frames) == ops(2, 3, 4)
    finally:
        hub.close()


async def test_a_lost_last_announcement_is_recovered_by_the_quiet_check(ada, db_thread, monkeypatch):
    """Nothing more is announced after a revision whose announcement was lost: the
    hub asks the database after a quiet spell and sends the one revision it missed."""
    monkeypatch.setattr(ordering, "QUIET_CHECK_SECONDS", 0.05)
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 2)  # revisions 2 and 3
    feed, frames = a_feed(doc, ada, last_sent=1)
    hub = a_hub(doc, feed, last_rev=1)
    try:
        await hub.deliver([message(doc, 2)])  # revision 3 is never announced
        await eventually_async(lambda: received(frames) == ops(2, 3))
        assert hub.last_rev == 3
    finally:
        hub.close()


async def test_a_catch_up_longer_than_one_batch_reads_every_batch(ada, db_thread):
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 6)  # revisions 2 to 7: batches of 3, 3 and 1
    feed, frames = a_feed(doc, ada, batch=3)
    assert await feed.join(0, role="editor") == 7
    assert received(frames) == ops(1, 2, 3, 4, 5, 6, 7) + [("ready", 7)]


async def test_a_join_from_a_revision_the_document_does_not_have_yet_gets_a_snapshot(ada, db_thread):
    """A client that knows revisions this database lost (a restored backup) is sent the
    text as it is, not told it is up to date."""
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 2)  # "xab" at revision 3
    feed, frames = a_feed(doc, ada)
    assert await feed.join(9, role="editor") == 3
    assert received(frames) == [("snapshot", 3), ("ready", 3)]
    assert json.loads(frames[0])[0]["content"] == "xab"


async def test_a_join_is_answered_from_the_revisions_the_hub_keeps(ada, db_thread):
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 4)  # revisions 2 to 5
    hub = a_hub(doc, last_rev=0)
    try:
        await hub.deliver([message(doc, rev) for rev in range(1, 6)])
        feed, frames = a_feed(doc, ada)
        hub.add(feed)  # attached, as Hubs.attach does
        assert await feed.join(2, role="editor") == 5
        assert received(frames) == ops(3, 4, 5) + [("ready", 5)]
    finally:
        hub.close()


async def test_a_feed_still_joining_gets_the_revisions_handed_out_meanwhile_after_its_catch_up(ada, db_thread):
    """Nothing is sent to a connection while it is answered ``join``; what its hub
    handed out meanwhile follows the catch-up, once, before ``ready``."""
    import threading

    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 1)  # revision 2
    other, other_frames = a_feed(doc, ada, last_sent=2)
    hub = a_hub(doc, other, last_rev=2)
    try:
        feed, frames = a_feed(doc, ada)
        hub.add(feed)
        busy = threading.Event()
        held = asyncio.ensure_future(dbthread.run(busy.wait, 30))  # the join's reads wait behind it
        joined = asyncio.ensure_future(feed.join(1, role="editor"))
        await asyncio.sleep(0)  # the join starts, and waits for its first read
        typed_more = services.operation_commit(
            document_id=doc.pk, user=ada, client="typist", seq=2, base=2, ops=[{"pos": 0, "insert": "!"}]
        )
        hub.order.hand_out(message(doc, typed_more.revision))
        await hub.flush()
        assert frames == [] and received(other_frames) == ops(3)
        busy.set()
        await held
        assert await joined == 3
        assert received(frames) == ops(2, 3) + [("ready", 3)]
    finally:
        hub.close()


async def test_a_repeated_ack_waits_for_the_revisions_under_it(ada, db_thread, settings):
    """A resend of an op another process committed is acked at once: the hub first hands
    out every revision through it, read from the history when no announcement brought
    them, and a caller arriving while a fill runs waits for it to get there."""
    settings.COLLAB_CATCHUP_BATCH = 2
    doc = services.document_create(title="T", owner=ada, content="x")
    typed(doc, ada, 5)  # revisions 2 to 6, committed elsewhere and never announced here
    feed, frames = a_feed(doc, ada, last_sent=1)
    hub = a_hub(doc, feed, last_rev=1)
    try:
        first = asyncio.create_task(hub.through(4))
        second = asyncio.create_task(hub.through(6))  # starts while the first fill runs
        await asyncio.gather(first, second)
        assert hub.last_rev >= 6
        await hub.through(3)  # already handed out: nothing more to read
        await feed.reply({"type": "ack", "seq": 9, "rev": 6})
        assert received(frames) == [*ops(2, 3, 4, 5, 6), ("ack", 6)]
    finally:
        hub.close()
