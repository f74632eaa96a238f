"""A document's history budget (COLLAB_HISTORY_MAX_BYTES): counted on the row, refused past it."""

import importlib

import pytest
from django.db import connection

from editor.domain import selectors, services
from editor.domain.errors import TooLarge
from editor.models import Document, Operation, op_bytes


def commit(doc, user, seq, base, ops, client="c"):
    return services.operation_commit(document_id=doc.pk, user=user, client=client, seq=seq, base=base, ops=ops)


def counted(doc) -> int:
    return Document.objects.get(pk=doc.pk).history_bytes


def stored(doc) -> int:
    return sum(op_bytes(ops) for ops in Operation.objects.filter(document=doc).values_list("ops", flat=True))


def test_the_row_counts_the_bytes_of_the_stored_history(doc, ada):
    """Every committed op adds what it stores, UTF-8 and all, in one batch or many."""
    assert counted(doc) == stored(doc) > 0  # the initial text
    commit(doc, ada, 1, 1, [{"pos": 0, "insert": "😀é"}])
    commit(doc, ada, 2, 2, [{"pos": 0, "delete": 2}])
    services.document_replace_text(document_id=doc.pk, user=ada, base=3, text="x" * 10 + "hello", client="p")
    assert counted(doc) == stored(doc)
    assert op_bytes([{"pos": 0, "insert": "😀"}]) == len('[{"pos": 0, "insert": "😀"}]'.encode())


def test_an_insert_past_the_budget_is_refused_and_records_nothing(doc, ada, settings):
    used = counted(doc)
    op = [{"pos": 0, "insert": "y" * 100}]
    settings.COLLAB_HISTORY_MAX_BYTES = used + op_bytes(op) + 10
    commit(doc, ada, 1, 1, op)  # within the budget
    with pytest.raises(TooLarge, match="history is full"):
        commit(doc, ada, 2, 2, op)
    document = Document.objects.get(pk=doc.pk)
    assert document.revision == 2 and document.history_bytes == used + op_bytes(op)
    assert selectors.document_text(document) == "y" * 100 + "hello"
    commit(doc, ada, 3, 2, [{"pos": 0, "delete": 50}])  # deleting is still possible
    assert selectors.document_text(Document.objects.get(pk=doc.pk)) == "y" * 50 + "hello"
    settings.COLLAB_HISTORY_MAX_BYTES = 0  # no bound
    commit(doc, ada, 4, 3, op)
    assert Document.objects.get(pk=doc.pk).revision == 4


def test_a_refused_op_in_a_batch_does_not_count(doc, ada, settings):
    op = [{"pos": 0, "insert": "z" * 100}]
    settings.COLLAB_HISTORY_MAX_BYTES = counted(doc) + op_bytes(op) + 10
    results = services.operations_commit(
        document_id=doc.pk,
        submissions=[
            services.Submission(user=ada, client="c", seq=1, base=1, ops=op),
            services.Submission(user=ada, client="c", seq=2, base=1, ops=op),
            services.Submission(user=ada, client="c", seq=3, base=1, ops=[{"pos": 0, "delete": 1}]),
        ],
    )
    assert [type(r).__name__ for r in results] == ["Committed", "TooLarge", "Committed"]
    assert counted(doc) == stored(doc)


def test_the_migration_counts_the_history_of_existing_documents(doc, ada):
    commit(doc, ada, 1, 1, [{"pos": 0, "insert": "😀" * 7}])
    Document.objects.filter(pk=doc.pk).update(history_bytes=0)
    migration = importlib.import_module("editor.migrations.0006_document_history_bytes")
    from django.apps import apps

    migration.count_history(apps, connection.schema_editor())
    assert counted(doc) == stored(doc) > 0


def test_the_admin_shows_a_full_history(admin_client, ada, settings):
    from django.urls import reverse

    full = services.document_create(title="Full", owner=ada, content="x" * 200)
    services.document_create(title="Roomy", owner=ada, content="y")
    settings.COLLAB_HISTORY_MAX_BYTES = counted(full)
    html = admin_client.get(reverse("admin:editor_document_changelist")).content.decode()
    assert html.count("(full: inserts are refused)") == 1
    assert f"{counted(full):,} of {counted(full):,} (full" in html
    page = admin_client.get(reverse("admin:editor_document_change", args=[full.pk])).content.decode()
    assert "History (bytes)" in page and "(full: inserts are refused)" in page
