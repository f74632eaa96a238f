"""Writes: the one path by which any edit becomes a revision.

``operations_commit`` commits a batch of submissions to one document in one
transaction (``operation_commit`` is the batch of one): lock the document, authorise
each writer, recognise a resent submission, transform each op over everything committed
since its base, validate it, apply it, and store the ops and the new text. Stages are
small functions so each can be read on its own. A whole-text change (a form, a
restore) is cut into ops and announced once committed (:mod:`editor.domain.events`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..core import diff, frames, ot
from ..core.text import Text
from ..models import CompactJSONEncoder, Document, Membership, Operation, Snapshot
from . import events, selectors
from .errors import BadBase, BadOp, DocumentNotFound, ReadOnly, Refusal, TooLarge
from .roles import decide_role, edits_every_document
from .state import RECENT_REVISIONS, DocumentState, Entry, Pending

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
    """Commit a parsed op (see :func:`editor.core.ot.parse`) made against revision ``base``.

    Exactly-once: a submission whose (user, client, seq) is already committed returns
    that revision with ``duplicate=True`` and changes nothing.
    """
    submission = Submission(user=user, client=client, seq=seq, base=base, ops=ops)
    [result] = operations_commit(document_id=document_id, submissions=[submission])
    if isinstance(result, Exception):
        raise result
    return result


def operations_commit(
    *,
    document_id: str,
    submissions: Sequence[Submission],
    state: DocumentState | None = None,
) -> list[Committed | Refusal]:
    """Commit several waiting submissions to one document in one transaction.

    Group commit: the ops are rebased and applied in order, each over everything
    committed before it (including earlier ones of the batch), stored with one insert,
    and the document row is written once. A refused submission (its error is in its
    place in the result) writes nothing and does not hold back the others.

    ``state`` is the caller's memory of the document (a hub keeps one per document):
    it is checked against the locked row, caught up or rebuilt when another writer
    committed meanwhile, and extended once the transaction has committed. Without it,
    the text is read from the database for this call alone.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _commit_batch(document_id, submissions, state)
        except IntegrityError:
            # The transaction is rolled back by now (atomic exited), so a fresh try is
            # safe: either another writer took the revision, or one of these very
            # submissions landed through a parallel path and the retry will find it.
            log.info("commit to %s lost a race (attempt %d)", document_id, attempt)
    raise CommitConflict(f"could not commit to {document_id} after {MAX_ATTEMPTS} attempts")


def document_state(*, document_id: str) -> DocumentState:
    """The document as a hub starts out remembering it (see :mod:`editor.domain.state`)."""
    return _read_state(document_id, through=None)


class Head(NamedTuple):
    """The locked document row, as far as a commit needs it."""

    id: str
    owner_id: int
    revision: int


def _commit_batch(document_id: str, submissions: Sequence[Submission], state: DocumentState | None) -> list:
    results: list = []
    with transaction.atomic():
        head, roles = _lock(document_id, {submission.user.pk for submission in submissions})
        pending = Pending(_synced(state, head))
        for submission in submissions:
            try:
                results.append(_commit_one(head, pending, roles, submission))
            except Refusal as exc:
                results.append(exc)
        if pending.entries:
            _store(head, pending)
    pending.commit()  # only now: a rolled-back batch leaves the state as it was
    return results


def _commit_one(head: Head, pending: Pending, roles: dict, submission: Submission) -> Committed:
    """Commit one submission on top of the batch so far."""
    user, seq, base = submission.user, submission.seq, submission.base
    _authorise(head, roles, user, seq=seq)
    key = (user.pk, submission.client)
    earlier = _already_committed(head, pending, key, seq)
    if earlier is not None:
        return earlier
    if base > pending.rev:
        raise BadBase(f"base {base} is ahead of the document's revision {pending.rev}", seq=seq)
    op = _transform(head, pending, base=base, ops=submission.ops, seq=seq)
    _check_frame(op, seq=seq)
    text = _apply(pending.text, op, seq=seq)
    entry = pending.add(ops=op, key=key, seq=seq, text=text)
    return Committed(revision=entry.rev, ops=op)


def _lock(document_id: str, user_ids: frozenset[int] | set[int] = frozenset()) -> tuple[Head, dict[int, str]]:
    """Lock the document row; return it and the role of each of ``user_ids``.

    Written out in SQL because it runs once per batch on the hottest path. On
    PostgreSQL the row lock queues writers of one document; on SQLite the IMMEDIATE
    transaction already holds the write lock. The roles are read by a statement of their
    own, after the lock is held: under PostgreSQL's READ COMMITTED, a statement that
    waited for a row lock re-reads the locked row but not the rows it joined, so a join
    could return roles as they were before the wait.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_q('owner_id')}, {_q('revision')} FROM {_q(Document._meta.db_table)} WHERE {_q('id')} = %s{lock}",
            [document_id],
        )
        row = cursor.fetchone()
        if row is None:
            raise DocumentNotFound(document_id)  # deleted: its sockets close with 4404
        head = Head(document_id, *row)
        roles: dict[int, str] = {head.owner_id: Membership.Role.EDITOR}
        others = sorted(user_ids - roles.keys())
        if others:
            cursor.execute(
                f"SELECT {_q('user_id')}, {_q('role')} FROM {_q(Membership._meta.db_table)}"
                f" WHERE {_q('document_id')} = %s AND {_q('user_id')} IN ({', '.join(['%s'] * len(others))})",
                [document_id, *others],
            )
            roles.update(cursor.fetchall())
    return head, roles


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _synced(state: DocumentState | None, head: Head) -> DocumentState:
    """``state`` brought to the locked revision, or a state read afresh."""
    if state is not None and state.rev == head.revision:
        return state
    if state is not None and 0 <= head.revision - state.rev <= RECENT_REVISIONS:
        state.catch_up(_entries(head.id, after=state.rev, through=head.revision))
        return state
    # Cold, or too far behind (or ahead, after a restore): read it afresh.
    fresh = _read_state(head.id, through=head.revision)
    if state is None:
        return fresh
    state.replace(fresh)
    return state


def _read_state(document_id: str, *, through: int | None) -> DocumentState:
    """The snapshot and the revisions after it (through ``through`` when given).

    The snapshot's text and revision come from its one row, and the history is
    immutable: the reads agree with each other whether or not the document is locked.
    """
    at, content = Snapshot.objects.filter(document_id=document_id).values_list("revision", "content").first() or (0, "")
    if through is not None and at > through:  # pragma: no cover - snapshots are written under the lock
        raise CommitConflict(f"the snapshot of {document_id} is ahead of revision {through}")
    state = DocumentState(rev=at, text=content)
    state.catch_up(_entries(document_id, after=at, through=through))
    return state


def _entries(document_id: str, *, after: int, through: int | None) -> list[Entry]:
    """Stored revisions after ``after`` (through ``through`` when given), as the state keeps them."""
    rows = Operation.objects.filter(document_id=document_id, revision__gt=after)
    if through is not None:
        rows = rows.filter(revision__lte=through)
    entries = [
        Entry(rev=r, ops=o, key=(u, c), seq=s)
        for r, o, u, c, s in rows.order_by("revision").values_list("revision", "ops", "user_id", "client", "seq")
    ]
    last = through if through is not None else after + len(entries)
    if len(entries) != last - after or (entries and entries[-1].rev != last):
        raise CommitConflict(f"revisions {after + 1} to {last} of {document_id} are not all stored")
    return entries


def _authorise(head: Head, roles: dict[int, str], user, *, seq: int) -> None:
    """Check the writer's role again, inside the transaction: it may have just changed."""
    role = decide_role(
        document_id=head.id,
        owner_id=head.owner_id,
        user_id=user.pk,
        membership=roles.get(user.pk),
        edits_every_document=lambda: edits_every_document(user),
    )
    if role != Membership.Role.EDITOR:
        raise ReadOnly("viewers cannot edit this document", seq=seq)


def _already_committed(head: Head, pending: Pending, key: tuple[int, str], seq: int) -> Committed | None:
    """The revision a resent submission already became, if it did.

    Seqs only grow per client, so a seq above the highest one committed is new
    without a lookup; the highest is read from the history once per client.
    """
    known = pending.max_seq(key)
    if known is None:
        known = (
            Operation.objects.filter(document_id=head.id, user_id=key[0], client=key[1])
            .order_by("-seq")
            .values_list("seq", flat=True)
            .first()
        ) or 0
        pending.state.learn_seq(key, known)
    if seq > known:
        return None
    entry = pending.find(key, seq)
    if entry is not None:
        return Committed(revision=entry.rev, ops=entry.ops, duplicate=True)
    row = (
        Operation.objects.filter(document_id=head.id, user_id=key[0], client=key[1], seq=seq)
        .values_list("revision", "ops")
        .first()
    )
    return Committed(revision=row[0], ops=row[1], duplicate=True) if row else None


def _transform(head: Head, pending: Pending, *, base: int, ops: list, seq: int) -> list:
    """Rebase ``ops`` from ``base`` onto the batch's current revision."""
    concurrent = pending.ops_since(base)
    if concurrent is None:  # older than the state keeps: read from the history
        stored = list(
            Operation.objects.filter(document_id=head.id, revision__gt=base, revision__lte=pending.state.rev)
            .order_by("revision")
            .values_list("ops", flat=True)
        )
        if len(stored) != pending.state.rev - base:
            raise BadBase(f"the history after revision {base} is not kept", seq=seq)
        concurrent = stored + pending.ops_since(pending.state.rev)  # type: ignore[operator]  # never None at state.rev
    length_at_base = len(pending.text) - sum(ot.length_delta(c) for c in concurrent)
    try:
        ot.check_range(ops, length_at_base)
    except ot.OperationError as exc:
        raise BadOp(str(exc), seq=seq) from None
    # One committed op at a time, as clients rebase their pending op: composing the
    # history first would lose where an insert stood relative to text deleted later,
    # and the server and the sender could then break a tie differently. The committed
    # side wins ties.
    return ot.rebase(ops, concurrent)


def _check_frame(op: list, *, seq: int) -> None:
    """Refuse an op whose `op` message could not be sent to the other clients.

    A frame within the limit can carry an op whose rebased form, in a message with more
    fields, is not; committed, no client could ever be sent that revision.
    """
    max_frame = settings.COLLAB_MAX_FRAME_BYTES
    size = frames.op_size_over_limit(op, max_frame=max_frame)
    if size is not None:
        limit = frames.op_bytes_limit(max_frame)
        raise TooLarge(f"the op would take {size:,} bytes in a message to other clients; at most {limit:,}", seq=seq)


def _apply(content: Text, op: list, *, seq: int) -> Text:
    try:
        new_content = content.apply(op) if op else content
    except ot.OperationError as exc:  # pragma: no cover - transform keeps ops in range
        raise BadOp(str(exc), seq=seq) from None
    limit = settings.COLLAB_MAX_DOCUMENT_CHARS
    if len(new_content) > limit and len(new_content) > len(content):
        raise TooLarge(f"the document would exceed {limit} code points", seq=seq)
    return new_content


def _store(head: Head, pending: Pending) -> None:
    """Insert the batch's ops with one statement and write the document row once.

    Written out in SQL for the same reason as :func:`_lock` (the ORM's bulk insert
    cost more than SQLite's work). The whole text is written only every
    ``COLLAB_SNAPSHOT_EVERY`` revisions: a keystroke in a large document does not
    rewrite it.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    columns = ("document_id", "revision", "user_id", "client", "seq", "ops", "created")
    values: list[Any] = []
    for entry in pending.entries:
        ops = connection.ops.adapt_json_value(entry.ops, CompactJSONEncoder)  # UTF-8, not \u escapes
        values += [head.id, entry.rev, entry.key[0], entry.key[1], entry.seq, ops, now]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    fields = {"revision": pending.rev, "length": len(pending.text), "updated": now}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_q(Operation._meta.db_table)} ({', '.join(map(_q, columns))})"
            f" VALUES {', '.join([row] * len(pending.entries))}",
            values,
        )
        cursor.execute(
            f"UPDATE {_q(Document._meta.db_table)} SET {', '.join(f'{_q(k)} = %s' for k in fields)}"
            f" WHERE {_q('id')} = %s",
            [*fields.values(), head.id],
        )
    # The batch that crosses a multiple of COLLAB_SNAPSHOT_EVERY writes the snapshot:
    # revisions are numbered in one sequence, so exactly one batch crosses each.
    every = settings.COLLAB_SNAPSHOT_EVERY
    if pending.rev // every > pending.state.rev // every:
        Snapshot.objects.update_or_create(
            document_id=head.id, defaults={"revision": pending.rev, "content": str(pending.text)}
        )


def document_create(*, title: str, owner: AbstractBaseUser, content: str = "") -> Document:
    """Create a document; initial text becomes revision 1 (and on, for a text too
    large for one op) so history rebuilds it."""
    ot.check_text(title, what="title")
    ot.check_text(content, what="content")
    with transaction.atomic():
        document = Document.objects.create(title=title, owner=owner)  # type: ignore[misc]  # any user model
        if content:
            _pieces_commit(
                document_id=document.pk, user=owner, client="create", base=0, ops=[{"pos": 0, "insert": content}]
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


# --- whole-text edits: the admin, scripts ---------------------------------------------


def document_replace_text(
    *, document_id: str, user: AbstractBaseUser, base: int, text: str, client: str
) -> Committed | None:
    """Make the text read ``text``, as edited by ``user`` against revision ``base``.

    The change from the text at ``base`` to ``text`` becomes one op (see
    :func:`editor.core.diff.text_diff`) committed by :func:`operation_commit` under
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
    return _text_change_commit(document_id=document_id, user=user, client=client, base=base, old=old, new=text)


def document_restore(*, document_id: str, user: AbstractBaseUser, revision: int, client: str) -> Committed | None:
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
        current = _synced(None, _lock(document_id)[0])
        return _text_change_commit(
            document_id=document_id,
            user=user,
            client=client,
            base=current.rev,
            old=str(current.text),
            new=target,
        )


def _text_change_commit(*, document_id: str, user, client: str, base: int, old: str, new: str) -> Committed | None:
    ops = diff.text_diff(old, new, max_components=settings.COLLAB_MAX_COMPONENTS)
    if not ops:
        return None
    return _pieces_commit(document_id=document_id, user=user, client=client, base=base, ops=ops)


def _pieces_commit(*, document_id: str, user, client: str, base: int, ops: list) -> Committed:
    """Commit ``ops`` (made against ``base``) as the pieces of :func:`op_pieces`, seq 1,
    2, ... under ``client``, all or none, in one transaction; the last piece's result.

    Each piece is rebased over everything before it, earlier pieces included, as if
    they were concurrent: pieces are in positions of the text at ``base``, in order, so
    that is exactly what puts each where it belongs.
    """
    pieces = op_pieces(
        ops,
        max_components=settings.COLLAB_MAX_COMPONENTS,
        max_insert=frames.op_insert_limit(
            max_frame=settings.COLLAB_MAX_FRAME_BYTES,
            max_components=settings.COLLAB_MAX_COMPONENTS,
            max_insert=settings.COLLAB_MAX_INSERT_CHARS,
        ),
    )
    submissions = [
        Submission(user=user, client=client, seq=seq, base=base, ops=piece) for seq, piece in enumerate(pieces, 1)
    ]
    with transaction.atomic():
        results = operations_commit(document_id=document_id, submissions=submissions)
        for result in results:
            if isinstance(result, Exception):
                raise result  # and every piece before it is rolled back
    commits = cast(list[Committed], results)  # none is an exception: it was raised above
    for seq, committed in enumerate(commits, 1):
        if committed.duplicate:
            continue
        revision = selectors.Revision(
            rev=committed.revision,
            user_id=user.pk,
            user_name=user.get_username(),
            client=client,
            seq=seq,
            ops=committed.ops,
        )
        # Sockets must never hear of a revision that could still be rolled back.
        transaction.on_commit(
            lambda revision=revision: events.announce_revision_committed(document_id=document_id, revision=revision),  # type: ignore[misc]  # mypy cannot type a default-bound lambda
            robust=True,
        )
    return commits[-1]


def op_pieces(ops: list, *, max_components: int, max_insert: int) -> list[list]:
    """Cut a sequential op into ops within the limits on components and inserted code
    points, each in positions of the text the whole op applies to.

    Committed in order, each rebased over the ones before as over concurrent edits,
    they make the same text as ``ops`` (the committed side wins ties, so the pieces of
    one insert stay in order). ``ops`` must move forward: each component at or after
    where the one before left off, as :func:`editor.core.diff.text_diff` makes them.
    """
    pieces: list[list] = []
    piece: list = []
    budget = max_insert
    shift = 0  # how much the components before the current piece changed the length
    moved = 0  # ... and before the current component

    def cut() -> None:
        nonlocal piece, budget, shift
        pieces.append(piece)
        piece, budget, shift = [], max_insert, moved

    for comp in ops:
        if "delete" in comp:
            if len(piece) == max_components:
                cut()
            piece.append({"pos": comp["pos"] - shift, "delete": comp["delete"]})
            moved -= comp["delete"]
            continue
        text, pos = comp["insert"], comp["pos"]
        while text:
            if len(piece) == max_components or budget == 0:
                cut()
            part, text = text[:budget], text[budget:]
            piece.append({"pos": pos - shift, "insert": part})
            budget -= len(part)
            pos += len(part)
            moved += len(part)
    if piece:
        pieces.append(piece)
    return pieces
