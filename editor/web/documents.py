"""Managing documents from the app: download, upload, rename and delete.

Reading (download) needs the same access as opening the editor; renaming and deleting
are the owner's alone (:mod:`editor.domain.documents` decides both). Whoever may not see
a document gets the same 404 as on its editor page, so a document's existence is not
revealed. The views only translate: the domain's refusals become a 404 or a message.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from ..domain import documents, selectors
from ..domain.errors import AccessDenied, DocumentNotFound, ManageError, UploadError
from ..models import Document


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


# --- views ---------------------------------------------------------------------------


def _readable(request, document_id: str) -> str:
    try:
        return selectors.document_role(document_id=document_id, user=request.user)
    except (DocumentNotFound, AccessDenied):
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
    try:
        documents.check_upload_size(upload.size)
        document = documents.document_from_upload(owner=request.user, name=upload.name, data=upload.read())
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
        documents.document_rename(document_id=document_id, actor=request.user, title=request.POST.get("title", ""))
    except DocumentNotFound:
        raise Http404("No such document") from None
    except ManageError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Renamed.")
    return redirect("editor:document_detail", document_id=document_id)


@login_required
def document_delete_view(request, document_id: str):
    """GET asks the owner to confirm; POST deletes and returns to the list."""
    try:
        document = documents.owned_document(document_id, request.user)
        if request.method == "POST":
            documents.document_delete(document_id=document_id, actor=request.user)
    except DocumentNotFound:
        raise Http404("No such document") from None
    if request.method == "POST":
        messages.success(request, f"Deleted “{document.title}”.")
        return redirect("editor:document_list")
    return render(request, "editor/document_delete.html", {"document": document})
