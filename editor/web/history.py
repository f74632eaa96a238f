"""The history pages of a document for the people who may read it: the timeline, one
revision with its change marked, the text coloured by author, and restoring an old
version (read and written through :mod:`editor.domain.history` and the services).
"""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ..domain import selectors, services
from ..domain.errors import Refusal
from ..domain.history import (
    REVISIONS_PER_PAGE,
    authors_at,
    change_segments,
    op_sizes,
    text_at,
    timeline,
)
from ..models import Document, Membership, Operation

# The colours of authors in the authorship view, as the editor's people list uses them.
AUTHOR_COLORS = (
    "#d9480f",
    "#1971c2",
    "#2f9e44",
    "#9c36b5",
    "#0c8599",
    "#c2255c",
    "#5c940d",
    "#e67700",
    "#3b5bdb",
    "#a61e4d",
    "#087f5b",
    "#862e9c",
)


def author_color(index: int) -> str:
    """A colour for the ``index``-th author, distinct from every other index's."""
    if index < len(AUTHOR_COLORS):
        return AUTHOR_COLORS[index]
    return f"hsl({round(((index - len(AUTHOR_COLORS)) * 137.508) % 360)} 65% 42%)"


def _role(request, document_id: str) -> str:
    try:
        return selectors.document_role(document_id=document_id, user=request.user)
    except (selectors.DocumentNotFound, selectors.AccessDenied):
        raise Http404("No such document") from None


def _page_number(raw: str | None, pages: int) -> int:
    try:
        return min(max(1, int(raw or 1)), pages)
    except ValueError:
        return 1


@login_required
def document_history(request, document_id: str):
    """The timeline of revisions, newest first, a page at a time."""
    role = _role(request, document_id)
    document = Document.objects.only("id", "title", "revision", "owner_id").get(pk=document_id)
    pages = max(1, -(-document.revision // REVISIONS_PER_PAGE))
    if "rev" in request.GET:  # jump to the page holding that revision
        try:
            wanted = min(max(1, int(request.GET["rev"])), max(1, document.revision))
            return redirect("editor:document_revision", document_id=document_id, revision=wanted)
        except ValueError:
            pass
    page = _page_number(request.GET.get("page"), pages)
    rows = timeline(document_id=document_id, head=document.revision, page=page)
    context = {"document": document, "role": role, "rows": rows, "page": page, "pages": pages}
    return render(request, "editor/history.html", context)


@login_required
def document_revision(request, document_id: str, revision: int):
    """The text at one revision, with that revision's change marked."""
    role = _role(request, document_id)
    document = Document.objects.only("id", "title", "revision", "owner_id", "history_start").get(pk=document_id)
    if not 1 <= revision <= document.revision:
        raise Http404("No such revision")
    if revision <= document.history_start:  # its change was folded by a compaction
        raise Http404("This revision's change is no longer kept: the history before it was compacted")
    before, _ = text_at(document_id=document_id, revision=revision - 1)
    row = (
        Operation.objects.filter(document_id=document_id, revision=revision)
        .values_list("user__username", "created", "ops")
        .get()
    )
    user, created, op = row  # the author; the template's "user" is the reader
    inserted, deleted = op_sizes(op)
    context = {
        "document": document,
        "role": role,
        "revision": revision,
        "author": user,
        "created": created,
        "inserted": inserted,
        "deleted": deleted,
        "segments": change_segments(before, op),
        "page": (document.revision - revision) // REVISIONS_PER_PAGE + 1,
        "can_restore": role == Membership.Role.EDITOR and revision < document.revision,
        "restore_client": f"restore-{secrets.token_urlsafe(12)}",
    }
    return render(request, "editor/revision.html", context)


@login_required
def document_authors(request, document_id: str):
    """The current text coloured by who wrote each part."""
    role = _role(request, document_id)
    document = Document.objects.only("id", "title", "revision", "owner_id").get(pk=document_id)
    text, runs = authors_at(document_id=document_id, revision=document.revision)
    user_ids = sorted({user for user, _ in runs})
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    colors = {user: author_color(index) for index, user in enumerate(user_ids)}
    # Built here rather than in a template loop: a text typed by people taking turns can
    # have hundreds of thousands of runs.
    # A class per author, not a style attribute (the Content-Security-Policy ignores
    # those): authors.js gives each class its colour from the legend.
    spans = {
        user: format_html('<span class="by author-{}" title="{}" data-author="{}">', index, name, name)
        for index, (user, name) in enumerate((user, names.get(user, "?")) for user in user_ids)
    }
    pieces, pos = [], 0
    for user, size in runs:
        pieces.append(f"{spans[user]}{escape(text[pos : pos + size])}</span>")
        pos += size
    totals: dict[int, int] = {}
    for user, size in runs:
        totals[user] = totals.get(user, 0) + size
    legend = [
        {"name": names.get(user, "?"), "color": colors[user], "chars": totals[user], "index": user_ids.index(user)}
        for user in sorted(totals, key=lambda u: -totals[u])
    ]
    context = {"document": document, "role": role, "marked": mark_safe("".join(pieces)), "legend": legend}
    return render(request, "editor/authors.html", context)


@login_required
@require_POST
def document_revision_restore(request, document_id: str, revision: int):
    """Make the text what it was at ``revision``, as a new revision by this person."""
    role = _role(request, document_id)
    if role != Membership.Role.EDITOR:
        raise Http404("No such document")
    # One client id per page shown: a form sent twice restores once.
    client = (request.POST.get("client") or "")[:64]
    if not client.startswith("restore-"):
        client = f"restore-{secrets.token_urlsafe(12)}"
    try:
        committed = services.document_restore(
            document_id=document_id, user=request.user, revision=revision, client=client
        )
    except Refusal as exc:
        messages.error(request, f"Nothing was restored: {exc}")
        return redirect("editor:document_revision", document_id=document_id, revision=max(1, revision))
    if committed is None:
        messages.info(request, f"The text already is the text of revision {revision}.")
    elif committed.duplicate:
        messages.info(request, f"This restore was already saved as revision {committed.revision}.")
    else:
        messages.success(request, f"Restored the text of revision {revision} as revision {committed.revision}.")
    return redirect("editor:document_detail", document_id=document_id)
