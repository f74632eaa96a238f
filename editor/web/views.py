"""Pages: the list of a user's documents and the editor page."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import redirect, render

from ..core import frames, ot
from ..domain import errors, selectors, services
from ..models import Document

# How the document list may be sorted: the choice's name, its label, its ordering.
LIST_ORDERS = {
    "updated": ("Last edited", ("-updated", "pk")),
    "title": ("Title", (Lower("title"), "pk")),
    "created": ("Newest", ("-created", "pk")),
}


@login_required
def document_list(request):
    """The user's own and shared documents, last edited first (or sorted by ``sort``),
    those whose title holds ``q`` when given; POST creates one."""
    error = None
    if request.method == "POST":
        title = (request.POST.get("title") or "").strip()[:200] or "Untitled"
        try:
            document = services.document_create(title=title, owner=request.user)
        except ot.OperationError:
            error = "A title cannot hold that character."
        else:
            return redirect("editor:document_detail", document_id=document.pk)
    query = (request.GET.get("q") or "").strip()[:200]
    sort = request.GET.get("sort") if request.GET.get("sort") in LIST_ORDERS else "updated"
    documents = Document.objects.filter(Q(owner=request.user) | Q(memberships__user=request.user))
    if query:
        documents = documents.filter(title__icontains=query)
    documents = (
        documents.distinct()
        .select_related("owner")
        .only("id", "title", "updated", "owner__username")
        .order_by(*LIST_ORDERS[sort][1])
    )
    orders = [(name, label) for name, (label, _) in LIST_ORDERS.items()]
    context = {"documents": documents, "error": error, "query": query, "sort": sort, "orders": orders}
    return render(
        request,
        "editor/document_list.html",
        context,
        status=400 if error else 200,
    )


@login_required
def document_detail(request, document_id: str):
    """The editor page of one document."""
    try:
        role = selectors.document_role(document_id=document_id, user=request.user)
    except (selectors.DocumentNotFound, selectors.AccessDenied):
        raise Http404("No such document") from None
    document = Document.objects.only("id", "title", "revision", "owner_id", "history_bytes").get(pk=document_id)
    # The browser splits a large edit into ops the server accepts: within the component
    # and insert limits, and small enough for one frame whatever the text.
    limits = {
        "components": settings.COLLAB_MAX_COMPONENTS,
        "insert": frames.op_insert_limit(
            max_frame=settings.COLLAB_MAX_FRAME_BYTES,
            max_components=settings.COLLAB_MAX_COMPONENTS,
            max_insert=settings.COLLAB_MAX_INSERT_CHARS,
        ),
    }
    # The table of codes goes into the page as data the editor's module reads.
    context = {"document": document, "role": role, "limits": limits, "codes": errors.CODES}
    return render(request, "editor/document_detail.html", context)
