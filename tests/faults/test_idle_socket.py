"""An idle socket stays open for minutes and still hears the next edit."""

from __future__ import annotations

import asyncio

import pytest

from .harness import check_document, close_all, connect, team

pytestmark = pytest.mark.faults

IDLE_SECONDS = 62


async def test_an_idle_socket_over_redis_stays_open_and_receives_a_later_edit(make_cluster, make_user, scenario):
    """A reader on one server sits idle for over a minute (no frame either way but the
    servers' own pings); then someone on the other server types. The reader gets the
    edit live on the same socket, never having reconnected."""
    scenario.describe("idle socket", f"a socket with no traffic for {IDLE_SECONDS} s, over Redis")
    cluster = make_cluster()
    document, users = team(make_user)
    idle = await connect(cluster.servers[1], document.pk, users[1])
    writer = await connect(cluster.servers[0], document.pk, users[0])
    try:
        readies = idle.readies
        await asyncio.sleep(IDLE_SECONDS)
        assert idle.closed_code is None and idle.synced
        writer.insert(0, "after a quiet minute\n")
        await writer.wait_synced(timeout=20)
        await idle.wait_for_rev(writer.rev, timeout=20)
        assert idle.readies == readies, "the idle client had to reconnect"
        scenario.note("the same socket, never reconnected, received the edit")
        for check in await check_document(document.pk, [idle, writer]):
            scenario.note(check)
    finally:
        await close_all([idle, writer])
