"""Pages: the list of a user's documents and the editor page."""

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render

from . import selectors, services
from .models import Document


@login_required
def document_list(request):
    """The user's own and shared documents, newest first; POST creates one."""
    if request.method == "POST":
        title = (request.POST.get("title") or "").strip()[:200] or "Untitled"
        document = services.document_create(title=title, owner=request.user)
        return redirect("editor:document_detail", document_id=document.pk)
    documents = (
        Document.objects.filter(Q(owner=request.user) | Q(memberships__user=request.user))
        .distinct()
        .select_related("owner")
        .only("id", "title", "revision", "updated", "owner__username")
        .order_by("-updated")
    )
    return render(request, "editor/document_list.html", {"documents": documents})


@login_required
def document_detail(request, document_id: str):
    """The editor page of one document."""
    try:
        role = selectors.document_role(document_id=document_id, user=request.user)
    except (selectors.DocumentNotFound, selectors.AccessDenied):
        raise Http404("No such document") from None
    document = Document.objects.only("id", "title", "revision").get(pk=document_id)
    return render(request, "editor/document_detail.html", {"document": document, "role": role})
