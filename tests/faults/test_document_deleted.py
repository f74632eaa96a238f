"""A document deleted while people type in it, on two servers."""

from __future__ import annotations

import asyncio
import random

import pytest

from editor.models import Connection, Document, Membership, Operation, Snapshot
from tests.waiting import eventually_async

from .harness import check_document, close_all, connect, team, type_randomly

pytestmark = pytest.mark.faults

SEED = 9009


async def test_a_document_deleted_mid_typing_closes_its_sockets_with_4404_and_leaves_nothing(
    make_cluster, make_user, scenario
):
    """Four clients type in a document on two servers while two others type in another
    one. The first document is deleted (as the admin deletes it): its sockets close with
    4404 on both servers, no row of it is left, and the other document is unaffected."""
    scenario.describe(
        "document deleted with sockets open",
        f"the admin's delete while 4 clients type in it on 2 servers (seed {SEED})",
    )
    rng = random.Random(SEED)
    cluster = make_cluster()
    doomed, users = team(make_user)
    from editor.domain import services

    other = services.document_create(title="Other", owner=users[0], content="stays\n")
    victims = [await connect(cluster.servers[i % 2], doomed.pk, users[i % 3]) for i in range(4)]
    bystanders = [await connect(cluster.servers[i], other.pk, users[0]) for i in range(2)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    typing = [
        asyncio.create_task(type_randomly(c, random.Random(rng.random()), ops=400, deadline=deadline))
        for c in victims + bystanders
    ]
    try:
        await eventually_async(lambda: sum(len(c.acked) for c in victims) >= 20, timeout=20, what="20 acks")
        await eventually_async(lambda: sum(len(c.acked) for c in bystanders) >= 5, timeout=20, what="5 acks")
        services.documents_delete(document_ids=[doomed.pk])  # what the admin's delete does
        await eventually_async(
            lambda: all(c.closed_code is not None for c in victims),
            timeout=20,
            what="every socket of the deleted document to close",
        )
        assert [c.closed_code for c in victims] == [4404] * 4
        scenario.note("4 sockets closed with 4404")
        await asyncio.gather(*typing[len(victims) :])
        assert not Document.objects.filter(pk=doomed.pk).exists()
        leftovers = {
            model.__name__: model.objects.filter(document_id=doomed.pk).count()
            for model in (Operation, Snapshot, Membership, Connection)
        }
        assert leftovers == dict.fromkeys(leftovers, 0), leftovers
        scenario.note("no operation, snapshot, membership or connection row left")
        assert all(s.proc.poll() is None for s in cluster.servers)
        checks = await check_document(other.pk, bystanders)
        scenario.note("the other document: " + ", ".join(checks))
    finally:
        for task in typing:
            task.cancel()
        await close_all(victims + bystanders)
