"""The servers' backends fail under them: PostgreSQL drops every connection, Redis
restarts empty."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from django.db import connection

from editor.realtime.ordering import QUIET_CHECK_SECONDS
from tests.waiting import eventually_async

from .harness import check_document, close_all, connect, team, type_randomly

pytestmark = pytest.mark.faults

SEED = 7001


def terminate_other_sessions() -> int:
    """End every other PostgreSQL session on the test database; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(cursor.fetchall())


async def test_servers_recover_when_every_database_connection_is_terminated(make_cluster, make_user, scenario):
    """Six clients type on two servers while every database session is terminated five
    times; the servers reconnect, refused commits are resent, and nothing is lost."""
    scenario.describe(
        "PostgreSQL connections terminated",
        f"pg_terminate_backend of every session of the database, 5 times while 6 clients type (seed {SEED})",
    )
    rng = random.Random(SEED)
    cluster = make_cluster()
    document, users = team(make_user)
    clients = [await connect(cluster.servers[i % 2], document.pk, users[i % 3]) for i in range(6)]
    loop = asyncio.get_running_loop()
    typing = [
        asyncio.create_task(type_randomly(c, random.Random(rng.random()), ops=100, deadline=loop.time() + 25))
        for c in clients
    ]
    try:
        terminated = []
        for _ in range(5):
            acked = sum(len(c.acked) for c in clients)
            await eventually_async(
                lambda: sum(len(c.acked) for c in clients) >= acked + 8,  # noqa: B023 - awaited in this turn
                timeout=20,
                what="eight more acks",
            )
            terminated.append(terminate_other_sessions())
        made = sum(await asyncio.gather(*typing))
        scenario.note(f"{made} ops typed, {sum(terminated)} sessions terminated")
        assert all(s.proc.poll() is None for s in cluster.servers), "a server exited"
        for check in await check_document(document.pk, clients):
            scenario.note(check)
        late = await connect(cluster.servers[1], document.pk, users[0])  # still serving newcomers
        clients.append(late)
        assert late.text == clients[0].text
        scenario.note("a newcomer joins afterwards")
    finally:
        for task in typing:
            task.cancel()
        await close_all(clients)


async def test_live_delivery_between_servers_resumes_after_redis_restarts_empty(
    make_cluster, make_user, own_redis, scenario
):
    """A writer on one server, readers on both. Redis is killed and restarted with
    nothing in it (no group memberships). The reader on the other server hears of the
    writer's next edits live again, well before the hourly re-join of groups; it does
    not depend on typing on its own server."""
    scenario.describe(
        "Redis restarted empty",
        "SIGKILL of the servers' redis-server, restarted at once with no data, mid-typing",
    )
    rng = random.Random(SEED + 1)
    cluster = make_cluster()
    document, users = team(make_user)
    writer = await connect(cluster.servers[0], document.pk, users[0])
    near = await connect(cluster.servers[0], document.pk, users[1])
    far = await connect(cluster.servers[1], document.pk, users[1])
    clients = [writer, near, far]
    try:
        for _ in range(5):
            writer.insert(0, rng.choice("abc"))
            await writer.wait_synced()
            await far.wait_for_rev(writer.rev, timeout=10)
        own_redis.kill()
        writer.insert(0, "while Redis is down ")
        own_redis.start()
        restarted = time.monotonic()
        await writer.wait_synced(timeout=20)
        # Past the one check after a quiet spell that follows the last announcement:
        # from now on only the channel layer can tell the far server of new revisions.
        await asyncio.sleep(QUIET_CHECK_SECONDS + 0.5)
        writer.insert(0, "after the restart ")
        await writer.wait_synced(timeout=20)
        await far.wait_for_rev(writer.rev, timeout=20)
        scenario.measure(
            f"the first edit after the restart reached the other server "
            f"{time.monotonic() - restarted:.1f} s after Redis came back "
            f"(of which {QUIET_CHECK_SECONDS + 0.5:.0f} s waiting on purpose)"
        )
        scenario.note("an edit after the restart reaches the other server")
        # And it stays live: each further edit arrives without anything else happening.
        for _ in range(5):
            writer.insert(rng.randint(0, len(writer.text)), rng.choice("xyz"))
            await writer.wait_synced(timeout=20)
            await far.wait_for_rev(writer.rev, timeout=10)
        scenario.note("5 further edits reach it one by one")
        for check in await check_document(document.pk, clients):
            scenario.note(check)
    finally:
        await close_all(clients)
