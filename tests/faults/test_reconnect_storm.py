"""Fifty clients drop their sockets and join again, over and over, while others type."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.conftest import session_headers

from .harness import check_document, close_all, connect, team, type_randomly

pytestmark = pytest.mark.faults

SEED = 7007
LISTENERS = 50
TYPISTS = 5
STORM_SECONDS = 10


async def storm(client, rng: random.Random, servers, document_id: str, deadline: float) -> int:
    """Drop the socket at random moments until ``deadline``, rejoining on either server."""
    loop = asyncio.get_running_loop()
    drops = 0
    while loop.time() < deadline:
        await asyncio.sleep(rng.uniform(0.1, 1.2))
        client.url = rng.choice(servers).ws(document_id)
        await client.drop_connection()
        drops += 1
    return drops


async def test_a_reconnect_storm_of_fifty_clients_loses_nothing(make_cluster, make_user, scenario):
    """Fifty clients on two servers drop their sockets every second or so and rejoin on
    either server, while five others type (and drop now and then too). Everyone ends on
    the server's text, having seen every revision once."""
    scenario.describe(
        "reconnect storm",
        f"{LISTENERS} clients drop and rejoin (either server) every 0.1-1.2 s for "
        f"{STORM_SECONDS} s while {TYPISTS} type (seed {SEED})",
    )
    rng = random.Random(SEED)
    # The per-user socket cap and the join and abuse budgets are tested elsewhere; here
    # they would turn ten people's fifty-five rejoining clients into refusals (4429).
    cluster = make_cluster(
        COLLAB_MAX_SOCKETS_PER_USER="1000",
        COLLAB_JOINS_PER_SECOND="1000",
        COLLAB_JOINS_BURST="1000",
        COLLAB_ABUSE_LIMIT="100000",
    )
    document, users = team(make_user, names=[f"user{i}" for i in range(10)])
    servers = cluster.servers
    who = [users[i % len(users)] for i in range(LISTENERS + TYPISTS)]
    headers = [session_headers(user, servers[0]) for user in who]
    clients = await asyncio.gather(
        *(connect(servers[i % 2], document.pk, user, headers=headers[i]) for i, user in enumerate(who))
    )
    listeners, typists = clients[:LISTENERS], clients[LISTENERS:]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORM_SECONDS
    tasks = [
        *(
            asyncio.create_task(storm(c, random.Random(rng.random()), servers, document.pk, deadline))
            for c in listeners
        ),
        *(
            asyncio.create_task(storm(c, random.Random(rng.random()), servers, document.pk, deadline))
            for c in typists[:2]
        ),
    ]
    typing = [
        asyncio.create_task(type_randomly(c, random.Random(rng.random()), ops=200, deadline=deadline, pause=0.1))
        for c in typists
    ]
    try:
        drops = sum(await asyncio.gather(*tasks))
        made = sum(await asyncio.gather(*typing))
        scenario.note(f"{drops} drops, {made} ops typed")
        for check in await check_document(document.pk, clients, timeout=60):
            scenario.note(check)
    finally:
        for task in tasks + typing:
            task.cancel()
        await close_all(clients)
