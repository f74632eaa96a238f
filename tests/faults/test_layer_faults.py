"""The channel layer between the servers drops, repeats and reorders messages."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest

from .harness import check_document, close_all, connect, team, type_randomly

pytestmark = pytest.mark.faults

SEED = 5005
FAULTS = "drop=0.25,repeat=0.25,delay=0.4"


async def test_revisions_reach_every_server_once_in_order_over_a_lossy_layer(
    make_cluster, make_user, scenario, tmp_path
):
    """Four clients type on two servers whose channel layer loses a quarter of the
    messages, repeats a quarter and holds back 40 % for up to 0.3 s; two more only
    read, one on each server. Every client sees every revision once, in order."""
    scenario.describe(
        "lossy channel layer",
        f"every message between the 2 servers: {FAULTS.replace(',', ', ')} s (seed {SEED})",
    )
    counts = tmp_path / "layer-counts"
    cluster = make_cluster(
        COLLAB_TEST_CHANNEL_LAYER="tests.faults.faulty_layer.FaultyRedisChannelLayer",
        COLLAB_TEST_LAYER_FAULTS=f"{FAULTS},seed={SEED}",
        COLLAB_TEST_LAYER_COUNTS=str(counts),
    )
    rng = random.Random(SEED)
    document, users = team(make_user)
    clients = [await connect(cluster.servers[i % 2], document.pk, users[i % 3]) for i in range(6)]
    typists = clients[:4]
    loop = asyncio.get_running_loop()
    typing = [
        asyncio.create_task(type_randomly(c, random.Random(rng.random()), ops=80, deadline=loop.time() + 15))
        for c in typists
    ]
    try:
        made = sum(await asyncio.gather(*typing))
        scenario.note(f"{made} ops typed")
        for check in await check_document(document.pk, clients):
            scenario.note(check)
        injected = Counter()
        for path in tmp_path.glob("layer-counts.*"):
            injected.update(json.loads(path.read_text()))
        assert injected["dropped"] and injected["repeated"] and injected["delayed"], injected
        scenario.measure(
            f"{injected['sent']} messages: {injected['dropped']} dropped, "
            f"{injected['repeated']} repeated, {injected['delayed']} delayed"
        )
    finally:
        for task in typing:
            task.cancel()
        await close_all(clients)
