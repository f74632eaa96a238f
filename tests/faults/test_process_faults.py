"""A server process dies (SIGKILL) or is stopped (SIGTERM) while people type on it."""

from __future__ import annotations

import asyncio
import random
import signal

import pytest

from tests.waiting import eventually_async

from .harness import check_document, close_all, connect, team, type_randomly

pytestmark = pytest.mark.faults

SEED = 20261130
OPS = 60  # per client
TYPING_SECONDS = 25


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_a_server_that_dies_mid_typing_loses_nothing_acked_and_applies_nothing_twice(
    make_cluster, make_user, scenario, sig
):
    """Six clients type on two servers; one server is signalled while its clients have
    ops in flight. Half of its clients move to the other server, half wait for it to be
    restarted; nothing acked is lost, nothing applied twice, everyone converges."""
    name = "kill -9 of a server" if sig == signal.SIGKILL else "SIGTERM of a server"
    scenario.describe(
        name, f"{signal.Signals(sig).name} to 1 of 2 daphnes with ops in flight, restart after 1 s (seed {SEED})"
    )
    rng = random.Random(SEED + sig)
    cluster = make_cluster()
    one, two = cluster.servers
    document, users = team(make_user)
    clients = [await connect(cluster.servers[i % 2], document.pk, users[i % 3]) for i in range(6)]
    on_one = clients[0::2]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TYPING_SECONDS
    typing = [
        asyncio.create_task(type_randomly(c, random.Random(rng.random()), ops=OPS, deadline=deadline)) for c in clients
    ]
    try:
        # Strike once the victim's clients have had ops acked and one is in flight.
        await eventually_async(
            lambda: sum(len(c.acked) for c in on_one) >= 5 and any(c.in_flight for c in on_one),
            timeout=20,
            what="ops in flight on the first server",
            interval=0.001,
        )
        in_flight = sum(c.in_flight for c in on_one)
        cluster.kill(0, sig)
        on_one[0].url = two.ws(document.pk)  # moves to the other process
        await asyncio.sleep(1)
        one.start()  # the others reconnect to the restarted one, same address
        made = sum(await asyncio.gather(*typing))
        scenario.note(f"{made} ops typed, {in_flight} in flight at the signal")
        for check in await check_document(document.pk, clients):
            scenario.note(check)
    finally:
        for task in typing:
            task.cancel()
        await close_all(clients)
