"""The commit path: the one way by which any edit becomes a revision.

``operations_commit`` commits a batch of submissions to one document in one
transaction (``operation_commit`` is the batch of one): lock the document, authorise
each writer, recognise a resent submission, transform each op over everything committed
since its base, validate it, apply it, and store the ops and the new text. Stages are
small functions so each can be read on its own; whole-text changes built on top of
them are in :mod:`editor.domain.edits`. An op older than the caller's state remembers
is rebased over the history before the transaction (:func:`submission_read_ahead`),
so the lock is never held while a long history is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone

from ..core import frames, ot
from ..core.text import Text
from ..models import CompactJSONEncoder, Document, Membership, Operation, Snapshot, op_bytes
from .errors import BadBase, BadOp, DocumentNotFound, HistoryFolded, RateLimited, ReadOnly, Refusal, TooLarge
from .roles import decide_role, edits_every_document
from .state import RECENT_REVISIONS, DocumentState, Entry, Pending

log = logging.getLogger(__name__)

# A lost race is retried; more than this many in a row means something else is wrong.
MAX_ATTEMPTS = 5
# How long a client waits before sending again an insert refused for a full history.
HISTORY_FULL_RETRY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Committed:
    """What a submission became: ``ops`` are as stored (transformed onto rev - 1)."""

    revision: int
    ops: list
    duplicate: bool = False


class CommitConflict(Exception):
    """The commit lost its race more often than ``MAX_ATTEMPTS``."""


@dataclass(frozen=True, slots=True)
class Ahead:
    """A submission's op rebased before its commit, outside the lock (see
    :func:`submission_read_ahead`): over the stored revisions after its base through
    ``rev``, which changed the text's length by ``delta``. ``ops`` is None when the op
    did not fit the text at its base (its commit refuses it)."""

    rev: int
    ops: list | None
    delta: int


@dataclass(frozen=True, slots=True)
class Submission:
    """One op waiting to be committed: who sent it, under which key, against which base.

    ``ahead`` is the op already rebased over part of what followed its base; the
    commit still decides on ``seq`` and ``base``, and rebases from ``ahead.rev`` on."""

    user: AbstractBaseUser
    client: str
    seq: int
    base: int
    ops: list
    ahead: Ahead | None = None


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

    A submission whose base is older than ``state`` remembers is first rebased over the
    history outside the transaction (:func:`submission_read_ahead`), so the lock is held
    only to rebase it over the few revisions committed since that read.

    Group commit: the ops are rebased and applied in order, each over everything
    committed before it (including earlier ones of the batch), stored with one insert,
    and the document row is written once. A refused submission (its error is in its
    place in the result) writes nothing and does not hold back the others.

    ``state`` is the caller's memory of the document (a hub keeps one per document):
    it is checked against the locked row, caught up or rebuilt when another writer
    committed meanwhile, and extended once the transaction has committed. Without it,
    the text is read from the database for this call alone.
    """
    if state is not None:
        submissions = [_read_ahead_all(document_id, submission, state) for submission in submissions]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _commit_batch(document_id, submissions, state)
        except IntegrityError:
            # The transaction is rolled back by now (its block exited), so a fresh try is
            # safe: either another writer took the revision, or one of these very
            # submissions landed through a parallel path and the retry will find it.
            log.info("commit to %s lost a race (attempt %d)", document_id, attempt)
    raise CommitConflict(f"could not commit to {document_id} after {MAX_ATTEMPTS} attempts")


def submission_read_ahead(
    *, document_id: str, submission: Submission, state: DocumentState, revisions: int | None = None
) -> tuple[Submission, bool]:
    """Rebase a submission older than ``state`` remembers over the next stored revisions.

    A plain read, outside any transaction's lock (on PostgreSQL and on SQLite in WAL
    mode it does not wait for writers nor hold them up): the history is immutable, so
    what it reads is what the commit would read under the lock. At most ``revisions``
    (``COLLAB_CATCHUP_BATCH``) are read and held at once. Returns the submission, with
    :attr:`Submission.ahead` moved on, and whether more remain to be read before
    ``state`` remembers the rest. A submission that may be a resend is left alone: its
    commit answers it with the revision it already became.
    """
    start = submission.ahead.rev if submission.ahead is not None else submission.base
    if not _far_behind(start, state) or _maybe_resent(document_id, submission, state):
        return submission, False
    batch = revisions or settings.COLLAB_CATCHUP_BATCH
    rows = list(
        Operation.objects.filter(document_id=document_id, revision__gt=start, revision__lte=start + batch)
        .order_by("revision")
        .values_list("revision", "ops")
    )
    if not rows or rows[0][0] != start + 1 or rows[-1][0] != start + len(rows):
        return submission, False  # not all stored: the commit refuses it as it would have
    history = [ops for _, ops in rows]
    ahead = submission.ahead or Ahead(rev=submission.base, ops=list(submission.ops), delta=0)
    ops = ahead.ops
    if ops is not None:
        try:
            ops = ot.rebase(ops, history)
        except ot.OperationError:  # out of range at its base: the commit says where
            ops = None
    ahead = Ahead(rev=rows[-1][0], ops=ops, delta=ahead.delta + sum(ot.length_delta(op) for op in history))
    return dataclasses.replace(submission, ahead=ahead), len(rows) == batch and _far_behind(ahead.rev, state)


def _read_ahead_all(document_id: str, submission: Submission, state: DocumentState) -> Submission:
    more = True
    while more:
        submission, more = submission_read_ahead(document_id=document_id, submission=submission, state=state)
    return submission


def _far_behind(base: int, state: DocumentState) -> bool:
    """Whether rebasing from ``base`` needs revisions ``state`` no longer remembers."""
    return base < state.rev and not state.keeps(base)


def _maybe_resent(document_id: str, submission: Submission, state: DocumentState) -> bool:
    """Whether ``submission`` is already committed: then it is not worth rebasing ahead.

    Seqs only grow per client, so one above the highest committed is new without a
    lookup; any other is looked up exactly (a client may skip seqs, and a seq below
    the highest that is not stored is a new op all the same)."""
    key = (submission.user.pk, submission.client)
    known = state.max_seq(key)
    if known is not None and submission.seq > known:
        return False
    return Operation.objects.filter(document_id=document_id, user_id=key[0], client=key[1], seq=submission.seq).exists()


def document_state(*, document_id: str) -> DocumentState:
    """The document as a hub starts out remembering it (see :mod:`editor.domain.state`)."""
    return _read_state(document_id, through=None)


def locked_state(*, document_id: str) -> DocumentState:
    """Lock the document (inside the caller's transaction) and read it as it now is,
    read afresh: nothing else can commit to it until that transaction ends."""
    return _synced(None, _lock(document_id)[0])


class Head(NamedTuple):
    """The locked document row, as far as a commit needs it."""

    id: str
    owner_id: int
    revision: int
    history_bytes: int
    history_start: int


class HistoryBudget:
    """The bytes of history a batch may still add (``COLLAB_HISTORY_MAX_BYTES``), and those it added."""

    def __init__(self, head: Head) -> None:
        self.used = head.history_bytes
        self.added = 0
        self.limit = settings.COLLAB_HISTORY_MAX_BYTES

    def spend(self, op: list, *, seq: int) -> None:
        """Count ``op``, or refuse it when it inserts text and would take the history over the budget.

        An op that only deletes is always taken, so people can still remove text from a
        full document; what such ops add is bounded by the text there is to delete.
        """
        size = op_bytes(op)
        over = self.limit and self.used + self.added + size > self.limit
        if over and any("insert" in component for component in op):
            # Retryable, like the other budgets: the clients keep the edit and send it
            # again every minute, so it lands once the operator has freed the history.
            raise RateLimited(
                f"this document's history is full ({self.used + self.added:,} of {self.limit:,} bytes): "
                "nothing was saved yet; ask the operator to free it",
                seq=seq,
                retry_after=HISTORY_FULL_RETRY_SECONDS,
            )
        self.added += size


def _commit_batch(document_id: str, submissions: Sequence[Submission], state: DocumentState | None) -> list:
    results: list = []
    with _transaction():
        head, roles = _lock(document_id, {submission.user.pk for submission in submissions})
        pending = Pending(_synced(state, head))
        history = HistoryBudget(head)
        for submission in submissions:
            try:
                results.append(_commit_one(head, pending, roles, submission, history))
            except Refusal as exc:
                results.append(exc)
        if pending.entries:
            _store(head, pending, history)
    pending.commit()  # only now: a rolled-back batch leaves the state as it was
    return results


def _commit_one(head: Head, pending: Pending, roles: dict, submission: Submission, history: HistoryBudget) -> Committed:
    """Commit one submission on top of the batch so far."""
    user, seq, base = submission.user, submission.seq, submission.base
    _authorise(head, roles, user, seq=seq)
    key = (user.pk, submission.client)
    earlier = _already_committed(head, pending, key, seq)
    if earlier is not None:
        return earlier
    if base > pending.rev:
        raise BadBase(f"base {base} is ahead of the document's revision {pending.rev}", seq=seq)
    if base < head.history_start and pending.ops_since(base) is None:  # its stored ops are emptied
        raise HistoryFolded(f"the history before revision {head.history_start} was compacted", seq=seq)
    op = _transform(head, pending, submission)
    _check_frame(op, seq=seq)
    text = _apply(pending.text, op, seq=seq)
    history.spend(op, seq=seq)
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
    with _cursor() as (cursor, sql):
        cursor.execute(sql.lock, [document_id])
        row = cursor.fetchone()
        if row is None:
            raise DocumentNotFound(document_id)  # deleted: its sockets close with 4404
        head = Head(document_id, *row)
        roles: dict[int, str] = {head.owner_id: Membership.Role.EDITOR}
        others = sorted(user_ids - roles.keys())
        if others:
            cursor.execute(f"{sql.roles}({', '.join([sql.mark] * len(others))})", [document_id, *others])
            roles.update(cursor.fetchall())
    return head, roles


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


class Statements(NamedTuple):
    """The commit path's SQL for one database vendor and parameter style, built once
    (see :func:`_lock`, :func:`_store`)."""

    lock: str  # the document row, locked
    roles: str  # the roles of some users, up to the list of their ids
    insert: str  # the batch's ops, up to the rows of values
    update: str  # the document row after the batch
    snapshot: str  # the document's snapshot, written or rewritten
    columns: int  # values per inserted row
    mark: str  # a parameter's placeholder


OPERATION_COLUMNS = ("document_id", "revision", "user_id", "client", "seq", "ops", "created")
DOCUMENT_FIELDS = ("revision", "length", "history_bytes", "updated")
SNAPSHOT_COLUMNS = ("document_id", "revision", "content")


@functools.cache
def _statements(vendor: str, mark: str) -> Statements:
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return Statements(
        lock=f"SELECT {_q('owner_id')}, {_q('revision')}, {_q('history_bytes')}, {_q('history_start')}"
        f" FROM {_q(Document._meta.db_table)} WHERE {_q('id')} = {mark}{lock}",
        roles=f"SELECT {_q('user_id')}, {_q('role')} FROM {_q(Membership._meta.db_table)}"
        f" WHERE {_q('document_id')} = {mark} AND {_q('user_id')} IN ",
        insert=f"INSERT INTO {_q(Operation._meta.db_table)} ({', '.join(map(_q, OPERATION_COLUMNS))}) VALUES ",
        update=f"UPDATE {_q(Document._meta.db_table)} SET {', '.join(f'{_q(k)} = {mark}' for k in DOCUMENT_FIELDS)}"
        f" WHERE {_q('id')} = {mark}",
        # ON CONFLICT is SQLite's (3.24+) and PostgreSQL's: one statement where the ORM's
        # update_or_create takes two, and opens an atomic block of its own.
        snapshot=f"INSERT INTO {_q(Snapshot._meta.db_table)} ({', '.join(map(_q, SNAPSHOT_COLUMNS))})"
        f" VALUES ({mark}, {mark}, {mark}) ON CONFLICT ({_q('document_id')}) DO UPDATE"
        f" SET {_q('revision')} = excluded.{_q('revision')}, {_q('content')} = excluded.{_q('content')}",
        columns=len(OPERATION_COLUMNS),
        mark=mark,
    )


@contextlib.contextmanager
def _cursor() -> Iterator[tuple[Any, Statements]]:
    """A cursor for the commit path's own statements, and the statements in its parameter style.

    On SQLite, while nothing watches the queries (:func:`_on_driver`), the driver's
    own cursor on Django's connection: the same transaction, and database errors
    translated as Django's cursor translates them (a lost race is still an
    ``IntegrityError``), without Django's wrapping of each statement, which costs more
    than SQLite's work on these few rows (about a sixth of a commit's CPU:
    docs/performance.md, step 20).
    Otherwise, and on other databases, Django's cursor, so that whoever watches sees
    every statement. A tool that patches Django's cursor class itself (some
    tracing agents do) does not see these statements on SQLite.
    """
    db = connections[DEFAULT_DB_ALIAS]  # `connection` looks it up again at every attribute
    if _on_driver(db):
        db.validate_no_broken_transaction()
        db.ensure_connection()
        with db.wrap_database_errors:
            cursor = db.connection.cursor()
            try:
                yield cursor, _statements(db.vendor, "?")
            finally:
                with contextlib.suppress(sqlite3.Error):  # as Django's cursor closes
                    cursor.close()
    else:
        with db.cursor() as cursor:
            yield cursor, _statements(db.vendor, "%s")


def _on_driver(db: Any) -> bool:
    """Whether the commit may talk to SQLite's driver directly: nothing watches the
    queries (no execute wrapper, no query log as under DEBUG or ``assertNumQueries``)."""
    return db.vendor == "sqlite" and not db.execute_wrappers and not db.queries_logged


@contextlib.contextmanager
def _transaction() -> Iterator[None]:
    """The commit's transaction: committed when the block ends, rolled back if it raises.

    On SQLite, while nothing watches the queries and the connection is in autocommit
    outside any atomic block (as on a hub's database thread), begun and ended on the
    driver of Django's connection, with errors translated as Django translates them:
    Django's ``atomic()`` sends its ``BEGIN`` through Django's cursor and, once
    committed, sets the driver's autocommit again, about 20 µs more a commit, 7–8 %
    of its CPU (docs/performance.md, step 21). Django does not know of this
    transaction, so the block holds the commit path's own statements and reads alone:
    nothing in it opens an atomic block (SQLite would refuse it: "cannot start a
    transaction within a transaction") or registers ``on_commit`` hooks. Otherwise
    ``atomic()``: a savepoint inside the caller's transaction (a whole-text change's),
    or a transaction of its own.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if not _on_driver(db) or not db.get_autocommit():  # in autocommit: in no atomic block
        with transaction.atomic():
            yield
        return
    driver = db.connection  # connected by get_autocommit()
    with db.wrap_database_errors:
        driver.execute(f"BEGIN {db.transaction_mode or 'DEFERRED'}")  # type: ignore[attr-defined]  # SQLite's
    try:
        yield
        with db.wrap_database_errors:
            driver.commit()
    except BaseException:
        try:
            if driver.in_transaction:  # SQLite may have ended it already (a full disk)
                driver.rollback()
        except sqlite3.Error:  # as atomic() does: closed, so the next query reconnects
            db.close()
        raise


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


def _transform(head: Head, pending: Pending, submission: Submission) -> list:
    """Rebase the submission's op onto the batch's current revision: from its base, or
    from where it was rebased ahead to (then only over what was committed since)."""
    seq, ahead = submission.seq, submission.ahead
    if ahead is not None and ahead.rev > pending.rev:  # the history went back (a restored backup)
        ahead = None
    start = submission.base if ahead is None else ahead.rev
    concurrent = _concurrent(head, pending, start, seq)
    length = pending.length_at(start)
    if length is None:  # older than the state keeps: from what was read
        length = len(pending.text) - sum(ot.length_delta(c) for c in concurrent)
    try:
        # The op as it was sent, against the text at its base.
        ot.check_range(submission.ops, length if ahead is None else length - ahead.delta)
    except ot.OperationError as exc:
        raise BadOp(str(exc), seq=seq) from None
    ops = submission.ops if ahead is None else ahead.ops
    if ops is None:  # pragma: no cover - an op that fits its base rebases
        raise BadOp("the op could not be rebased", seq=seq)
    # One committed op at a time, as clients rebase their pending op: composing the
    # history first would lose where an insert stood relative to text deleted later,
    # and the server and the sender could then break a tie differently. The committed
    # side wins ties.
    return ot.rebase(ops, concurrent, pending.traces_since(start, concurrent))


def _concurrent(head: Head, pending: Pending, base: int, seq: int) -> list[list]:
    """The ops committed after ``base``, this batch's included: from the state, else
    (older than it remembers) read from the history."""
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
    return concurrent


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


def _store(head: Head, pending: Pending, history: HistoryBudget) -> None:
    """Insert the batch's ops with one statement and write the document row once.

    Written out in SQL for the same reason as :func:`_lock` (the ORM's bulk insert
    cost more than SQLite's work). The whole text is written only every
    ``COLLAB_SNAPSHOT_EVERY`` revisions: a keystroke in a large document does not
    rewrite it.
    """
    ops = connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    values: list[Any] = []
    for entry in pending.entries:
        encoded = ops.adapt_json_value(entry.ops, CompactJSONEncoder)  # UTF-8, not \u escapes
        values += [head.id, entry.rev, entry.key[0], entry.key[1], entry.seq, encoded, now]
    # The batch that crosses a multiple of COLLAB_SNAPSHOT_EVERY writes the snapshot:
    # revisions are numbered in one sequence, so exactly one batch crosses each.
    every = settings.COLLAB_SNAPSHOT_EVERY
    snapshot = pending.rev // every > pending.state.rev // every
    with _cursor() as (cursor, sql):
        row = "(" + ", ".join([sql.mark] * sql.columns) + ")"
        cursor.execute(sql.insert + ", ".join([row] * len(pending.entries)), values)
        cursor.execute(sql.update, [pending.rev, len(pending.text), head.history_bytes + history.added, now, head.id])
        if snapshot:
            cursor.execute(sql.snapshot, [head.id, pending.rev, str(pending.text)])
