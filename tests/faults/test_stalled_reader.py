"""A reader that stops reading its socket while others type."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from editor.models import Connection
from tests.conftest import session_headers
from tests.waiting import eventually_async

from .harness import check_document, close_all, connect, team

pytestmark = pytest.mark.faults

SEED = 6006
BACKLOG = 1024 * 1024  # lowered from 8 MiB so that the scenario takes seconds
STALL_SECONDS = 30
CHUNK = 16_000  # code points per insert: each revision is a frame of about this size


async def type_big(client, rng: random.Random, stop: asyncio.Event) -> int:
    """Insert a chunk of text, then delete it, and again, until ``stop``; each edit waits
    for its ack, so the rate is the server's. Returns the number of edits."""
    made = 0
    while not stop.is_set():
        pos = rng.randint(0, len(client.text))
        client.insert(pos, "".join(rng.choices("abcdefgh \n", k=CHUNK)))
        await client.wait_synced(timeout=30)
        count = min(CHUNK, len(client.text))  # the other typist may have deleted some
        client.delete(max(0, min(pos, len(client.text) - count)), count)
        await client.wait_synced(timeout=30)
        made += 2
    return made


async def test_a_stalled_reader_is_dropped_and_the_others_are_not_held_up(make_cluster, make_user, scenario):
    """A socket joins and stops reading (a tiny receive buffer, nothing read) while two
    clients paste and delete 16,000 characters at a time. Its backlog on the server
    passes COLLAB_MAX_BACKLOG_BYTES, the server drops it, the server's memory stays
    bounded meanwhile, and the typists and a reader on the other server go on."""
    scenario.describe(
        "stalled reader",
        f"a socket stops reading for up to {STALL_SECONDS} s while 2 clients paste {CHUNK} characters "
        f"at a time (COLLAB_MAX_BACKLOG_BYTES={BACKLOG})",
    )
    rng = random.Random(SEED)
    # The insert budget would pace the pastes far below what fills the backlog: lifted.
    cluster = make_cluster(COLLAB_MAX_BACKLOG_BYTES=str(BACKLOG), COLLAB_INSERT_CHARS_PER_SECOND="100000000")
    one, two = cluster.servers
    document, users = team(make_user)
    typists = [await connect(one, document.pk, users[i]) for i in range(2)]
    far = await connect(two, document.pk, users[2])

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", one.port))
    stalled = await ws_connect(
        one.ws(document.pk),
        sock=sock,
        additional_headers=session_headers(users[2], one),
        max_size=None,
        max_queue=1,
    )
    stop = asyncio.Event()
    typing: list[asyncio.Task] = []
    try:
        await stalled.send(json.dumps({"type": "join", "client": "stalled", "since": None}))
        await eventually_async(
            lambda: Connection.objects.filter(client="stalled").exists(), timeout=20, what="the stalled socket's join"
        )
        # From here on it reads nothing.
        baseline = cluster.rss_kib(0)
        typing = [asyncio.create_task(type_big(c, random.Random(rng.random()), stop)) for c in typists]
        peak, acked_during = baseline, 0

        def dropped() -> bool:  # and meanwhile, the server's memory and the typists' acks
            nonlocal peak, acked_during
            for task in typing:
                if task.done():
                    task.result()  # a typist that failed fails the test
            peak = max(peak, cluster.rss_kib(0))
            acked_during = sum(len(c.acked) for c in typists)
            return not Connection.objects.filter(client="stalled").exists()

        started = time.monotonic()
        await eventually_async(
            dropped, timeout=STALL_SECONDS, interval=0.1, what="the server to drop the stalled socket"
        )
        dropped_after = time.monotonic() - started
        scenario.note(f"stalled socket dropped by the server after {dropped_after:.1f} s")
        assert acked_during > 0
        scenario.note(f"{acked_during} edits acked to the typists while it stalled")
        growth_mib = (peak - baseline) / 1024
        scenario.measure(f"server RSS {baseline // 1024} MiB before, peak {peak // 1024} MiB (+{growth_mib:.0f} MiB)")
        # A server that kept every frame for the stalled socket would hold them all;
        # what it may hold is its backlog plus working memory.
        assert growth_mib < 64, f"the server grew by {growth_mib:.0f} MiB"
        scenario.note("server memory bounded")
        # Typing goes on for a moment after the drop; the socket, read again, is closed.
        await asyncio.sleep(0.5)
        stop.set()
        scenario.note(f"{sum(await asyncio.gather(*typing))} big edits typed")
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(20):
                while True:
                    await stalled.recv()
        scenario.note("the stalled client, reading again, finds its socket closed")
        for check in await check_document(document.pk, [*typists, far]):
            scenario.note(check)
    finally:
        stop.set()
        for task in typing:
            task.cancel()
        stalled.transport.abort()
        await close_all([*typists, far])
