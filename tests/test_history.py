"""History for the people who may read a document: timeline, revisions, restore."""

from editor.domain import history, selectors, services
from editor.models import Checkpoint, Document, Membership, Operation


def typed(document, user, texts, *, client="typing"):
    """Commit each of ``texts`` at the end of the document, one revision each."""
    for seq, text in enumerate(texts, 1):
        head, current = selectors.document_snapshot(document_id=document.pk)
        services.operation_commit(
            document_id=document.pk,
            user=user,
            client=client,
            seq=seq,
            base=head,
            ops=[{"pos": len(current), "insert": text}],
        )


def many_revisions(document, user, count: int) -> None:
    """``count`` one-character revisions "0", "1", ... stored directly, as a long history would be."""
    start = document.revision
    Operation.objects.bulk_create(
        [
            Operation(
                document=document,
                revision=start + n,
                user=user,
                client="bulk",
                seq=n,
                ops=[{"pos": start + n - 1, "insert": str(n % 10)}],
            )
            for n in range(1, count + 1)
        ],
        batch_size=2000,
    )
    Document.objects.filter(pk=document.pk).update(revision=start + count, length=start + count)


def test_text_at_any_revision_replays_at_most_one_checkpoint_interval(ada, settings):
    """The first read stores checkpoints on its way; later reads replay fewer than COLLAB_CHECKPOINT_EVERY."""
    settings.COLLAB_CHECKPOINT_EVERY = 100
    document = services.document_create(title="Long", owner=ada)
    many_revisions(document, ada, 1000)
    text, replayed = history.text_at(document_id=document.pk, revision=1000)
    assert text == "".join(str(n % 10) for n in range(1, 1001)) and replayed == 1000
    assert sorted(Checkpoint.objects.values_list("revision", flat=True)) == list(range(100, 1001, 100))
    for revision in (1, 99, 100, 101, 555, 999):
        text, replayed = history.text_at(document_id=document.pk, revision=revision)
        assert text == "".join(str(n % 10) for n in range(1, revision + 1))
        assert replayed < 100
    # The admin's and the restore's reads of past text go through the checkpoints too.
    assert selectors.document_at_revision(document_id=document.pk, revision=555).endswith("345")


def test_the_timeline_pages_newest_first_with_who_and_how_much(client, ada, bob):
    """Each row: revision, author, inserted and deleted code points; paged by 50."""
    document = services.document_create(title="T", owner=ada, content="héllo")
    Membership.objects.create(document=document, user=bob, role=Membership.Role.VIEWER)
    many_revisions(document, ada, 60)
    services.operation_commit(
        document_id=document.pk, user=ada, client="d", seq=1, base=61, ops=[{"pos": 0, "delete": 2}]
    )
    client.force_login(bob)  # a viewer may read the history
    first = client.get(f"/documents/{document.pk}/history/")
    rows = first.context["rows"]
    assert [r.revision for r in rows] == list(range(62, 12, -1))
    assert (rows[0].user, rows[0].inserted, rows[0].deleted) == ("ada", 0, 2)
    assert (rows[1].inserted, rows[1].deleted) == (1, 0)
    second = client.get(f"/documents/{document.pk}/history/", {"page": 2}).context["rows"]
    assert [r.revision for r in second] == list(range(12, 0, -1))
    assert second[-1].inserted == 5  # the initial text
    assert client.get(f"/documents/{document.pk}/history/", {"page": "x"}).context["page"] == 1
    response = client.get(f"/documents/{document.pk}/history/", {"rev": "30"})
    assert response.status_code == 302 and response["Location"].endswith("/history/30/")


def test_a_revision_shows_its_text_with_the_change_marked(client, ada):
    """Inserted text in <ins>, deleted text in <del>, the rest as it was; escaped."""
    document = services.document_create(title="T", owner=ada, content="one <b>two</b> three")
    services.operation_commit(
        document_id=document.pk,
        user=ada,
        client="c",
        seq=1,
        base=1,
        ops=[{"pos": 4, "delete": 10}, {"pos": 4, "insert": "2 & 2"}],
    )
    client.force_login(ada)
    page = client.get(f"/documents/{document.pk}/history/2/").content.decode()
    assert "one <ins>2 &amp; 2</ins><del>&lt;b&gt;two&lt;/b&gt;</del> three" in page
    assert 'id="restore"' not in page  # the latest revision is the text already
    assert ">ada</span> <button>Sign out" in page  # the reader, not the author, is signed in
    assert client.get(f"/documents/{document.pk}/history/3/").status_code == 404
    assert client.get(f"/documents/{document.pk}/history/0/").status_code == 404


def test_changed_line_breaks_are_marked():
    """A deleted or inserted line break shows as ↵, so it is not mistaken for an empty line."""
    segments = history.change_segments("a\nb", [{"pos": 1, "delete": 1}, {"pos": 2, "insert": "\n"}])
    assert [(s.kind, s.shown) for s in segments] == [("same", "a"), ("del", "↵"), ("same", "b"), ("ins", "↵\n")]


def test_long_unchanged_stretches_are_folded():
    """Only the context around a change is shown of a long text."""
    before = "a" * 10_000 + "b" * 10_000
    segments = history.change_segments(before, [{"pos": 10_000, "insert": "X"}], context=100)
    kinds = [(s.kind, s.size) for s in segments]
    assert kinds == [("fold", 9_900), ("same", 100), ("ins", 1), ("same", 100), ("fold", 9_900)]


def test_history_needs_access_and_a_session(client, ada, bob):
    """Without a session: the sign-in page; without access: 404, as the editor page."""
    document = services.document_create(title="T", owner=ada, content="secret")
    for path in (f"/documents/{document.pk}/history/", f"/documents/{document.pk}/history/1/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(bob)
    for path in (
        f"/documents/{document.pk}/history/",
        f"/documents/{document.pk}/history/1/",
        "/documents/nope/history/",
    ):
        assert client.get(path).status_code == 404
    assert client.post(f"/documents/{document.pk}/history/1/restore/").status_code == 404


def test_restore_adds_a_revision_and_keeps_the_history(client, ada, bob):
    """An editor restores: the text is the old one, as a new revision by them; viewers cannot."""
    document = services.document_create(title="T", owner=ada, content="first")
    typed(document, ada, [" second", " third"])
    Membership.objects.create(document=document, user=bob, role=Membership.Role.VIEWER)
    client.force_login(bob)
    page = client.get(f"/documents/{document.pk}/history/1/").content.decode()
    assert 'id="restore"' not in page
    assert client.post(f"/documents/{document.pk}/history/1/restore/", {"client": "restore-x"}).status_code == 404
    assert selectors.document_snapshot(document_id=document.pk) == (3, "first second third")

    Membership.objects.filter(user=bob).update(role=Membership.Role.EDITOR)
    page = client.get(f"/documents/{document.pk}/history/1/")
    restore_client = page.context["restore_client"]
    response = client.post(f"/documents/{document.pk}/history/1/restore/", {"client": restore_client}, follow=True)
    assert "Restored the text of revision 1 as revision 4" in response.content.decode()
    response = client.post(f"/documents/{document.pk}/history/1/restore/", {"client": restore_client}, follow=True)
    assert "already is the text of revision 1" in response.content.decode()  # sent twice: restored once
    assert selectors.document_snapshot(document_id=document.pk) == (4, "first")
    last = Operation.objects.get(document=document, revision=4)
    assert last.user == bob and Operation.objects.filter(document=document).count() == 4


def test_authorship_colours_the_current_text_by_who_wrote_it(client, ada, bob, settings):
    """Each part is marked with its author, through checkpoints, deletions and edits inside others' text."""
    settings.COLLAB_CHECKPOINT_EVERY = 2
    document = services.document_create(title="T", owner=ada, content="hello world")
    Membership.objects.create(document=document, user=bob, role=Membership.Role.EDITOR)
    for seq, (user, op) in enumerate(
        [
            (bob, [{"pos": 5, "insert": ", dear"}]),  # hello, dear world
            (ada, [{"pos": 0, "delete": 1}, {"pos": 0, "insert": "H"}]),
            (bob, [{"pos": 17, "insert": "!"}]),
        ],
        1,
    ):
        services.operation_commit(
            document_id=document.pk, user=user, client="c", seq=seq, base=document.revision + seq - 1, ops=op
        )
    text, runs = history.authors_at(document_id=document.pk, revision=4)
    assert text == "Hello, dear world!"
    assert runs == [[ada.pk, 5], [bob.pk, 6], [ada.pk, 6], [bob.pk, 1]]
    assert Checkpoint.objects.filter(document=document, revision=2).values_list("authors", flat=True).get() == [
        [ada.pk, 5],
        [bob.pk, 6],
        [ada.pk, 6],
    ]
    client.force_login(bob)
    page = client.get(f"/documents/{document.pk}/authors/").content.decode()
    assert 'title="ada" data-author="ada">Hello</span>' in page
    assert 'title="bob" data-author="bob">, dear</span>' in page
    assert 'ada</span> <span class="quiet">11 characters' in page
    hostile = type(ada).objects.create_user('<b>"x"</b>', password="x")
    Membership.objects.create(document=document, user=hostile, role=Membership.Role.EDITOR)
    services.operation_commit(
        document_id=document.pk, user=hostile, client="h", seq=1, base=4, ops=[{"pos": 0, "insert": "<i>"}]
    )
    page = client.get(f"/documents/{document.pk}/authors/").content.decode()
    assert (
        'title="&lt;b&gt;&quot;x&quot;&lt;/b&gt;" data-author="&lt;b&gt;&quot;x&quot;&lt;/b&gt;">&lt;i&gt;</span>'
        in page
    )
    client.force_login(type(ada).objects.create_user("eve", password="x"))
    assert client.get(f"/documents/{document.pk}/authors/").status_code == 404


def test_checkpoints_can_be_stored_ahead_of_time(ada, settings):
    """``manage.py buildcheckpoints`` stores them; a read afterwards replays little."""
    import io

    from django.core.management import call_command

    settings.COLLAB_CHECKPOINT_EVERY = 100
    document = services.document_create(title="Long", owner=ada)
    many_revisions(document, ada, 450)
    call_command("buildcheckpoints", "--", document.pk, stdout=io.StringIO())
    assert sorted(Checkpoint.objects.values_list("revision", flat=True)) == [100, 200, 300, 400]
    assert history.text_at(document_id=document.pk, revision=399)[1] == 99
