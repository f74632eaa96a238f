"""What one person's edits cost the server: stored bytes, and the inserted-text budget."""

import pytest
from django.db import connection

from editor import selectors, services
from editor.client import CollabClient
from editor.models import Document, Operation

from .conftest import Daphne, session_headers

EMOJI = "😀" * 10_000  # 40,000 bytes of UTF-8


@pytest.fixture
def ada(make_user):
    return make_user("ada")


@pytest.fixture
def doc(ada):
    return services.document_create(title="Notes", owner=ada, content="hello")


def stored_bytes(doc) -> int:
    """Bytes the ops of ``doc`` take in the database, as text."""
    table = Operation._meta.db_table
    column = "CAST(ops AS BLOB)" if connection.vendor == "sqlite" else "convert_to(ops::text, 'UTF8')"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT SUM(LENGTH({column})) FROM {table} WHERE document_id = %s", [doc.pk])
        return cursor.fetchone()[0]


def test_ops_are_stored_as_utf8_not_escaped(doc, ada):
    """An op inserting 40,000 bytes of emoji is stored in little more than that, not 3x."""
    before = stored_bytes(doc)
    services.operation_commit(document_id=doc.pk, user=ada, client="c", seq=1, base=1,
                              ops=[{"pos": 0, "insert": EMOJI}])
    assert stored_bytes(doc) - before < len(EMOJI.encode()) + 200
    assert Operation.objects.get(document=doc, revision=2).ops == [{"pos": 0, "insert": EMOJI}]
    assert selectors.document_text(Document.objects.get(pk=doc.pk)) == EMOJI + "hello"
