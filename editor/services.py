"""Writes: the one path by which any edit becomes a revision.

``operation_commit`` runs in one transaction: lock the document, recognise a resent
submission, transform the op over everything committed since its base, validate it,
apply it, and store both the op and the new text. Stages are small functions so each
can be read (and later batched) on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import diff, fanout, ot, protocol, selectors
from .errors import BadBase, BadOp, CollabError, ReadOnly, TooLarge
from .models import Document, Membership, Operation
from .selectors import AccessDenied

log = logging.getLogger(__name__)

# A lost race is retried; more than this many in a row means something else is wrong.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Committed:
    """What a submission became: ``ops`` are as stored (transformed onto rev - 1)."""

    revision: int
    ops: list
    duplicate: bool = False


class CommitConflict(Exception):
    """The commit lost its race more often than ``MAX_ATTEMPTS``."""


@dataclass(frozen=True, slots=True)
class Submission:
    """One op waiting to be committed: who sent it, under which key, against which base."""

    user: AbstractBaseUser
    client: str
    seq: int
    base: int
    ops: list


def operation_commit(
    *,
    document_id: str,
    user: AbstractBaseUser,
    client: str,
    seq: int,
    base: int,
    ops: list,
) -> Committed:
    """Commit a parsed op (see :func:`editor.ot.parse`) made against revision ``base``.

    Exactly-once: a submission whose (user, client, seq) is already committed returns
    that revision with ``duplicate=True`` and changes nothing.
    """
    submission = Submission(user=user, client=client, seq=seq, base=base, ops=ops)
    [result] = operations_commit(document_id=document_id, submissions=[submission])
    if isinstance(result, Exception):
        raise result
    return result


def operations_commit(
    *, document_id: str, submissions: Sequence[Submission]
) -> list[Committed | CollabError | AccessDenied]:
    """Commit several waiting submissions to one document in one transaction.

    Group commit: the ops are rebased and applied in order, each over everything
    committed before it (including earlier ones of the batch), and the document's text
    is written once. A refused submission (its error is in its place in the result)
    writes nothing and does not hold back the others.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _commit_batch(document_id, submissions)
        except IntegrityError:
            # The transaction is rolled back by now (atomic exited), so a fresh try is
            # safe: either another writer took the revision, or one of these very
            # submissions landed through a parallel path and the retry will find it.
            log.info("commit to %s lost a race (attempt %d)", document_id, attempt)
    raise CommitConflict(f"could not commit to {document_id} after {MAX_ATTEMPTS} attempts")


def _commit_batch(document_id: str, submissions: Sequence[Submission]) -> list:
    results: list = []
    with transaction.atomic():
        document = _lock(document_id)
        start = document.revision
        for submission in submissions:
            try:
                results.append(_commit_one(document, submission))
            except (CollabError, AccessDenied) as exc:
                results.append(exc)
        if document.revision != start:
            Document.objects.filter(pk=document.pk).update(
                revision=document.revision, content=document.content, updated=timezone.now()
            )
    return results


def _commit_one(document: Document, submission: Submission) -> Committed:
    """Commit one submission inside the batch's transaction, updating ``document``."""
    user, client, seq, base = submission.user, submission.client, submission.seq, submission.base
    _authorise(document, user, seq=seq)
    earlier = _already_committed(document.pk, user, client, seq)
    if earlier is not None:
        return earlier
    if base > document.revision:
        raise BadBase(f"base {base} is ahead of the document's revision {document.revision}", seq=seq)
    op = _transform(document, base=base, ops=submission.ops, seq=seq)
    content = _apply(document.content, op, seq=seq)
    return _store(document, user=user, client=client, seq=seq, op=op, content=content)


def _lock(document_id: str) -> Document:
    # On PostgreSQL this row lock queues writers of one document; on SQLite the
    # IMMEDIATE transaction already holds the database's write lock.
    return (
        Document.objects.select_for_update()
        .only("id", "owner_id", "revision", "content")
        .get(pk=document_id)
    )


def _authorise(document: Document, user, *, seq: int) -> None:
    """Check the writer's role again, inside the transaction: it may have just changed."""
    if document.owner_id == user.pk:
        return
    role = (
        Membership.objects.filter(document_id=document.pk, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )
    if role == Membership.Role.EDITOR:
        return
    # Staff who may change documents in the admin may edit them from anywhere.
    if user.has_perm("editor.change_document"):
        return
    if role == Membership.Role.VIEWER:
        raise ReadOnly("viewers cannot edit this document", seq=seq)
    raise AccessDenied(document.pk)


def _already_committed(document_id: str, user, client: str, seq: int) -> Committed | None:
    row = (
        Operation.objects.filter(document_id=document_id, user=user, client=client, seq=seq)
        .values_list("revision", "ops")
        .first()
    )
    return Committed(revision=row[0], ops=row[1], duplicate=True) if row else None


def _transform(document: Document, *, base: int, ops: list, seq: int) -> list:
    """Rebase ``ops`` from ``base`` onto the document's current revision."""
    concurrent = list(
        Operation.objects.filter(document_id=document.pk, revision__gt=base)
        .order_by("revision")
        .values_list("ops", flat=True)
    )
    if len(concurrent) != document.revision - base:
        raise BadBase(f"the history after revision {base} is not kept", seq=seq)
    length_at_base = len(document.content) - sum(ot.length_delta(c) for c in concurrent)
    try:
        ot.check_range(ops, length_at_base)
    except ot.OperationError as exc:
        raise BadOp(str(exc), seq=seq) from None
    # One committed op at a time, as clients rebase their pending op: composing the
    # history first would lose where an insert stood relative to text deleted later,
    # and the server and the sender could then break a tie differently.
    for committed in concurrent:
        # The committed side is the first argument: its inserts win ties.
        ops = ot.transform(committed, ops)[1]
    return ops


def _apply(content: str, op: list, *, seq: int) -> str:
    try:
        new_content = ot.apply(content, op)
    except ot.OperationError as exc:  # pragma: no cover - transform keeps ops in range
        raise BadOp(str(exc), seq=seq) from None
    limit = settings.COLLAB_MAX_DOCUMENT_CHARS
    if len(new_content) > limit and len(new_content) > len(content):
        raise TooLarge(f"the document would exceed {limit} code points", seq=seq)
    return new_content


def _store(document: Document, *, user, client: str, seq: int, op: list, content: str) -> Committed:
    """Insert the op; the document row itself is written once per batch."""
    revision = document.revision + 1
    Operation.objects.create(
        document_id=document.pk, revision=revision, user=user, client=client, seq=seq, ops=op
    )
    document.revision, document.content = revision, content
    return Committed(revision=revision, ops=op)


def document_create(*, title: str, owner: AbstractBaseUser, content: str = "") -> Document:
    """Create a document; initial text becomes revision 1 so history rebuilds it."""
    ot.check_text(title, what="title")
    ot.check_text(content, what="content")
    with transaction.atomic():
        document = Document.objects.create(title=title, owner=owner)
        if content:
            operation_commit(
                document_id=document.pk,
                user=owner,
                client="create",
                seq=1,
                base=0,
                ops=[{"pos": 0, "insert": content}],
            )
            document.refresh_from_db()
    return document


# --- whole-text edits: the admin, scripts ---------------------------------------------


def document_replace_text(
    *, document_id: str, user: AbstractBaseUser, base: int, text: str, client: str
) -> Committed | None:
    """Make the text read ``text``, as edited by ``user`` against revision ``base``.

    The change from the text at ``base`` to ``text`` becomes one op (see
    :func:`editor.diff.text_diff`) committed by :func:`operation_commit` under
    (``user``, ``client``, seq 1): it is rebased over everything committed since
    ``base``, so nothing typed meanwhile is lost, and a resubmission with the same
    ``client`` is recognised. The revision is announced to open sockets once the
    transaction commits. Returns None when ``text`` is the text at ``base``.
    """
    try:
        ot.check_text(text, what="text")
    except ot.OperationError as exc:
        raise BadOp(str(exc)) from None
    head, content = selectors.document_snapshot(document_id=document_id)
    if not 0 <= base <= head:
        raise BadBase(f"base {base} is not a revision of the document (0 to {head})")
    # The history is immutable, so the text at base can be read outside any lock.
    if base == head:
        old = content
    else:
        old = selectors.document_at_revision(document_id=document_id, revision=base)
    return _text_change_commit(
        document_id=document_id, user=user, client=client, base=base, old=old, new=text
    )


def document_restore(
    *, document_id: str, user: AbstractBaseUser, revision: int, client: str
) -> Committed | None:
    """Make the text what it was at ``revision``, as one new revision by ``user``.

    The history is never rewritten: the difference from the current text is
    committed as one more op. The document stays locked from reading its current text
    to storing the op, so the result is exactly the old text even while people type.
    Returns None when the text already is the text at ``revision``.
    """
    head = selectors.document_head(document_id=document_id)
    if not 0 <= revision <= head:
        raise BadBase(f"revision {revision} is not a revision of the document (0 to {head})")
    target = selectors.document_at_revision(document_id=document_id, revision=revision)
    with transaction.atomic():
        document = _lock(document_id)
        return _text_change_commit(
            document_id=document_id,
            user=user,
            client=client,
            base=document.revision,
            old=document.content,
            new=target,
        )


def _text_change_commit(
    *, document_id: str, user, client: str, base: int, old: str, new: str
) -> Committed | None:
    ops = diff.text_diff(old, new, max_components=settings.COLLAB_MAX_COMPONENTS)
    if not ops:
        return None
    committed = operation_commit(
        document_id=document_id, user=user, client=client, seq=1, base=base, ops=ops
    )
    if not committed.duplicate:
        message = protocol.op_message(
            rev=committed.revision,
            client=client,
            seq=1,
            user_id=user.pk,
            user_name=user.get_username(),
            ops=committed.ops,
        )
        # Sockets must never hear of a revision that could still be rolled back.
        transaction.on_commit(lambda: fanout.publish_from_sync(document_id, message), robust=True)
    return committed
