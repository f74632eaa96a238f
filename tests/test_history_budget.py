"""A document's history budget (COLLAB_HISTORY_MAX_BYTES): counted on the row, refused past it."""

import importlib

import pytest
from django.db import connection

from editor.domain import selectors, services
from editor.domain.errors import RateLimited
from editor.models import Document, Operation, Snapshot, op_bytes


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
    with pytest.raises(RateLimited, match="history is full") as refused:
        commit(doc, ada, 2, 2, op)
    assert refused.value.as_message()["retry_after"] == 60_000  # kept by the client, sent again
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
    assert [type(r).__name__ for r in results] == ["Committed", "RateLimited", "Committed"]
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


# --- compaction ---------------------------------------------------------------------------


def edited(doc, ada):
    """Ada's document through revisions 2 to 5: "hello" grows, shrinks, and grows again."""
    commit(doc, ada, 1, 1, [{"pos": 5, "insert": " world" + "😀" * 100}])
    commit(doc, ada, 2, 2, [{"pos": 11, "delete": 100}])
    commit(doc, ada, 3, 3, [{"pos": 0, "insert": "Oh, "}])
    commit(doc, ada, 4, 4, [{"pos": 15, "insert": "!"}])
    return ["", "hello", "hello world" + "😀" * 100, "hello world", "Oh, hello world", "Oh, hello world!"]


def test_compaction_frees_the_budget_and_keeps_the_text_from_its_revision_on(doc, ada, settings, client):
    from editor.domain import history
    from editor.domain.errors import HistoryFolded

    texts = edited(doc, ada)
    settings.COLLAB_HISTORY_MAX_BYTES = counted(doc)
    with pytest.raises(RateLimited, match="history is full"):
        commit(doc, ada, 5, 5, [{"pos": 0, "insert": "x"}])
    before = counted(doc)
    done = history.history_compact(document_id=doc.pk, through=4)
    assert (done.start, done.revisions) == (4, 4) and done.freed_bytes > 400
    assert counted(doc) == before - done.freed_bytes == stored(doc)
    commit(doc, ada, 5, 5, [{"pos": 0, "insert": "x"}])  # room again
    for revision in (4, 5):
        assert history.text_at(document_id=doc.pk, revision=revision)[0] == texts[revision]
        assert selectors.document_at_revision(document_id=doc.pk, revision=revision) == texts[revision]
    assert history.authors_at(document_id=doc.pk, revision=5) == ("Oh, hello world!", [[ada.pk, 16]])
    for revision in (0, 2, 3):
        with pytest.raises(HistoryFolded):
            history.text_at(document_id=doc.pk, revision=revision)
    assert selectors.document_snapshot(document_id=doc.pk) == (6, "x" + texts[5])
    # The timeline keeps who made each revision; the pages refuse what is gone.
    assert [row.revision for row in history.timeline(document_id=doc.pk, head=6, page=1)] == [6, 5, 4, 3, 2, 1]
    client.force_login(ada)
    assert client.get(f"/documents/{doc.pk}/history/4/").status_code == 404
    assert client.get(f"/documents/{doc.pk}/history/5/").status_code == 200
    assert client.post(f"/documents/{doc.pk}/history/2/restore/", {"client": "restore-1"}).status_code == 302
    assert selectors.document_snapshot(document_id=doc.pk) == (6, "x" + texts[5])  # nothing restored
    client.post(f"/documents/{doc.pk}/history/4/restore/", {"client": "restore-2"})
    assert selectors.document_snapshot(document_id=doc.pk) == (7, texts[4])


def test_after_compaction_a_resent_op_is_still_recognised_and_an_old_base_is_refused(doc, ada):
    from editor.domain import history
    from editor.domain.errors import HistoryFolded

    edited(doc, ada)
    history.history_compact(document_id=doc.pk, through=5)
    again = commit(doc, ada, 2, 2, [{"pos": 11, "delete": 100}])
    assert again.duplicate and again.revision == 3  # never applied twice
    with pytest.raises(HistoryFolded):
        commit(doc, ada, 9, 3, [{"pos": 0, "insert": "late"}], client="other")
    with pytest.raises(HistoryFolded):
        selectors.operations_since(document_id=doc.pk, since=3)
    assert [r.rev for r in selectors.operations_since(document_id=doc.pk, since=5)] == []
    commit(doc, ada, 1, 5, [{"pos": 0, "insert": "ok "}], client="other")
    assert selectors.document_snapshot(document_id=doc.pk) == (6, "ok Oh, hello world!")


def test_the_command_compacts_through_the_head_by_default(doc, ada):
    from io import StringIO

    from django.core.management import call_command

    edited(doc, ada)
    out = StringIO()
    call_command("compacthistory", "--", doc.pk, stdout=out)
    assert "history starts at revision 5; 5 revisions folded" in out.getvalue()
    document = Document.objects.get(pk=doc.pk)
    assert document.history_start == 5 and document.history_bytes == stored(doc) == 5 * op_bytes([])
    call_command("compacthistory", "--through", "3", "--", doc.pk, stdout=out)  # already folded: nothing to do
    assert "0 revisions folded" in out.getvalue()


async def test_a_join_from_a_folded_revision_gets_the_text_as_a_snapshot(server, doc, ada):
    """Even with pending edits: the revisions after it are no longer kept to send."""
    from asgiref.sync import sync_to_async

    from editor.domain import history

    from .conftest import session_headers
    from .wire import Wire

    texts = await sync_to_async(edited)(doc, ada)
    await sync_to_async(history.history_compact)(document_id=doc.pk, through=4)
    headers = await sync_to_async(session_headers)(ada, server)
    async with Wire(server.ws(doc.pk), headers) as wire:
        await wire.send({"type": "join", "client": "old", "since": 2, "pending": True})
        seen = await wire.recv_until("ready")
        assert [m["type"] for m in seen] == ["snapshot", "ready"]
        assert (seen[0]["rev"], seen[0]["content"]) == (5, texts[5])
        seen = await wire.join("fresh", since=4)  # from the compaction point on: revisions
        assert [(m["type"], m.get("rev")) for m in seen] == [("op", 5), ("ready", 5)]


def test_the_editor_page_says_when_the_history_is_full(client, doc, ada, bob, settings):
    from editor.models import Membership

    Membership.objects.create(document=doc, user=bob, role=Membership.Role.VIEWER)
    client.force_login(ada)
    assert 'id="history-full"' not in client.get(f"/documents/{doc.pk}/").content.decode()
    settings.COLLAB_HISTORY_MAX_BYTES = counted(doc)
    assert "history is full" in client.get(f"/documents/{doc.pk}/").content.decode()
    client.force_login(bob)  # a viewer cannot type anyway
    assert 'id="history-full"' not in client.get(f"/documents/{doc.pk}/").content.decode()


def test_new_ids_never_begin_with_a_dash_and_older_ones_still_work(ada, monkeypatch):
    """A command line reads ``-Xy...`` as an option: new ids skip it; the commands take one after ``--``."""
    from io import StringIO

    from django.core.management import call_command

    import editor.models

    drawn = iter(["-first", "-second", "third"])
    monkeypatch.setattr(editor.models.secrets, "token_urlsafe", lambda n: next(drawn))
    assert editor.models.new_document_id() == "third"
    monkeypatch.undo()

    old = Document.objects.create(id="-made-before-the-rule", title="Old", owner=ada)
    Snapshot.objects.create(document=old, revision=0, content="")  # as document_create leaves one
    commit(old, ada, 1, 0, [{"pos": 0, "insert": "hi"}])
    held = counted(old)
    assert held > 0
    out = StringIO()
    call_command("buildcheckpoints", "--", old.pk, stdout=out)
    call_command("compacthistory", "--", old.pk, stdout=out)
    assert out.getvalue().splitlines() == [
        "-made-before-the-rule: revision 1, 1 revisions replayed",
        f"-made-before-the-rule: history starts at revision 1; 1 revisions folded, {held - op_bytes([])} bytes freed",
    ]
