"""A document's history for the people who may read it: a timeline of revisions, the
text at any revision with its change highlighted, and restoring an old version.

Reading the text at a past revision (and who wrote each part of it) starts from the
latest :class:`Checkpoint` at or before it and replays at most ``COLLAB_CHECKPOINT_EVERY`` revisions;
the checkpoints a replay passes are stored on the way, so the whole history is replayed
at most once per document, never per request. The timeline is one range query on the
(document, revision) index per page, however deep the page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from . import ot, selectors, services
from .authorship import Authors
from .errors import Refusal
from .models import Checkpoint, Document, Membership, Operation
from .text import Text

REVISIONS_PER_PAGE = 50
# Unchanged text kept on each side of a change when showing a revision; longer
# stretches between changes are folded.
CONTEXT_CHARS = 2000
# Checkpoints stored in one statement while replaying.
CHECKPOINT_BATCH = 20


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One revision as the timeline shows it."""

    revision: int
    user: str
    created: datetime
    inserted: int
    deleted: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a revision's text: ``kind`` is "same", "ins", "del" or "fold"
    (unchanged text left out; ``text`` is empty and ``size`` says how much)."""

    kind: str
    text: str
    size: int

    @property
    def shown(self) -> str:
        """The text as the page shows it: a changed line break is marked with ↵."""
        if self.kind == "del":
            return self.text.replace("\n", "↵")
        if self.kind == "ins":
            return self.text.replace("\n", "↵\n")
        return self.text


# --- reads ---------------------------------------------------------------------------


def text_at(*, document_id: str, revision: int) -> tuple[str, int]:
    """The text at ``revision`` and how many revisions were replayed to read it.

    Starts from the nearest checkpoint at or before ``revision``; stores a checkpoint at
    each multiple of ``COLLAB_CHECKPOINT_EVERY`` it replays past, so the next read near
    there replays less than that many.
    """
    text, _, replayed = _replay(document_id, revision, authors=False)
    return str(text), replayed


def authors_at(*, document_id: str, revision: int) -> tuple[str, list[list[int]]]:
    """The text at ``revision`` and who wrote it: runs ``[user id, length]`` in order."""
    text, authors, _ = _replay(document_id, revision, authors=True)
    return str(text), authors.runs()


def _replay(document_id: str, revision: int, *, authors: bool) -> tuple[Text, Authors | None, int]:
    """Replay from the checkpoint before ``revision``, following the authors too when
    asked for them or when a checkpoint (which keeps them) is to be stored on the way."""
    every = settings.COLLAB_CHECKPOINT_EVERY
    at, content = (
        Checkpoint.objects.filter(document_id=document_id, revision__lte=revision)
        .order_by("-revision")
        .values_list("revision", "content")
        .first()
        or (0, "")
    )
    if authors or revision // every > at // every:
        runs = Checkpoint.objects.filter(document_id=document_id, revision=at).values_list("authors", flat=True).first()
        kept: Authors | None = Authors(runs or [])
    else:
        kept = None  # the authors of a long text can outweigh it: read them only when needed
    text = Text(content)
    replayed = 0
    found: list[Checkpoint] = []
    rows = Operation.objects.filter(document_id=document_id, revision__gt=at, revision__lte=revision)
    for rev, op, user_id in rows.order_by("revision").values_list("revision", "ops", "user_id").iterator(chunk_size=2000):
        if op:
            text = text.apply(op)
            if kept is not None:
                kept.apply(op, user_id)
        replayed += 1
        if rev % every == 0 and kept is not None:
            found.append(Checkpoint(document_id=document_id, revision=rev, content=str(text), authors=kept.runs()))
            if len(found) >= CHECKPOINT_BATCH:
                _store_checkpoints(found)
                found = []
    _store_checkpoints(found)
    return text, kept, replayed


def _store_checkpoints(checkpoints: list[Checkpoint]) -> None:
    # Two readers may replay the same stretch at once: the first one's rows stand.
    if checkpoints:
        Checkpoint.objects.bulk_create(checkpoints, ignore_conflicts=True)


def timeline(*, document_id: str, head: int, page: int) -> list[TimelineRow]:
    """Page ``page`` (from 1) of the revisions, newest first, ``REVISIONS_PER_PAGE`` a page."""
    newest = head - (page - 1) * REVISIONS_PER_PAGE
    oldest = max(1, newest - REVISIONS_PER_PAGE + 1)
    rows = (
        Operation.objects.filter(document_id=document_id, revision__gte=oldest, revision__lte=newest)
        .order_by("-revision")
        .values_list("revision", "user__username", "created", "ops")
    )
    return [TimelineRow(rev, user, created, *_sizes(op)) for rev, user, created, op in rows]


def _sizes(op: list) -> tuple[int, int]:
    """Code points an op inserts and deletes."""
    inserted = sum(len(c["insert"]) for c in op if "insert" in c)
    deleted = sum(c["delete"] for c in op if "delete" in c)
    return inserted, deleted


def change_segments(before: str, op: list, *, context: int = CONTEXT_CHARS) -> list[Segment]:
    """``before`` with ``op`` marked on it: kept, inserted and deleted stretches, with
    unchanged stretches longer than twice ``context`` folded to their ends."""
    segments: list[Segment] = []
    pos = 0
    for item in ot.to_trace(op) if op else []:
        if isinstance(item, str):
            segments.append(Segment("ins", item, len(item)))
        elif item > 0:
            segments.append(Segment("same", before[pos : pos + item], item))
            pos += item
        else:
            segments.append(Segment("del", before[pos : pos - item], -item))
            pos -= item
    if pos < len(before):
        segments.append(Segment("same", before[pos:], len(before) - pos))
    return _fold(segments, context)


def _fold(segments: list[Segment], context: int) -> list[Segment]:
    folded: list[Segment] = []
    last = len(segments) - 1
    for index, seg in enumerate(segments):
        keep_head = context if index > 0 else 0  # text after the change before
        keep_tail = context if index < last else 0  # text before the next change
        if seg.kind != "same" or seg.size <= keep_head + keep_tail + context:
            folded.append(seg)
            continue
        if keep_head:
            folded.append(Segment("same", seg.text[:keep_head], keep_head))
        folded.append(Segment("fold", "", seg.size - keep_head - keep_tail))
        if keep_tail:
            folded.append(Segment("same", seg.text[-keep_tail:], keep_tail))
    return folded


# The colours of authors in the authorship view, as the editor's people list uses them.
AUTHOR_COLORS = (
    "#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#0c8599", "#c2255c",
    "#5c940d", "#e67700", "#3b5bdb", "#a61e4d", "#087f5b", "#862e9c",
)


def author_color(index: int) -> str:
    """A colour for the ``index``-th author, distinct from every other index's."""
    if index < len(AUTHOR_COLORS):
        return AUTHOR_COLORS[index]
    return f"hsl({round(((index - len(AUTHOR_COLORS)) * 137.508) % 360)} 65% 42%)"


# --- views ---------------------------------------------------------------------------


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
    document = Document.objects.only("id", "title", "revision", "owner_id").get(pk=document_id)
    if not 1 <= revision <= document.revision:
        raise Http404("No such revision")
    before, _ = text_at(document_id=document_id, revision=revision - 1)
    row = (
        Operation.objects.filter(document_id=document_id, revision=revision)
        .values_list("user__username", "created", "ops")
        .get()
    )
    user, created, op = row  # the author; the template's "user" is the reader
    inserted, deleted = _sizes(op)
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
