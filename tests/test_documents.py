"""Managing documents from the app: download, upload, rename, delete, search and sort."""

from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from editor.domain import documents, selectors, services
from editor.domain.documents import title_from_filename
from editor.domain.errors import DocumentNotFound, ManageError, UploadError
from editor.models import Document, Membership, Operation
from editor.web.documents import content_disposition, filename_for


def upload(client, name: str, data: bytes, **extra):
    return client.post("/documents/upload/", {"file": SimpleUploadedFile(name, data)}, **extra)


def test_download_is_the_current_text_as_utf8_named_after_the_title(client, ada):
    """The attachment holds the text at the head, UTF-8, with an ASCII and an RFC 5987 name."""
    doc = services.document_create(title="Café: notes/2024", owner=ada, content="héllo 👋\n")
    services.operation_commit(document_id=doc.pk, user=ada, client="c", seq=1, base=1, ops=[{"pos": 0, "insert": "¡"}])
    client.force_login(ada)
    response = client.get(f"/documents/{doc.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == "¡héllo 👋\n".encode()
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"Caf_ notes 2024.txt\"; filename*=UTF-8''")
    assert unquote(disposition.split("''", 1)[1]) == "Café notes 2024.txt"


def test_download_of_an_ascii_title_has_a_plain_file_name():
    """A plain title needs no RFC 5987 form; quotes and slashes never reach the header."""
    assert content_disposition(filename_for("Plan")) == 'attachment; filename="Plan.txt"'
    assert filename_for('a"b\\c/d\r\n') == "a b c d.txt"
    assert filename_for("...") == "document.txt"


def test_download_needs_access_and_a_session(client, ada, bob, django_user_model):
    """Without a session: the sign-in page; without access, or no such document: 404; viewers may."""
    doc = services.document_create(title="T", owner=ada, content="secret")
    response = client.get(f"/documents/{doc.pk}/download/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(bob)
    assert client.get(f"/documents/{doc.pk}/download/").status_code == 404
    assert client.get("/documents/nope/download/").status_code == 404
    Membership.objects.create(document=doc, user=bob, role=Membership.Role.VIEWER)
    assert client.get(f"/documents/{doc.pk}/download/").content == b"secret"


def test_upload_creates_a_document_whose_first_revision_is_the_file(client, ada):
    """The file's text is revision 1 by the owner; the title is the file name without extension."""
    client.force_login(ada)
    response = upload(client, "Ünïcode notes.txt", "\ufeffline one\r\nline 2 👋\n".encode())
    doc = Document.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/documents/{doc.pk}/"
    assert doc.title == "Ünïcode notes" and doc.owner == ada and doc.revision == 1
    assert selectors.document_snapshot(document_id=doc.pk) == (1, "line one\nline 2 👋\n")
    op = Operation.objects.get(document=doc)
    assert op.revision == 1 and op.user == ada


@pytest.mark.parametrize(
    "limit, data, message",
    [
        (100, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL byte"),
        (100, "caf\xe9".encode("latin-1"), "not UTF-8"),
        (100, b"half a surrogate \xed\xa0\x80 here", "lone surrogate"),
        (2, b"x" * 9, "too large"),
        (5, "é" * 6, "too long"),
    ],
    ids=["binary", "latin-1", "encoded-surrogate", "too-many-bytes", "too-many-characters"],
)
def test_bad_uploads_are_refused_with_a_clear_message_and_create_nothing(client, ada, settings, limit, data, message):
    """Binary, non-UTF-8 and oversized files: a message naming the problem, no document."""
    settings.COLLAB_MAX_DOCUMENT_CHARS = limit  # code points; at most 4 bytes each
    data = data.encode() if isinstance(data, str) else data
    client.force_login(ada)
    response = upload(client, "bad.txt", data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Document.objects.exists() and not Operation.objects.exists()


def test_upload_needs_a_session_and_a_file(client, ada):
    """Anonymous uploads go to the sign-in page; a form without a file says so."""
    response = upload(client, "a.txt", b"hi")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(ada)
    response = client.post("/documents/upload/", {}, follow=True)
    assert "Choose a text file" in response.content.decode() and not Document.objects.exists()


def test_titles_from_file_names():
    """The last path part without its extension; never empty."""
    assert title_from_filename("C:\\Users\\ada\\plan.v2.txt") == "plan.v2"
    assert title_from_filename(".bashrc") == ".bashrc"
    assert title_from_filename("") == "Untitled"
    assert title_from_filename("x" * 300 + ".txt") == "x" * 200


def test_the_domain_refuses_what_the_pages_translate(ada, bob, settings):
    """Without a page: a rename or delete by anyone but the owner finds no document, a bad
    title or file is refused with its message, and nothing changes."""
    doc = services.document_create(title="Ada's", owner=ada, content="x")
    with pytest.raises(DocumentNotFound):
        services.document_rename(document_id=doc.pk, actor=bob, title="Bob's")
    with pytest.raises(DocumentNotFound):
        services.document_delete(document_id=doc.pk, actor=bob)
    with pytest.raises(ManageError, match="cannot be empty"):
        services.document_rename(document_id=doc.pk, actor=ada, title="  ")
    settings.COLLAB_MAX_DOCUMENT_CHARS = 4
    with pytest.raises(UploadError, match="too large"):
        documents.check_upload_size(17)
    with pytest.raises(UploadError, match="NUL byte"):
        services.document_from_upload(owner=ada, name="a.txt", data=b"a\x00")
    assert list(Document.objects.values_list("title", flat=True)) == ["Ada's"]


def test_the_owner_renames_and_others_cannot(client, ada, bob):
    """The owner's new title is kept; an editor's attempt is a 404; a bad title changes nothing."""
    doc = services.document_create(title="Old", owner=ada)
    Membership.objects.create(document=doc, user=bob, role=Membership.Role.EDITOR)
    client.force_login(bob)
    assert client.post(f"/documents/{doc.pk}/rename/", {"title": "Bob's"}).status_code == 404
    client.force_login(ada)
    client.post(f"/documents/{doc.pk}/rename/", {"title": "  New name  "})
    doc.refresh_from_db()
    assert doc.title == "New name"
    for bad, message in [("", "cannot be empty"), ("a\x00b", "cannot hold that character"), ("x" * 201, "at most 200")]:
        response = client.post(f"/documents/{doc.pk}/rename/", {"title": bad}, follow=True)
        assert message in response.content.decode()
        doc.refresh_from_db()
        assert doc.title == "New name"


def test_the_owner_deletes_after_confirming_and_others_cannot(client, ada, bob):
    """GET asks; POST by the owner deletes the document and its history; others get 404."""
    doc = services.document_create(title="Doomed", owner=ada, content="text")
    Membership.objects.create(document=doc, user=bob, role=Membership.Role.EDITOR)
    client.force_login(bob)
    assert client.get(f"/documents/{doc.pk}/delete/").status_code == 404
    assert client.post(f"/documents/{doc.pk}/delete/").status_code == 404
    client.force_login(ada)
    page = client.get(f"/documents/{doc.pk}/delete/")
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    assert Document.objects.filter(pk=doc.pk).exists()
    response = client.post(f"/documents/{doc.pk}/delete/", follow=True)
    assert "Deleted “Doomed”" in response.content.decode()
    assert not Document.objects.filter(pk=doc.pk).exists() and not Operation.objects.exists()
    assert client.post(f"/documents/{doc.pk}/delete/").status_code == 404


def test_the_list_is_searchable_and_sorted(client, ada, bob):
    """``q`` keeps titles holding it (any case); ``sort`` orders by title, newest or last edit."""
    for title in ("banana bread", "Apple pie", "cherry jam"):
        services.document_create(title=title, owner=ada)
    theirs = services.document_create(title="Bob's apple notes", owner=bob)
    services.document_create(title="Bob's private apple", owner=bob)
    Membership.objects.create(document=theirs, user=ada, role=Membership.Role.VIEWER)
    client.force_login(ada)

    def titles(**params):
        return [d.title for d in client.get("/", params).context["documents"]]

    assert titles(sort="title") == ["Apple pie", "banana bread", "Bob's apple notes", "cherry jam"]
    assert titles(q="APPLE", sort="title") == ["Apple pie", "Bob's apple notes"]
    assert titles(sort="created") == ["Bob's apple notes", "cherry jam", "Apple pie", "banana bread"]
    assert titles(sort="nonsense") == titles()
    assert "No document’s title holds" in client.get("/", {"q": "zebra"}).content.decode()
