"""The admin: lists, search and filters, text saved through the commit path, history, restore.

Tests marked as live drive the admin with Django's test client while a real WebSocket
client types on a daphne. The admin announces revisions on this process's channel
layer, so the server must share it: with Redis configured that is the session's
server; otherwise a daphne on Redis is started for them (they skip without Redis,
and fail under CI=true).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.utils import quote
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from editor.admin import DocumentAdmin
from editor.client import CollabClient
from editor.domain import selectors, services
from editor.models import Connection, Document, Membership, Operation, Snapshot
from editor.realtime import presence

from .conftest import Daphne, free_port, redis_url, session_headers

# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def root(transactional_db, django_user_model):
    """A superuser."""
    return django_user_model.objects.create_superuser("root", "root@example.com", "secret-pw-1")


@pytest.fixture
def browser(root):
    """Django's test client, signed in as the superuser."""
    client = Client()
    client.force_login(root)
    return client


def layer_is_shared() -> bool:
    """Whether this process's channel layer reaches other processes (Redis)."""
    return "redis" in str(django_settings.CHANNEL_LAYERS["default"]["BACKEND"]).lower()


@pytest.fixture(scope="module")
def redis_daphne(django_db_setup, django_db_blocker):
    """A daphne on Redis for runs whose own channel layer is in-memory; else None."""
    url = None if layer_is_shared() else redis_url()
    if url is None:
        yield None
        return
    prefix = f"admin-{os.getpid()}-{free_port()}"
    server = Daphne(REDIS_URL=url, COLLAB_REDIS_PREFIX=prefix).start()
    server.layer = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [url], "prefix": prefix, "capacity": 1000},
    }
    yield server
    server.stop()


@pytest.fixture
def socket_server(request, transactional_db, settings, redis_daphne):
    """A daphne whose sockets hear the revisions this process announces."""
    if layer_is_shared():
        return request.getfixturevalue("server")
    if redis_daphne is None:
        pytest.skip("an announcement from this process reaches a server process only through Redis")
    settings.CHANNEL_LAYERS = {"default": redis_daphne.layer}
    return redis_daphne


async def in_thread(function, *args, **kwargs):
    """Run blocking code (a test-client request) off the event loop, as a browser would."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


def change_url(document: Document) -> str:
    return reverse("admin:editor_document_change", args=[quote(document.pk)])


def revisions_url(document: Document) -> str:
    return reverse("admin:editor_document_revisions", args=[quote(document.pk)])


def restore_url(document: Document) -> str:
    return reverse("admin:editor_document_restore", args=[quote(document.pk)])


def form_data(response) -> dict:
    """What a browser posts back from a change form it leaves as it is."""
    form = response.context["adminform"].form
    data = {form.add_prefix(name): form[name].value() for name in form.fields}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        existing = formset.initial_forms
        prefix = formset.prefix
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": len(existing),
                f"{prefix}-INITIAL_FORMS": len(existing),
                f"{prefix}-MIN_NUM_FORMS": 0,
                f"{prefix}-MAX_NUM_FORMS": 1000,
            }
        )
        for sub in existing:
            data.update({sub.add_prefix(name): sub[name].value() for name in sub.fields})
    return {key: value for key, value in data.items() if value is not None}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def history(document: Document) -> list[tuple]:
    return list(
        Operation.objects.filter(document=document)
        .order_by("revision")
        .values_list("revision", "user_id", "client", "seq", "ops")
    )


# --- live: the admin and a typing editor ------------------------------------------------


async def test_an_admin_edit_reaches_a_connected_editor_live(socket_server, browser, root, ada):
    """The editor's text changes while it stays connected, by one op from the admin."""
    doc = services.document_create(title="Notes", owner=ada, content="Hello world\n")
    editor = CollabClient(socket_server.ws(doc.pk), headers=session_headers(ada, socket_server), reconnect=False)
    await editor.connect()
    try:
        page = await in_thread(browser.get, change_url(doc))
        data = form_data(page) | {"text": "Hello brave new world\n"}
        response = await in_thread(browser.post, change_url(doc), data)
        assert response.status_code == 302
        await editor.wait_for_rev(2)
        assert editor.text == "Hello brave new world\n"
        assert editor.revisions == [2] and editor.closed_code is None
        op = Operation.objects.get(document=doc, revision=2)
        assert op.user == root and op.client.startswith("admin-") and op.seq == 1
        assert op.ops == [{"pos": 6, "insert": "brave new "}]
    finally:
        await editor.close()


async def test_typing_against_an_older_revision_than_the_admin_form_survives_the_save(socket_server, browser, ada):
    """An edit based before the form's revision, committed before the save, is kept in place."""
    doc = services.document_create(title="Fox", owner=ada, content="The quick fox\n")
    editor = CollabClient(socket_server.ws(doc.pk), headers=session_headers(ada, socket_server), reconnect=False)
    await editor.connect()
    try:
        # A revision the editor has not heard of yet (committed without an announcement).
        services.operation_commit(
            document_id=doc.pk,
            user=ada,
            client="other-tab",
            seq=1,
            base=1,
            ops=[{"pos": 14, "insert": "jumps\n"}],
        )
        page = await in_thread(browser.get, change_url(doc))
        data = form_data(page)
        assert (data["base_revision"], data["text"]) == (2, "The quick fox\njumps\n")
        assert editor.rev == 1
        editor.insert(10, "brown ")  # made against revision 1, older than the form's 2
        await editor.wait_synced()
        assert editor.rev == 3
        data["text"] = "The slow fox\njumps high\n"
        response = await in_thread(browser.post, change_url(doc), data, follow=True)
        assert any("merged with 1 edit made since" in m for m in messages_of(response))
        await editor.wait_for_rev(4)
        doc.refresh_from_db()
        assert editor.text == selectors.document_text(doc) == "The slow brown fox\njumps high\n"
        assert editor.closed_code is None
    finally:
        await editor.close()


async def test_an_editor_typing_while_the_admin_saves_loses_nothing(socket_server, browser, ada):
    """Keystrokes sent during the save all land, and so does the admin's change."""
    doc = services.document_create(title="Log", owner=ada, content="title\n\nbody\n")
    editor = CollabClient(socket_server.ws(doc.pk), headers=session_headers(ada, socket_server), reconnect=False)
    await editor.connect()
    try:
        page = await in_thread(browser.get, change_url(doc))
        data = form_data(page) | {"text": "TITLE\n\nbody\n"}

        async def type_along():
            for ch in "0123456789":
                editor.insert(len(editor.text), ch)
                await asyncio.sleep(0.02)

        response, _ = await asyncio.gather(in_thread(browser.post, change_url(doc), data), type_along())
        assert response.status_code == 302
        await editor.wait_synced()
        doc.refresh_from_db()
        await editor.wait_for_rev(doc.revision)
        assert editor.text == selectors.document_text(doc) == "TITLE\n\nbody\n0123456789"
        assert Operation.objects.filter(document=doc, client__startswith="admin-").count() == 1
    finally:
        await editor.close()


async def test_restoring_a_revision_brings_back_its_text_as_a_new_revision(socket_server, browser, ada):
    """The old text returns live, one revision is added, and the history before it is unchanged."""
    doc = services.document_create(title="Draft", owner=ada, content="first draft\n")
    editor = CollabClient(socket_server.ws(doc.pk), headers=session_headers(ada, socket_server), reconnect=False)
    await editor.connect()
    try:
        editor.insert(0, "My ")
        editor.delete(3, 6)
        editor.insert(len(editor.text), "more text\n")
        await editor.wait_synced()
        doc.refresh_from_db()
        before, head, text = history(doc), doc.revision, selectors.document_text(doc)
        assert text != "first draft\n" and head > 1

        preview = await in_thread(browser.get, restore_url(doc), {"revision": 1})
        assert preview.context["preview"] == "first draft\n"
        client_id = preview.context["form"]["client"].value()
        response = await in_thread(browser.post, restore_url(doc), {"revision": 1, "client": client_id})
        assert response.status_code == 302 and response["Location"] == change_url(doc)

        await editor.wait_for_rev(head + 1)
        doc.refresh_from_db()
        assert editor.text == selectors.document_text(doc) == "first draft\n"
        assert doc.revision == head + 1
        assert history(doc)[:head] == before
        assert selectors.document_at_revision(document_id=doc.pk, revision=head) == text
        assert editor.closed_code is None
    finally:
        await editor.close()


# --- the change list --------------------------------------------------------------------


def test_the_list_shows_revision_size_last_edit_and_people_connected_now(browser, ada, make_user):
    """Size counts code points; connected counts people, not tabs, and ignores stale rows."""
    bob = make_user("bob")
    busy = services.document_create(title="Busy", owner=ada, content="héllo 😀")
    quiet = services.document_create(title="Quiet", owner=ada, content="")
    presence.connection_opened(document_id=busy.pk, channel_name="c1", user_id=ada.pk, client="a1")
    presence.connection_opened(document_id=busy.pk, channel_name="c2", user_id=ada.pk, client="a2")
    presence.connection_opened(document_id=busy.pk, channel_name="c3", user_id=bob.pk, client="b1")
    presence.connection_opened(document_id=quiet.pk, channel_name="c4", user_id=bob.pk, client="b2")
    Connection.objects.filter(channel_name="c4").update(seen=timezone.now() - timedelta(hours=1))

    response = browser.get(reverse("admin:editor_document_changelist"))
    assert response.status_code == 200
    rows = {d.title: d for d in response.context["cl"].result_list}
    assert (rows["Busy"].revision, rows["Busy"].size, rows["Busy"].people) == (1, 7, 2)
    assert (rows["Quiet"].revision, rows["Quiet"].size, rows["Quiet"].people) == (0, 0, 0)
    html = response.content.decode()
    for header in (
        "Title",
        "Owner",
        "Revision",
        "Size (code points)",
        "Last edit",
        "Connected now",
    ):
        assert header in html


def test_the_list_costs_the_same_queries_for_two_documents_as_for_twenty(browser, ada):
    """No query per row: annotations carry size and people, and the owner is joined."""
    url = reverse("admin:editor_document_changelist")

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(url).status_code == 200
        return len(captured.captured_queries)

    for i in range(2):
        services.document_create(title=f"Doc {i}", owner=ada, content="x" * i)
    few = queries_for_list()
    for i in range(2, 20):
        doc = services.document_create(title=f"Doc {i}", owner=ada, content="x" * i)
        presence.connection_opened(document_id=doc.pk, channel_name=f"ch{i}", user_id=ada.pk, client="t")
    assert queries_for_list() == few


def test_search_finds_documents_by_title_and_by_owner_username(browser, ada, make_user):
    """One search box covers titles and owners' usernames."""
    bob = make_user("bob")
    services.document_create(title="Minutes", owner=ada)
    services.document_create(title="Budget", owner=bob)
    services.document_create(title="Bob's ideas", owner=ada)
    url = reverse("admin:editor_document_changelist")

    def titles(query):
        return sorted(d.title for d in browser.get(url, {"q": query}).context["cl"].result_list)

    assert titles("minut") == ["Minutes"]
    assert titles("bob") == ["Bob's ideas", "Budget"]
    assert titles("ada") == ["Bob's ideas", "Minutes"]


def test_filters_narrow_the_list_by_owner_and_by_last_edit(browser, ada, make_user):
    """The owner filter offers owners only; the date filter uses the last edit."""
    bob = make_user("bob")
    make_user("carol")  # owns nothing, so is not offered
    old = services.document_create(title="Old", owner=ada)
    services.document_create(title="New", owner=ada)
    services.document_create(title="Bob's", owner=bob)
    Document.objects.filter(pk=old.pk).update(updated=timezone.now() - timedelta(days=30))
    url = reverse("admin:editor_document_changelist")

    response = browser.get(url)
    owner_filter = next(f for f in response.context["cl"].filter_specs if f.title == "owner")
    assert sorted(name for _, name in owner_filter.lookup_choices) == ["ada", "bob"]

    by_owner = browser.get(url, {"owner__id__exact": bob.pk}).context["cl"].result_list
    assert [d.title for d in by_owner] == ["Bob's"]
    changelist = response.context["cl"]
    date_filter = next(f for f in changelist.filter_specs if f.title == "updated")
    week = next(c for c in date_filter.choices(changelist) if c["display"] == "Past 7 days")
    recent = browser.get(url + week["query_string"]).context["cl"].result_list
    assert sorted(d.title for d in recent) == ["Bob's", "New"]


def test_escaping_keeps_markup_in_titles_usernames_and_text_inert(browser, make_user):
    """User data is shown as text on every admin page, never as HTML."""
    owner = make_user("<b>mallory</b>")
    title = "<script>alert('title')</script>"
    doc = services.document_create(title=title, owner=owner, content="</textarea><script>alert(1)</script>")
    Membership.objects.create(document=doc, user=make_user("<i>eve</i>"), role="viewer")
    pages = [
        reverse("admin:editor_document_changelist"),
        change_url(doc),
        revisions_url(doc),
        restore_url(doc) + "?revision=1",
        reverse("admin:editor_membership_changelist"),
    ]
    for url in pages:
        html = browser.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<b>mallory" not in html and "<i>eve" not in html, url
        assert "&lt;script&gt;alert(" in html, url


# --- saving text only through the commit path ----------------------------------------------


def test_the_change_page_shows_the_revision_and_the_text_in_a_text_area(browser, ada):
    """The form carries the text, and the revision it was read at in a hidden field."""
    doc = services.document_create(title="T", owner=ada, content="line one\nline two\n")
    response = browser.get(change_url(doc))
    form = response.context["adminform"].form
    assert form["text"].value() == "line one\nline two\n"
    assert form["base_revision"].value() == 1
    html = response.content.decode()
    assert "<textarea" in html and "line one\nline two" in html
    assert 'type="hidden" name="base_revision" value="1"' in html
    assert "content" not in form.fields and "revision" not in form.fields


def test_staff_who_may_only_view_see_the_text_without_a_form(ada, make_user):
    """View permission shows the text read-only, escaped, with no text area to save."""
    from django.contrib.auth.models import Permission

    viewer = make_user("auditor")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_document"))
    doc = services.document_create(title="T", owner=ada, content="<b>kept</b> as is")
    client = Client()
    client.force_login(viewer)
    response = client.get(change_url(doc))
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;b&gt;kept&lt;/b&gt; as is" in html and "<textarea" not in html
    assert client.get(restore_url(doc)).status_code == 403
    assert client.get(revisions_url(doc)).status_code == 200


def test_the_admin_form_never_writes_content_or_revision_to_the_instance(root, ada, rf):
    """The model form assigns title and owner only; the text is a separate form field."""
    from django.contrib import admin

    doc = services.document_create(title="T", owner=ada, content="kept")
    request = rf.get("/")
    request.user = root
    form_class = DocumentAdmin(Document, admin.site).get_form(request, doc)
    data = {
        "title": "T2",
        "owner": ada.pk,
        "text": "changed",
        "base_revision": 1,
        "client": "admin-t",
        "content": "overwritten",
        "revision": 7,
    }
    form = form_class(data, instance=doc)
    assert form.is_valid(), form.errors
    instance = form.save(commit=False)
    assert (instance.title, selectors.document_text(instance), instance.revision) == ("T2", "kept", 1)


def test_saving_changed_text_commits_one_minimal_op_through_the_commit_path(browser, root, ada):
    """Operation count goes up by one; the op holds only what changed, by the admin."""
    doc = services.document_create(title="T", owner=ada, content="alpha beta gamma\n" * 50)
    ops_before = Operation.objects.count()
    data = form_data(browser.get(change_url(doc)))
    data["text"] = data["text"].replace("beta", "BETA", 1)
    response = browser.post(change_url(doc), data, follow=True)
    assert response.status_code == 200
    assert "The text was saved as revision 2." in messages_of(response)
    assert Operation.objects.count() == ops_before + 1
    op = Operation.objects.get(document=doc, revision=2)
    assert op.ops == [{"pos": 6, "delete": 4}, {"pos": 6, "insert": "BETA"}]
    assert (op.user, op.seq) == (root, 1) and op.client.startswith("admin-")
    doc.refresh_from_db()
    assert doc.revision == 2 and selectors.document_text(doc) == ("alpha BETA gamma\n" + "alpha beta gamma\n" * 49)


def test_posted_content_and_revision_fields_are_ignored(browser, ada):
    """Fields named after the model's text and revision cannot write them."""
    doc = services.document_create(title="T", owner=ada, content="kept")
    data = form_data(browser.get(change_url(doc))) | {"content": "overwritten", "revision": 99}
    assert browser.post(change_url(doc), data).status_code == 302
    doc.refresh_from_db()
    assert (selectors.document_text(doc), doc.revision) == ("kept", 1)
    assert Operation.objects.filter(document=doc).count() == 1


def test_saving_the_title_keeps_text_committed_after_the_page_was_loaded(browser, ada):
    """Title and owner are saved alone: the text and revision as read are never written back."""
    doc = services.document_create(title="Old title", owner=ada, content="abc")
    data = form_data(browser.get(change_url(doc))) | {"title": "New title"}
    services.operation_commit(
        document_id=doc.pk, user=ada, client="tab", seq=1, base=1, ops=[{"pos": 3, "insert": "d"}]
    )
    assert browser.post(change_url(doc), data).status_code == 302
    doc.refresh_from_db()
    assert (doc.title, selectors.document_text(doc), doc.revision) == ("New title", "abcd", 2)


def test_a_form_loaded_before_other_edits_is_merged_with_them(browser, ada):
    """The admin's op is based on the form's revision and rebased by the commit path."""
    doc = services.document_create(title="T", owner=ada, content="one two three")
    data = form_data(browser.get(change_url(doc))) | {"text": "one 2 three"}
    services.operation_commit(
        document_id=doc.pk,
        user=ada,
        client="tab",
        seq=1,
        base=1,
        ops=[{"pos": 13, "insert": " four"}],
    )
    services.operation_commit(
        document_id=doc.pk,
        user=ada,
        client="tab",
        seq=2,
        base=2,
        ops=[{"pos": 0, "insert": "zero "}],
    )
    response = browser.post(change_url(doc), data, follow=True)
    assert any("merged with 2 edits" in m for m in messages_of(response))
    doc.refresh_from_db()
    assert (selectors.document_text(doc), doc.revision) == ("zero one 2 three four", 4)


def test_submitting_the_same_form_twice_saves_it_once(browser, ada):
    """The form's client id and seq 1 make a resubmission a duplicate, not a second edit."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    data = form_data(browser.get(change_url(doc))) | {"text": "abXc"}
    browser.post(change_url(doc), data)
    response = browser.post(change_url(doc), data, follow=True)
    assert any("already saved as revision 2" in m for m in messages_of(response))
    doc.refresh_from_db()
    assert (selectors.document_text(doc), doc.revision) == ("abXc", 2)


def test_browser_line_breaks_do_not_rewrite_every_line(browser, ada):
    """A text area submits CRLF; only the line actually changed becomes part of the op."""
    doc = services.document_create(title="T", owner=ada, content="a\nb\nc\n")
    data = form_data(browser.get(change_url(doc))) | {"text": "a\r\nB\r\nc\r\n"}
    browser.post(change_url(doc), data)
    assert Operation.objects.get(document=doc, revision=2).ops == [
        {"pos": 2, "delete": 1},
        {"pos": 2, "insert": "B"},
    ]


def test_text_the_editor_refuses_is_refused_by_the_form(browser, ada, settings):
    """NUL characters and texts over the size limit are form errors; nothing is committed."""
    settings.COLLAB_MAX_DOCUMENT_CHARS = 10
    doc = services.document_create(title="T", owner=ada, content="abc")
    data = form_data(browser.get(change_url(doc)))
    for text in ("a\x00b", "x" * 11):
        response = browser.post(change_url(doc), data | {"text": text})
        assert response.status_code == 200 and response.context["adminform"].form.errors["text"]
    assert Operation.objects.filter(document=doc).count() == 1


def test_a_form_with_a_client_id_the_protocol_refuses_is_not_saved(browser, ada):
    """The hidden client id must be a whole protocol client id, not merely contain one."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    data = form_data(browser.get(change_url(doc))) | {"text": "abcd"}
    for client in ("admin x", "admin-" + "x" * 64, ""):
        response = browser.post(change_url(doc), data | {"client": client})
        assert response.status_code == 200 and response.context["adminform"].form.errors
    assert Operation.objects.filter(document=doc).count() == 1


def test_adding_a_document_commits_its_text_as_revision_one(browser, root, ada):
    """A new document starts empty at revision 0; its text is the first op."""
    page = browser.get(reverse("admin:editor_document_add"))
    data = form_data(page) | {"title": "Fresh", "owner": ada.pk, "text": "from the admin"}
    assert browser.post(reverse("admin:editor_document_add"), data).status_code == 302
    doc = Document.objects.get(title="Fresh")
    assert (doc.owner, doc.revision, selectors.document_text(doc)) == (ada, 1, "from the admin")
    assert history(doc) == [(1, root.pk, data["client"], 1, [{"pos": 0, "insert": "from the admin"}])]


# --- history -------------------------------------------------------------------------------


def test_the_history_of_a_document_with_100000_ops_renders_newest_first_in_a_few_queries(
    browser, root, django_assert_max_num_queries
):
    """Pages are range queries on the revision; the history is never counted."""
    total = 100_000
    doc = Document.objects.create(title="Long", owner=root)
    Operation.objects.bulk_create(
        (
            Operation(
                document=doc,
                revision=r,
                user=root,
                client="bulk",
                seq=r,
                ops=[{"pos": r - 1, "insert": str(r % 10)}],
            )
            for r in range(1, total + 1)
        ),
        batch_size=5_000,
    )
    Document.objects.filter(pk=doc.pk).update(revision=total, length=total)
    Snapshot.objects.update_or_create(
        document=doc, defaults={"revision": total, "content": "".join(str(r % 10) for r in range(1, total + 1))}
    )

    with django_assert_max_num_queries(6) as captured:
        response = browser.get(revisions_url(doc))
    assert response.status_code == 200
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
    rows = response.context["page"].object_list
    assert [r["revision"] for r in rows] == list(range(total, total - 100, -1))
    assert rows[0]["summary"] == '+"0" at 99999' and rows[0]["user"] == "root"
    assert response.context["page"].paginator.num_pages == 1_000

    with django_assert_max_num_queries(6):
        oldest = browser.get(revisions_url(doc), {"p": 1_000}).context["page"].object_list
    assert [r["revision"] for r in oldest] == list(range(100, 0, -1))
    jumped = browser.get(revisions_url(doc), {"rev": 12_345}).context["page"].object_list
    assert 12_345 in [r["revision"] for r in jumped]


def test_the_history_is_linked_from_the_change_page_and_describes_each_op(browser, ada):
    """Who, when, which client and what changed, for every revision, newest first."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    services.operation_commit(
        document_id=doc.pk, user=ada, client="tab-1", seq=1, base=1, ops=[{"pos": 1, "delete": 2}]
    )
    html = browser.get(change_url(doc)).content.decode()
    assert f'href="{revisions_url(doc)}"' in html and f'href="{restore_url(doc)}"' in html
    response = browser.get(revisions_url(doc))
    rows = response.context["page"].object_list
    assert [(r["revision"], r["user"], r["client"], r["summary"]) for r in rows] == [
        (2, "ada", "tab-1", "\u22122 at 1"),
        (1, "ada", "create", '+"abc" at 0'),
    ]
    page = response.content.decode()
    assert "\u22122 at 1" in page and "&quot;abc&quot; at 0" in page and '<form method="post"' not in page


# --- restore -------------------------------------------------------------------------------


def test_the_restore_action_opens_the_restore_page_of_the_one_selected_document(browser, ada):
    """The action asks for the revision on the document's restore page; two are refused."""
    one = services.document_create(title="One", owner=ada, content="1")
    two = services.document_create(title="Two", owner=ada, content="2")
    url = reverse("admin:editor_document_changelist")
    response = browser.post(url, {"action": "restore_to_revision", "_selected_action": [one.pk]})
    assert response.status_code == 302 and response["Location"] == restore_url(one)
    response = browser.post(url, {"action": "restore_to_revision", "_selected_action": [one.pk, two.pk]}, follow=True)
    assert "Choose exactly one document to restore." in messages_of(response)


def test_restore_refuses_a_revision_the_document_does_not_have(browser, ada):
    """Revisions run from 0 to the current one; anything else is a form error."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    response = browser.post(restore_url(doc), {"revision": 5, "client": "admin-x"})
    assert response.status_code == 200 and response.context["form"].errors["revision"]
    assert Document.objects.get(pk=doc.pk).revision == 1


def test_restoring_to_revision_zero_empties_the_text_with_a_new_op(browser, ada):
    """Revision 0 is the empty text; the way back to it is one more op."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    browser.post(restore_url(doc), {"revision": 0, "client": "admin-zero"})
    doc.refresh_from_db()
    assert (selectors.document_text(doc), doc.revision) == ("", 2)
    assert Operation.objects.get(document=doc, revision=2).ops == [{"pos": 0, "delete": 3}]


# --- sharing and deleting -----------------------------------------------------------------


def test_sharing_is_managed_on_the_document_page_and_in_its_own_list(browser, ada, make_user):
    """Memberships are added inline with a role, and listed, searched and filtered on their own."""
    bob = make_user("bob")
    doc = services.document_create(title="Plans", owner=ada)
    data = form_data(browser.get(change_url(doc)))
    data |= {
        "memberships-TOTAL_FORMS": 1,
        "memberships-0-user": bob.pk,
        "memberships-0-role": "viewer",
        "memberships-0-document": doc.pk,
    }
    assert browser.post(change_url(doc), data).status_code == 302
    assert Membership.objects.get(document=doc).role == "viewer"
    assert selectors.document_role(document_id=doc.pk, user=bob) == "viewer"

    url = reverse("admin:editor_membership_changelist")
    found = browser.get(url, {"q": "plans"}).context["cl"].result_list
    assert [(m.user, m.role) for m in found] == [(bob, "viewer")]
    assert list(browser.get(url, {"role__exact": "editor"}).context["cl"].result_list) == []


def test_deleting_a_document_summarises_its_history_instead_of_listing_it(browser, ada):
    """The confirmation counts ops from the revision and lists one line per document."""
    doc = services.document_create(title="Gone", owner=ada, content="a")
    for seq in range(1, 30):
        services.operation_commit(
            document_id=doc.pk,
            user=ada,
            client="t",
            seq=seq,
            base=seq,
            ops=[{"pos": 0, "insert": "x"}],
        )
    url = reverse("admin:editor_document_delete", args=[quote(doc.pk)])
    response = browser.get(url)
    assert response.context["deleted_objects"] == ["Document: Gone (30 revisions)"]
    assert dict(response.context["model_count"])["operations"] == 30
    assert browser.post(url, {"post": "yes"}).status_code == 302
    assert not Document.objects.filter(pk=doc.pk).exists()
    assert not Operation.objects.filter(document_id=doc.pk).exists()


# --- presence ------------------------------------------------------------------------------


def test_connections_are_counted_per_person_until_closed(ada, make_user):
    """Two tabs of one person count once; a closed connection stops counting."""
    bob = make_user("bob")
    doc = services.document_create(title="T", owner=ada)
    other = services.document_create(title="U", owner=ada)
    presence.connection_opened(document_id=doc.pk, channel_name="a1", user_id=ada.pk, client="x")
    presence.connection_opened(document_id=doc.pk, channel_name="a2", user_id=ada.pk, client="y")
    presence.connection_opened(document_id=doc.pk, channel_name="b1", user_id=bob.pk, client="z")
    assert presence.connected_counts([doc.pk, other.pk, "missing"]) == {
        doc.pk: 2,
        other.pk: 0,
        "missing": 0,
    }
    presence.connection_closed(channel_name="b1")
    presence.connection_closed(channel_name="never-opened")
    assert presence.connected_counts([doc.pk]) == {doc.pk: 1}


def test_a_rejoin_updates_the_connection_instead_of_adding_one(ada):
    """The channel name keys the row: joining again (even with a new client id) keeps one row."""
    doc = services.document_create(title="T", owner=ada)
    presence.connection_opened(document_id=doc.pk, channel_name="c", user_id=ada.pk, client="old")
    opened = Connection.objects.get(channel_name="c").opened
    presence.connection_opened(document_id=doc.pk, channel_name="c", user_id=ada.pk, client="new")
    row = Connection.objects.get(channel_name="c")
    assert (row.client, row.opened) == ("new", opened) and row.seen >= opened


def test_rows_left_by_a_crashed_process_are_ignored_and_then_pruned(ada):
    """A row not seen within the stale window does not count, and the next join deletes it."""
    doc = services.document_create(title="T", owner=ada)
    presence.connection_opened(document_id=doc.pk, channel_name="dead", user_id=ada.pk, client="x")
    presence.connection_opened(document_id=doc.pk, channel_name="alive", user_id=ada.pk, client="y")
    long_ago = timezone.now() - presence.STALE_AFTER - timedelta(seconds=1)
    Connection.objects.filter(channel_name="dead").update(seen=long_ago)
    assert presence.connected_counts([doc.pk]) == {doc.pk: 1}
    Connection.objects.filter(channel_name="alive").update(seen=long_ago)
    assert presence.connected_counts([doc.pk]) == {doc.pk: 0}
    presence.connections_seen(channel_names=["alive"])
    assert presence.connected_counts([doc.pk]) == {doc.pk: 1}
    presence.connection_opened(document_id=doc.pk, channel_name="new", user_id=ada.pk, client="z")
    assert set(Connection.objects.values_list("channel_name", flat=True)) == {"alive", "new"}


def test_open_connections_are_refreshed_in_one_update(ada, django_assert_num_queries):
    """The watcher refreshes the rows of all its joined sockets with one UPDATE per chunk."""
    doc = services.document_create(title="T", owner=ada)
    for name in ("a", "b", "gone"):
        presence.connection_opened(document_id=doc.pk, channel_name=name, user_id=ada.pk, client=name)
    long_ago = timezone.now() - timedelta(hours=1)
    Connection.objects.update(seen=long_ago)
    with django_assert_num_queries(1):
        assert presence.connections_seen(channel_names=["a", "b", "never-opened"]) == 2
    seen = dict(Connection.objects.values_list("channel_name", "seen"))
    assert seen["a"] > long_ago and seen["b"] > long_ago and seen["gone"] == long_ago
