"""Reads: who may open a document, and its history."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Sum, TextField
from django.db.models.functions import Cast, Length

from ..core import ot
from ..models import Document, Membership, Operation, Snapshot
from .errors import (
    AccessDenied as AccessDenied,  # raised by document_role, through decide_role
    DocumentNotFound,
    HistoryFolded,
)
from .roles import decide_role, edits_every_document


@dataclass(frozen=True, slots=True)
class Revision:
    """One committed revision as a hub hands it out."""

    rev: int
    user_id: int
    user_name: str
    client: str
    seq: int
    ops: list


def document_role(*, document_id: str, user: AbstractBaseUser) -> str:
    """``"editor"`` or ``"viewer"`` for ``user`` on the document, else raise (see
    :func:`editor.domain.roles.decide_role`)."""
    owner_id = Document.objects.filter(pk=document_id).values_list("owner_id", flat=True).first()
    membership = None
    if owner_id is not None and owner_id != user.pk:
        membership = (
            Membership.objects.filter(document_id=document_id, user_id=user.pk).values_list("role", flat=True).first()
        )
    return decide_role(
        document_id=document_id,
        owner_id=owner_id,
        user_id=user.pk,
        membership=membership,
        edits_every_document=lambda: edits_every_document(user),
    )


def document_snapshot(*, document_id: str) -> tuple[int, str]:
    """The current revision and the text at it.

    The stored snapshot with the revisions after it replayed (at most
    ``COLLAB_SNAPSHOT_EVERY`` of them). Revision and snapshot come from one statement,
    and the history is immutable, so the reads need no transaction.
    """
    row = (
        Document.objects.filter(pk=document_id)
        .values_list("revision", "snapshot__revision", "snapshot__content")
        .first()
    )
    if row is None:
        raise DocumentNotFound(document_id)
    revision, at, content = row
    return revision, replay(document_id=document_id, text=content or "", after=at or 0, through=revision)


def document_text(document: Document) -> str:
    """The text at ``document.revision`` of a loaded document."""
    return document_at_revision(document_id=document.pk, revision=document.revision)


def replay(*, document_id: str, text: str, after: int, through: int) -> str:
    """``text`` (the text at revision ``after``) with revisions ``after + 1..through`` applied."""
    if through <= after:
        return text
    ops = Operation.objects.filter(document_id=document_id, revision__gt=after, revision__lte=through)
    for op in ops.order_by("revision").values_list("ops", flat=True).iterator(chunk_size=2000):
        text = ot.apply(text, op) if op else text
    return text


def snapshot_if_smaller(*, document_id: str, since: int) -> tuple[int, str] | None:
    """The current revision and text, when the text is smaller than the revisions after
    ``since`` (as stored); else None. The sizes are summed by the database."""
    history = (
        Operation.objects.filter(document_id=document_id, revision__gt=since).aggregate(
            size=Sum(Length(Cast("ops", TextField())))
        )["size"]
        or 0
    )
    rev, content = document_snapshot(document_id=document_id)
    return (rev, content) if len(content) < history else None


def history_start(*, document_id: str) -> int:
    """The revision the history was compacted to (0: the whole history is kept)."""
    return Document.objects.filter(pk=document_id).values_list("history_start", flat=True).first() or 0


def document_head(*, document_id: str) -> int:
    """The current revision."""
    revision = Document.objects.filter(pk=document_id).values_list("revision", flat=True).first()
    if revision is None:
        raise DocumentNotFound(document_id)
    return revision


def operations_since(*, document_id: str, since: int, until: int | None = None, limit: int = 500) -> list[Revision]:
    """Revisions after ``since`` (up to ``until`` when given), oldest first, at most ``limit``.

    Refused (:class:`HistoryFolded`) from before where the history was compacted: those
    revisions are stored without their ops.
    """
    if since < history_start(document_id=document_id):
        raise HistoryFolded(f"the revisions after {since} are not all kept: the history was compacted")
    rows = Operation.objects.filter(document_id=document_id, revision__gt=since)
    if until is not None:
        rows = rows.filter(revision__lte=until)
    return [
        Revision(rev=r, user_id=u, user_name=name, client=c, seq=s, ops=o)
        for r, u, name, c, s, o in rows.order_by("revision").values_list(
            "revision", "user_id", "user__username", "client", "seq", "ops"
        )[:limit]
    ]


def document_at_revision(*, document_id: str, revision: int) -> str:
    """The document's text at ``revision``: from the snapshot when it is not later,
    else from the history's checkpoints (see :func:`editor.domain.history.text_at`)."""
    at, content = Snapshot.objects.filter(document_id=document_id).values_list("revision", "content").first() or (0, "")
    if at > revision:
        from .history import text_at  # the history module reads through this one

        return text_at(document_id=document_id, revision=revision)[0]
    return replay(document_id=document_id, text=content, after=at, through=revision)
