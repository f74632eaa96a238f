"""The life of a document: created (typed or uploaded), renamed, deleted.

Only the owner renames or deletes; to anyone else the document does not exist
(:class:`~editor.domain.errors.DocumentNotFound`, which a page answers with the same 404
as for a document that is not there). What a person typed or uploaded that cannot be
taken raises :class:`~editor.domain.errors.UploadError` or
:class:`~editor.domain.errors.ManageError` with a message for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..core import ot
from ..models import Document, Snapshot
from .edits import pieces_commit
from .errors import DocumentNotFound, ManageError, RateLimited, UploadError

TITLE_MAX: int = Document._meta.get_field("title").max_length  # type: ignore[assignment]  # set on the field
# At most four bytes a code point in UTF-8: a larger file cannot be within the limit.
BYTES_PER_CODE_POINT = 4


def document_create(*, title: str, owner: AbstractBaseUser, content: str = "", charge: bool = False) -> Document:
    """Create a document; initial text becomes revision 1 (and on, for a text too
    large for one op) so history rebuilds it. With ``charge`` the text is spent from
    the owner's inserted-text budget (an upload); without it (the operator's
    ``createdocument``, a blank new document) nothing is."""
    ot.check_text(title, what="title")
    ot.check_text(content, what="content")
    with transaction.atomic():
        document = Document.objects.create(title=title, owner=owner)  # type: ignore[misc]  # any user model
        if content:
            pieces_commit(
                document_id=document.pk,
                user=owner,
                client="create",
                base=0,
                ops=[{"pos": 0, "insert": content}],
                charge=charge,
            )
            document.refresh_from_db()
        # The initial text is the first snapshot: nothing to replay to read it.
        Snapshot.objects.update_or_create(
            document=document, defaults={"revision": document.revision, "content": content}
        )
    return document


def documents_delete(*, document_ids: Sequence[str]) -> int:
    """Delete documents with their history; returns how many there were.

    Each row is locked first, in one order, as a commit locks it: a commit waiting
    behind the delete then finds no document (its sockets close with 4404), and one that
    went first has its ops deleted with the rest. Deleting without the lock could read a
    document's ops just before a commit added one, and fail on the foreign key.
    """
    with transaction.atomic():
        ids = list(
            Document.objects.select_for_update()
            .filter(pk__in=list(document_ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Document.objects.filter(pk__in=ids).delete()
    return len(ids)


def check_upload_size(size: int) -> None:
    """Refuse a file too large to be within the limit, before reading it."""
    limit = settings.COLLAB_MAX_DOCUMENT_CHARS
    if size > limit * BYTES_PER_CODE_POINT:
        raise UploadError(f"The file is too large: a document holds at most {limit:,} characters.")


def document_from_upload(*, owner, name: str, data: bytes) -> Document:
    """Create a document holding the uploaded text, as revision 1 by ``owner``.

    The file must be UTF-8 (a leading byte order mark is dropped, Windows line breaks
    become ``\\n``), hold no U+0000 and fit in ``COLLAB_MAX_DOCUMENT_CHARS``; otherwise
    :class:`UploadError` is raised and nothing is created. The title is the file's name
    without its extension.
    """
    check_upload_size(len(data))
    limit = settings.COLLAB_MAX_DOCUMENT_CHARS
    if b"\x00" in data:
        raise UploadError("The file holds a NUL byte: it looks like a binary file, not text.")
    try:
        # Python's UTF-8 codec refuses encoded surrogates (CESU-8) as well.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lead = data[exc.start : exc.start + 2]
        if len(lead) == 2 and lead[0] == 0xED and 0xA0 <= lead[1] <= 0xBF:
            raise UploadError(
                f"The file holds a lone surrogate (U+D800 to U+DFFF, at byte {exc.start:,}): it is not valid UTF-8 text."
            ) from None
        raise UploadError(
            f"The file is not UTF-8 text (invalid byte at offset {exc.start:,}). Save it as UTF-8 and try again."
        ) from None
    text = text.replace("\r\n", "\n")
    if len(text) > limit:
        raise UploadError(f"The file is too long: {len(text):,} characters; a document holds at most {limit:,}.")
    title = title_from_filename(name)
    try:
        # Uploading a text spends the owner's inserted-text budget, as typing it would.
        return document_create(title=title, owner=owner, content=text, charge=True)
    except ot.OperationError as exc:  # pragma: no cover - checked above
        raise UploadError(f"The file cannot be stored: {exc}.") from None
    except RateLimited as exc:
        raise UploadError(f"Not uploaded: {exc}.") from None


def title_from_filename(name: str) -> str:
    """A title from an uploaded file's name: its last path part, without the extension."""
    name = re.split(r"[\\/]", name or "")[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = "".join(ch for ch in stem if ch.isprintable()).strip()
    try:
        ot.check_text(stem)
    except ot.OperationError:
        stem = ""
    return stem[:TITLE_MAX] or "Untitled"


def document_rename(*, document_id: str, actor, title: str) -> Document:
    """Give the document a new title (owner only)."""
    title = (title or "").strip()
    if not title:
        raise ManageError("A title cannot be empty.")
    if len(title) > TITLE_MAX:
        raise ManageError(f"A title holds at most {TITLE_MAX} characters.")
    try:
        ot.check_text(title, what="title")
    except ot.OperationError:
        raise ManageError("A title cannot hold that character.") from None
    with transaction.atomic():
        document = owned_document(document_id, actor, lock=True)
        document.title = title
        document.updated = timezone.now()
        document.save(update_fields=["title", "updated"])
    return document


def document_delete(*, document_id: str, actor) -> None:
    """Delete the document and its history (owner only); open sockets on every process
    are closed with 4404 (``editor.domain.signals`` announces it once the deletion commits)."""
    with transaction.atomic():
        owned_document(document_id, actor, lock=True).delete()


def owned_document(document_id: str, actor, *, lock: bool = False) -> Document:
    """The document, if ``actor`` owns it (locked with ``lock``, inside the caller's
    transaction); :class:`DocumentNotFound` otherwise."""
    rows = Document.objects.select_for_update() if lock else Document.objects
    document = rows.filter(pk=document_id).first()
    if document is None or document.owner_id != actor.pk:
        raise DocumentNotFound(document_id)
    return document
