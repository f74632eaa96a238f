"""Managing documents from the app: download, upload, rename and delete.

Reading (download) needs the same access as opening the editor; renaming and deleting
are the owner's alone. Whoever may not see a document gets the same 404 as on its
editor page, so a document's existence is not revealed.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ..core import ot
from ..domain import selectors, services
from ..models import Document

TITLE_MAX: int = Document._meta.get_field("title").max_length  # type: ignore[assignment]  # set on the field
# At most four bytes a code point in UTF-8: a larger file cannot be within the limit.
BYTES_PER_CODE_POINT = 4


class UploadError(Exception):
    """An uploaded file that cannot become a document; the message says why."""


class ManageError(Exception):
    """A rename or delete that cannot be carried out; the message says why."""


# --- services ------------------------------------------------------------------------


def document_from_upload(*, owner, name: str, data: bytes) -> Document:
    """Create a document holding the uploaded text, as revision 1 by ``owner``.

    The file must be UTF-8 (a leading byte order mark is dropped, Windows line breaks
    become ``\\n``), hold no U+0000 and fit in ``COLLAB_MAX_DOCUMENT_CHARS``; otherwise
    :class:`UploadError` is raised and nothing is created. The title is the file's name
    without its extension.
    """
    limit = settings.COLLAB_MAX_DOCUMENT_CHARS
    if len(data) > limit * BYTES_PER_CODE_POINT:
        raise UploadError(f"The file is too large: a document holds at most {limit:,} characters.")
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
        return services.document_create(title=title, owner=owner, content=text)
    except ot.OperationError as exc:  # pragma: no cover - checked above
        raise UploadError(f"The file cannot be stored: {exc}.") from None


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


def filename_for(title: str) -> str:
    """A file name for a downloaded document: its title without characters file systems
    refuse, and ``.txt``."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', " ", title)
    stem = re.sub(r"\s+", " ", stem).strip(" .")[:120]
    return f"{stem or 'document'}.txt"


def content_disposition(filename: str) -> str:
    """An attachment header naming ``filename``: a plain ASCII ``filename`` for every
    browser and, when the name is not ASCII, the exact name as RFC 5987's ``filename*``."""
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    ascii_name = ascii_name.replace("\\", "_").replace('"', "_")
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


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
        document = _owned(document_id, actor, lock=True)
        document.title = title
        document.updated = timezone.now()
        document.save(update_fields=["title", "updated"])
    return document


def document_delete(*, document_id: str, actor) -> None:
    """Delete the document and its history (owner only); open sockets on every process
    are closed with 4404 (``editor.domain.signals`` announces it once the deletion commits)."""
    with transaction.atomic():
        _owned(document_id, actor, lock=True).delete()


def _owned(document_id: str, actor, *, lock: bool = False) -> Document:
    rows = Document.objects.select_for_update() if lock else Document.objects
    document = rows.filter(pk=document_id).first()
    if document is None or document.owner_id != actor.pk:
        raise Http404("No such document")
    return document


# --- views ---------------------------------------------------------------------------


def _readable(request, document_id: str) -> str:
    try:
        return selectors.document_role(document_id=document_id, user=request.user)
    except (selectors.DocumentNotFound, selectors.AccessDenied):
        raise Http404("No such document") from None


@login_required
@require_GET
def document_download(request, document_id: str):
    """The current text as a UTF-8 ``.txt`` attachment named after the title."""
    _readable(request, document_id)
    title = Document.objects.filter(pk=document_id).values_list("title", flat=True).first() or ""
    revision, text = selectors.document_snapshot(document_id=document_id)
    response = HttpResponse(text.encode("utf-8"), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition(filename_for(title))
    response["X-Collab-Revision"] = str(revision)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def document_upload(request):
    """Create a document from an uploaded text file, then open it."""
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a text file to upload.")
        return redirect("editor:document_list")
    limit = settings.COLLAB_MAX_DOCUMENT_CHARS * BYTES_PER_CODE_POINT
    try:
        if upload.size > limit:
            raise UploadError(
                f"The file is too large: a document holds at most {settings.COLLAB_MAX_DOCUMENT_CHARS:,} characters."
            )
        document = document_from_upload(owner=request.user, name=upload.name, data=upload.read())
    except UploadError as exc:
        messages.error(request, f"{upload.name}: {exc}")
        return redirect("editor:document_list")
    messages.success(request, f"Uploaded {upload.name}.")
    return redirect("editor:document_detail", document_id=document.pk)


@login_required
@require_POST
def document_rename_view(request, document_id: str):
    """Handle the owner's rename form on the editor page."""
    try:
        document_rename(document_id=document_id, actor=request.user, title=request.POST.get("title", ""))
    except ManageError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Renamed.")
    return redirect("editor:document_detail", document_id=document_id)


@login_required
def document_delete_view(request, document_id: str):
    """GET asks the owner to confirm; POST deletes and returns to the list."""
    document = _owned(document_id, request.user)
    if request.method == "POST":
        title = document.title
        document_delete(document_id=document_id, actor=request.user)
        messages.success(request, f"Deleted “{title}”.")
        return redirect("editor:document_list")
    return render(request, "editor/document_delete.html", {"document": document})
