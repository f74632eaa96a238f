"""Migrations applied to a populated database, reversed, and applied again keep every text."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from editor.core import ot
from editor.domain import selectors, services
from editor.models import Document

from .harness import ALPHABET

pytestmark = pytest.mark.faults

SEED = 1003


def migrate(targets: list[tuple[str, str]] | None = None) -> None:
    """Migrate the test database to ``targets`` (every app's latest when None)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def stored_contents() -> dict[str, str]:
    """The ``content`` column of every document, as the schema before snapshots has it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, content FROM editor_document")
        return dict(cursor.fetchall())


def test_texts_survive_migrating_back_to_the_first_schema_and_forward_again(
    transactional_db, make_user, scenario, settings
):
    """Documents with long histories (their snapshot behind their head), an empty one
    and one of a single revision: back to 0002 and 0001, each row holds its text; forward
    again, every text reads as before and replays from its history."""
    scenario.describe(
        "migrations reversed and reapplied",
        "migrate back from the latest schema to 0002 and 0001, then forward, on populated PostgreSQL",
    )
    rng = random.Random(SEED)
    typed = {}
    owner = make_user("ada")
    documents = [services.document_create(title="empty", owner=owner)]
    documents.append(services.document_create(title="one", owner=owner, content="é😀 one revision\n"))
    for n in (2 * settings.COLLAB_SNAPSHOT_EVERY + 37, settings.COLLAB_SNAPSHOT_EVERY - 1):
        document = services.document_create(title=f"{n} edits", owner=owner, content="start\n")
        text = "start\n"
        for seq in range(1, n + 1):
            if text and rng.random() < 0.3:
                pos = rng.randrange(len(text))
                ops = [{"pos": pos, "delete": min(3, len(text) - pos)}]
            else:
                ops = [{"pos": rng.randint(0, len(text)), "insert": "".join(rng.choices(ALPHABET, k=3))}]
            head = Document.objects.get(pk=document.pk).revision
            services.operation_commit(document_id=document.pk, user=owner, client="c", seq=seq, base=head, ops=ops)
            text = ot.apply(text, ops)
        documents.append(document)
        typed[document.pk] = text
    texts = {d.pk: selectors.document_text(Document.objects.get(pk=d.pk)) for d in documents}
    assert all(texts[pk] == text for pk, text in typed.items())  # what was typed
    try:
        migrate([("editor", "0002_connection")])
        assert stored_contents() == texts
        scenario.note(f"{len(texts)} texts in the rows at 0002")
        migrate([("editor", "0001_initial")])
        assert stored_contents() == texts
        scenario.note("and at 0001")
    finally:
        migrate()
    for document in documents:
        document = Document.objects.get(pk=document.pk)
        assert selectors.document_text(document) == texts[document.pk]
        assert selectors.document_at_revision(document_id=document.pk, revision=document.revision) == texts[document.pk]
        assert document.length == len(texts[document.pk])
    scenario.note("forward again: every text and length as before")
