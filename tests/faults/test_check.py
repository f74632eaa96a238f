"""The scenarios' one check fails on each kind of damage it is there to find."""

from __future__ import annotations

import pytest

from editor.domain import services
from editor.models import Document, Operation, Snapshot

from .harness import RecordingClient, check_history

pytestmark = pytest.mark.faults


def settled_client(document, user, *, text: str, first_rev: int = 0) -> RecordingClient:
    """A client as check_document finds one once it has settled (never connected here)."""
    client = RecordingClient("ws://127.0.0.1:1/", user=user, headers={}, client_id="c")
    client.rev, client.text, client.server_text = document.revision, text, text
    client.first_rev, client.revisions = first_rev, list(range(first_rev + 1, document.revision + 1))
    return client


@pytest.fixture
def history(transactional_db, make_user):
    """A document of four revisions by one client, seq 1..4: "abcd"."""
    ada = make_user("ada")
    document = services.document_create(title="T", owner=ada)
    for seq, letter in enumerate("abcd", start=1):
        services.operation_commit(
            document_id=document.pk,
            user=ada,
            client="c",
            seq=seq,
            base=seq - 1,
            ops=[{"pos": seq - 1, "insert": letter}],
        )
    return Document.objects.get(pk=document.pk), ada


def test_a_sound_history_passes(history):
    document, ada = history
    client = settled_client(document, ada, text="abcd")
    client.acked = {1: 1, 4: 4}
    assert "4 revisions contiguous" in check_history(document.pk, [client])


def test_revisions_a_snapshot_brought_the_client_past_are_not_missed(history):
    document, ada = history
    client = settled_client(document, ada, text="abcd")
    client.revisions, client.snapshots = [1, 4], [3]  # a re-join answered with a snapshot at 3
    assert "4 revisions contiguous" in check_history(document.pk, [client])


@pytest.mark.parametrize(
    "damage",
    [
        "gap",
        "lost ack",
        "wrong ack",
        "diverged client",
        "missed revision",
        "repeated revision",
        "gap past a snapshot",
        "text not the replay",
        "bad snapshot",
    ],
)
def test_each_kind_of_damage_fails_the_check(history, damage):
    document, ada = history
    client = settled_client(document, ada, text="abcd")
    if damage == "gap":
        Operation.objects.filter(document=document, revision=2).delete()
    elif damage == "lost ack":
        client.acked = {5: 5}
    elif damage == "wrong ack":
        client.acked = {1: 2}
    elif damage == "diverged client":
        client.text = client.server_text = "abdc"
    elif damage == "missed revision":
        client.revisions = [1, 2, 4]
    elif damage == "repeated revision":
        client.revisions = [1, 2, 2, 3, 4]
    elif damage == "gap past a snapshot":
        client.revisions, client.snapshots = [1, 4], [2]  # revision 3 neither received nor covered
    elif damage == "text not the replay":
        Operation.objects.filter(document=document, revision=3).update(ops=[{"pos": 2, "insert": "X"}])
        Snapshot.objects.filter(document=document).update(revision=4, content="abcd")
    elif damage == "bad snapshot":
        Snapshot.objects.filter(document=document).update(revision=2, content="zz")
    with pytest.raises(AssertionError):
        check_history(document.pk, [client])
