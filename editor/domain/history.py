"""A document's history: a timeline of revisions, the text at any revision (and who
wrote each part of it), and a revision's change with its context. The pages that show
them are :mod:`editor.web.history`.

Reading the text at a past revision (and who wrote each part of it) starts from the
latest :class:`Checkpoint` at or before it and replays at most ``COLLAB_CHECKPOINT_EVERY`` revisions;
the checkpoints a replay passes are stored on the way, so the whole history is replayed
at most once per document, never per request. The timeline is one range query on the
(document, revision) index per page, however deep the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from ..core import ot
from ..core.authorship import Authors
from ..core.text import Text
from ..models import Checkpoint, Document, Operation, Snapshot, op_bytes
from .errors import BadBase, DocumentNotFound, HistoryFolded

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
    return str(text), authors.runs()  # type: ignore[union-attr]  # authors=True: never None


def _replay(document_id: str, revision: int, *, authors: bool) -> tuple[Text, Authors | None, int]:
    """Replay from the checkpoint before ``revision``, following the authors too when
    asked for them or when a checkpoint (which keeps them) is to be stored on the way."""
    check_kept(document_id=document_id, revision=revision)
    every = settings.COLLAB_CHECKPOINT_EVERY
    at, content = Checkpoint.objects.filter(document_id=document_id, revision__lte=revision).order_by(
        "-revision"
    ).values_list("revision", "content").first() or (0, "")
    if authors or revision // every > at // every:
        runs = Checkpoint.objects.filter(document_id=document_id, revision=at).values_list("authors", flat=True).first()
        kept: Authors | None = Authors(runs or [])
    else:
        kept = None  # the authors of a long text can outweigh it: read them only when needed
    text = Text(content)
    replayed = 0
    found: list[Checkpoint] = []
    rows = Operation.objects.filter(document_id=document_id, revision__gt=at, revision__lte=revision)
    for rev, op, user_id in (
        rows.order_by("revision").values_list("revision", "ops", "user_id").iterator(chunk_size=2000)
    ):
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


def check_kept(*, document_id: str, revision: int) -> None:
    """Refuse (:class:`HistoryFolded`) a revision whose text was folded away by :func:`history_compact`."""
    start = Document.objects.filter(pk=document_id).values_list("history_start", flat=True).first() or 0
    if revision < start:
        raise HistoryFolded(
            f"revision {revision} is before revision {start}, where this document's history was compacted"
        )


# --- compaction ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compacted:
    """What :func:`history_compact` did: the history now starts at ``start``."""

    start: int
    revisions: int
    freed_bytes: int


def history_compact(*, document_id: str, through: int) -> Compacted:
    """Fold revisions up to ``through`` into a checkpoint at ``through``, freeing their
    bytes from the document's history budget (``COLLAB_HISTORY_MAX_BYTES``).

    The text (and who wrote each part) at ``through`` is stored as a checkpoint, and the
    ops of the revisions up to it are emptied: the text at ``through`` and every later
    revision still rebuilds, and restores to them still work. Lost: the text at each
    revision before ``through`` and what each of those revisions changed. Kept: their
    rows (who made each revision and when, in the timeline), so a resent op is still
    recognised and never applied twice. An op made against a folded revision is
    refused as ``bad_base`` (unless the server still holds the ops to rebase it), and a
    client that joins from one gets the current text as a snapshot.
    """
    document = Document.objects.filter(pk=document_id).values_list("revision", "history_start").first()
    if document is None:
        raise DocumentNotFound(document_id)
    head, start = document
    if not 0 < through <= head:
        raise BadBase(f"revision {through} is not a revision of the document (1 to {head})")
    if through <= start:
        return Compacted(start=start, revisions=0, freed_bytes=0)
    # The history up to ``through`` is immutable: read it outside the lock.
    text, runs = authors_at(document_id=document_id, revision=through)
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document_id).values_list("history_start", flat=True)
        if locked.first() != start:  # compacted meanwhile: start again from what it did
            raise BadBase(f"the history of {document_id} was compacted meanwhile; try again")
        Checkpoint.objects.update_or_create(
            document_id=document_id, revision=through, defaults={"content": text, "authors": runs}
        )
        Checkpoint.objects.filter(document_id=document_id, revision__lt=through).delete()
        folded = Operation.objects.filter(document_id=document_id, revision__gt=start, revision__lte=through)
        freed = sum(
            op_bytes(ops) - op_bytes([]) for ops in folded.values_list("ops", flat=True).iterator(chunk_size=2000)
        )
        folded.update(ops=[])
        # Reading the current text starts at the snapshot: it must not need a folded revision.
        Snapshot.objects.filter(document_id=document_id, revision__lt=through).update(revision=through, content=text)
        Document.objects.filter(pk=document_id).update(
            history_start=through, history_bytes=Greatest(F("history_bytes") - freed, 0)
        )
    return Compacted(start=through, revisions=through - start, freed_bytes=freed)


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
    return [TimelineRow(rev, user, created, *op_sizes(op)) for rev, user, created, op in rows]


def op_sizes(op: list) -> tuple[int, int]:
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
