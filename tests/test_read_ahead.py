"""An op far behind the head is rebased from history read outside the write lock."""

import asyncio
import contextlib

import pytest
from django.db import connection

from editor.core import ot
from editor.domain import selectors, services
from editor.domain.errors import BadOp
from editor.models import Operation
from editor.realtime import dbthread
from editor.realtime.committer import Committer

S = services.Submission
OPS_TABLE = Operation._meta.db_table


@contextlib.contextmanager
def watched_queries():
    """Yields a list of (sql, inside a transaction) for every query run meanwhile."""
    seen: list[tuple[str, bool]] = []

    def watch(execute, sql, params, many, context):
        seen.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        yield seen


def history_reads(seen, *, inside: bool) -> list[str]:
    """The reads of a range of stored ops (the history), inside or outside the commit's
    transaction (not the lookup of one resent op by its seq)."""
    return [
        sql
        for sql, atomic in seen
        if atomic == inside
        and sql.startswith("SELECT")
        and OPS_TABLE in sql
        and '"ops"' in sql
        and '"revision" > %s' in sql
    ]


@pytest.fixture
def far_behind(ada, monkeypatch, settings):
    """A document at revision 13 whose state remembers only its last 3 revisions."""
    monkeypatch.setattr("editor.domain.state.RECENT_REVISIONS", 3)
    settings.COLLAB_CATCHUP_BATCH = 4
    doc = services.document_create(title="T", owner=ada, content="abc")
    state = services.document_state(document_id=doc.pk)
    for seq in range(1, 13):
        [done] = services.operations_commit(
            document_id=doc.pk,
            state=state,
            submissions=[S(user=ada, client="now", seq=seq, base=seq, ops=[{"pos": 1, "insert": chr(64 + seq)}])],
        )
        assert done.revision == seq + 1
    assert state.rev == 13 and state.ops_since(9) is None
    return doc, state


def expected_merge(doc, base: int, ops: list, through: int | None = None) -> tuple[list, str]:
    """The op rebased over every revision after ``base`` (through ``through``), one at a
    time, and the text it makes."""
    through = through or selectors.document_snapshot(document_id=doc.pk)[0]
    rows = Operation.objects.filter(document_id=doc.pk, revision__gt=base, revision__lte=through)
    rebased = ot.rebase(ops, list(rows.order_by("revision").values_list("ops", flat=True)))
    return rebased, ot.apply(selectors.document_at_revision(document_id=doc.pk, revision=through), rebased)


def test_a_far_behind_op_is_rebased_from_history_read_outside_the_lock(far_behind, ada):
    doc, state = far_behind
    ops = [{"pos": 1, "delete": 1}, {"pos": 2, "insert": "<late>"}]  # against "abc", revision 1
    merged_op, merged_text = expected_merge(doc, 1, ops)
    with watched_queries() as seen:
        [late] = services.operations_commit(
            document_id=doc.pk, state=state, submissions=[S(user=ada, client="late", seq=1, base=1, ops=ops)]
        )
    assert (late.revision, late.duplicate, late.ops) == (14, False, merged_op)
    assert selectors.document_snapshot(document_id=doc.pk) == (14, merged_text) and state.text == merged_text
    assert history_reads(seen, inside=True) == []  # nothing of the history is read under the lock
    # Read beforehand, COLLAB_CATCHUP_BATCH (4) revisions at a time, until the state remembers the rest.
    assert len(history_reads(seen, inside=False)) == 3


def test_revisions_committed_after_the_read_ahead_are_rebased_over_under_the_lock(far_behind, ada):
    doc, state = far_behind
    ops = [{"pos": 3, "insert": "!"}]
    late = S(user=ada, client="late", seq=1, base=1, ops=ops)
    more = True
    while more:
        late, more = services.submission_read_ahead(document_id=doc.pk, submission=late, state=state)
    assert late.ahead is not None and late.ahead.rev == 13
    # Another process commits meanwhile, then this one commits the op read ahead.
    services.operation_commit(
        document_id=doc.pk, user=ada, client="other", seq=1, base=13, ops=[{"pos": 0, "delete": 2}]
    )
    merged_op, merged_text = expected_merge(doc, 1, ops)
    with watched_queries() as seen:
        [result] = services.operations_commit(document_id=doc.pk, state=state, submissions=[late])
    assert (result.revision, result.ops) == (15, merged_op)
    assert selectors.document_snapshot(document_id=doc.pk) == (15, merged_text) and state.text == merged_text
    assert history_reads(seen, inside=False) == []  # already read ahead
    assert len(history_reads(seen, inside=True)) == 1  # the state catches up with the one it missed


def test_a_resend_of_a_far_behind_op_is_answered_with_its_original_revision(far_behind, ada):
    doc, state = far_behind
    op = S(user=ada, client="late", seq=1, base=1, ops=[{"pos": 0, "insert": "<"}])
    read_ahead, _ = services.submission_read_ahead(document_id=doc.pk, submission=op, state=state)
    assert read_ahead.ahead is not None
    first, again = services.operations_commit(document_id=doc.pk, state=state, submissions=[op, op])
    assert (first.revision, first.duplicate, again.revision, again.duplicate) == (14, False, 14, True)
    for seq in range(13, 18):  # the original falls out of the state's memory
        services.operations_commit(
            document_id=doc.pk,
            state=state,
            submissions=[S(user=ada, client="now", seq=seq, base=seq + 1, ops=[{"pos": 0, "insert": "."}])],
        )
    # A resend read ahead before the original landed, and one sent after: both are the original.
    with watched_queries() as seen:
        late, resent = services.operations_commit(document_id=doc.pk, state=state, submissions=[read_ahead, op])
    assert (
        (late.revision, late.duplicate, late.ops)
        == (resent.revision, resent.duplicate, resent.ops)
        == (
            14,
            True,
            first.ops,
        )
    )
    assert history_reads(seen, inside=False) == []  # a resend is not worth rebasing
    assert selectors.document_snapshot(document_id=doc.pk)[0] == 19


def test_a_far_behind_op_under_a_seq_below_its_clients_highest_is_still_read_ahead(far_behind, ada):
    """Seqs may skip: a seq not stored is a new op, however low, and is not rebased under the lock."""
    doc, state = far_behind
    [high] = services.operations_commit(
        document_id=doc.pk, state=state, submissions=[S(user=ada, client="late", seq=5, base=13, ops=[])]
    )
    assert high.revision == 14
    with watched_queries() as seen:
        [low] = services.operations_commit(
            document_id=doc.pk,
            state=state,
            submissions=[S(user=ada, client="late", seq=3, base=1, ops=[{"pos": 3, "insert": "!"}])],
        )
    assert (low.revision, low.duplicate) == (15, False)
    assert state.text == selectors.document_snapshot(document_id=doc.pk)[1] and str(state.text).endswith("bc!")
    assert history_reads(seen, inside=True) == []
    assert len(history_reads(seen, inside=False)) == 3


def test_a_far_behind_op_that_does_not_fit_its_base_is_refused_as_before(far_behind, ada):
    doc, state = far_behind
    [refused] = services.operations_commit(
        document_id=doc.pk,
        state=state,
        submissions=[S(user=ada, client="late", seq=1, base=1, ops=[{"pos": 2, "delete": 5}])],
    )
    # The op as sent, against the text at its base (not as it was rebased ahead).
    assert isinstance(refused, BadOp) and "delete past end of text (pos 2, delete 5, len 3)" in str(refused)
    assert selectors.document_snapshot(document_id=doc.pk)[0] == 13


# --- in a hub: the read ahead goes a batch at a time, others commit in between ----------


@pytest.fixture
async def db_thread(transactional_db):
    """The real-time path's database thread, closed after the test."""
    yield
    await asyncio.to_thread(dbthread.close)


async def test_a_hub_reads_ahead_a_batch_at_a_time_and_others_commit_meanwhile(db_thread, far_behind, ada, monkeypatch):
    doc, _ = far_behind
    published: list[int] = []

    async def publish(messages: list[dict]) -> None:
        published.extend(m["rev"] for m in messages)

    committer = Committer(doc.pk, publish=publish, on_failure=lambda: None)
    committer.state = await asyncio.to_thread(lambda: services.document_state(document_id=doc.pk))
    calls: list[str] = []
    run = dbthread.run

    async def recording_run(function, /, *args, **kwargs):
        calls.append(function.__name__)
        return await run(function, *args, **kwargs)

    monkeypatch.setattr("editor.realtime.committer.dbthread.run", recording_run)
    far_ops = [{"pos": 3, "insert": "<late>"}]
    far = asyncio.create_task(committer.commit(S(user=ada, client="late", seq=1, base=1, ops=far_ops)))
    await asyncio.sleep(0)  # the far-behind op starts reading ahead
    assert committer.busy
    near = await committer.commit(S(user=ada, client="now", seq=13, base=13, ops=[{"pos": 0, "insert": ">"}]))
    late = await far
    # The op at the head did not wait for the far-behind op's history to be read.
    assert (near.revision, late.revision, published) == (14, 15, [14, 15])
    assert calls.count("_read_ahead_batch") == 3 and calls.count("_commit_with_state") == 2
    assert calls.index("_commit_with_state") < len(calls) - 1 - calls[::-1].index("_read_ahead_batch")
    merged_op, merged_text = await asyncio.to_thread(lambda: expected_merge(doc, 1, far_ops, through=14))
    assert late.ops == merged_op
    snapshot = await asyncio.to_thread(lambda: selectors.document_snapshot(document_id=doc.pk))
    assert snapshot == (15, merged_text) and committer.state.text == merged_text
    assert not committer.busy
