"""The commit path: transform, validation, exactly-once, and writers in several processes."""

import asyncio
import contextlib
import datetime
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings as hypothesis_settings, strategies as st

from editor.core import diff, frames, ot
from editor.domain import commit as commit_path, selectors, services
from editor.domain.errors import BadBase, BadOp, DocumentNotFound, ReadOnly, TooLarge
from editor.models import Document, Membership, Operation, Snapshot

from .conftest import ROOT, server_env
from .test_ot import texts
from .waiting import eventually


def commit(doc, user, seq, base, ops, client="c"):
    return services.operation_commit(document_id=doc.pk, user=user, client=client, seq=seq, base=base, ops=ops)


@contextlib.contextmanager
def refused_op_inserts(error: Exception, times: int | None = None):
    """The database refuses to store ops: the insert into the operations table raises
    ``error`` (``times`` times, else every time), as a failing disk or another writer
    that took the revision would. Yields the parameters of each refused insert."""
    refused: list = []

    def refuse(execute, sql, params, many, context):
        inserts_ops = sql.startswith("INSERT INTO") and Operation._meta.db_table in sql
        if inserts_ops and (times is None or len(refused) < times):
            refused.append(params)
            raise error
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield refused


def test_document_create_stores_initial_text_as_revision_one(ada):
    """Initial content is an op in the history, so every revision rebuilds."""
    doc = services.document_create(title="T", owner=ada, content="héllo 😀")
    assert (doc.revision, selectors.document_text(doc)) == (1, "héllo 😀")
    assert selectors.document_at_revision(document_id=doc.pk, revision=1) == "héllo 😀"
    assert selectors.document_at_revision(document_id=doc.pk, revision=0) == ""


def test_a_batch_checks_every_writers_role_inside_its_transaction(ada, make_user):
    """Owner, editor and viewer in one batch: the owner edits whatever her own
    membership row says, the editor edits, the viewer is refused, and the refusal
    holds back no one else."""
    editor, viewer = make_user("grace"), make_user("linus")
    doc = services.document_create(title="T", owner=ada, content="abc")
    Membership.objects.create(document=doc, user=ada, role=Membership.Role.VIEWER)  # left over; she owns it
    Membership.objects.create(document=doc, user=editor, role=Membership.Role.EDITOR)
    Membership.objects.create(document=doc, user=viewer, role=Membership.Role.VIEWER)
    submissions = [
        services.Submission(user=user, client=name, seq=1, base=1, ops=[{"pos": 0, "insert": name}])
        for user, name in ((viewer, "v"), (ada, "o"), (editor, "e"))
    ]
    refused, owners, editors = services.operations_commit(document_id=doc.pk, submissions=submissions)
    assert isinstance(refused, ReadOnly) and refused.seq == 1
    assert (owners.revision, editors.revision) == (2, 3)
    doc.refresh_from_db()
    assert selectors.document_text(doc) == "oeabc"  # at one position, the op committed first comes first
    # Alone in its batch, each is decided the same way.
    [alone] = services.operations_commit(document_id=doc.pk, submissions=[submissions[0]])
    assert isinstance(alone, ReadOnly)
    Membership.objects.filter(document=doc, user=viewer).update(role=Membership.Role.EDITOR)
    [promoted] = services.operations_commit(document_id=doc.pk, submissions=[submissions[0]])
    assert promoted.revision == 4


def test_stale_op_is_transformed_over_everything_since_its_base(ada):
    """An op made at an old base lands where its author meant it."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    commit(doc, ada, 1, 1, [{"pos": 0, "insert": "123"}], client="x")
    commit(doc, ada, 2, 2, [{"pos": 5, "delete": 1}], client="x")  # deletes "c"
    result = commit(doc, ada, 1, 1, [{"pos": 2, "insert": "Z"}, {"pos": 3, "insert": "!"}], client="y")
    doc.refresh_from_db()
    assert selectors.document_text(doc) == "123abZ!"
    assert result.revision == 4 and result.ops == [{"pos": 5, "insert": "Z!"}]


def test_resubmission_returns_the_revision_it_became(ada):
    """Exactly-once: same (user, client, seq) is one revision, whatever its base now."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    first = commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}])
    commit(doc, ada, 2, 2, [{"pos": 0, "insert": "y"}])
    again = commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}])
    assert (again.revision, again.duplicate) == (first.revision, True)
    assert Operation.objects.filter(document=doc).count() == 3


def test_op_that_does_not_fit_its_base_changes_nothing(ada):
    """Ranges are checked against the text at the op's base, not the current one."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    commit(doc, ada, 1, 1, [{"pos": 3, "insert": "defg"}])
    with pytest.raises(BadOp, match=r"past end of text \(pos 4, len 3\)"):  # as the sender sees it
        commit(doc, ada, 1, 1, [{"pos": 4, "insert": "x"}], client="late")
    with pytest.raises(BadBase):
        commit(doc, ada, 1, 9, [{"pos": 0, "insert": "x"}], client="late")
    doc.refresh_from_db()
    assert (doc.revision, selectors.document_text(doc)) == (2, "abcdefg")


def test_document_size_limit_is_enforced(ada, settings):
    """An op that would grow the document past the limit is refused."""
    settings.COLLAB_MAX_DOCUMENT_CHARS = 5
    doc = services.document_create(title="T", owner=ada, content="abc")
    with pytest.raises(TooLarge):
        commit(doc, ada, 1, 1, [{"pos": 0, "insert": "xyz"}])
    assert commit(doc, ada, 1, 1, [{"pos": 0, "insert": "xy"}]).revision == 2


def test_moot_op_still_becomes_a_revision(ada):
    """Deleting what someone already deleted commits an empty op, so it can be acked."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    commit(doc, ada, 1, 1, [{"pos": 1, "delete": 1}], client="a")
    result = commit(doc, ada, 1, 1, [{"pos": 1, "delete": 1}], client="b")
    doc.refresh_from_db()
    assert (result.revision, result.ops, selectors.document_text(doc)) == (3, [], "ac")


def test_writers_in_separate_processes_lose_nothing(transactional_db, ada):
    """Two processes with their own connections commit at once: every op lands once."""
    doc = services.document_create(title="T", owner=ada, content="start")
    count = 60
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.commit_worker", doc.pk, "ada", name, str(count)],
            # Frequent snapshots: each is written by one process and read by the other.
            cwd=ROOT,
            env=server_env(COLLAB_SNAPSHOT_EVERY="7"),
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p", "q")
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    revisions = sorted(int(line.split()[1]) for out in outputs for line in out.splitlines())
    assert revisions == list(range(2, 2 * count + 2))
    doc.refresh_from_db()
    assert doc.revision == 2 * count + 1
    assert selectors.document_at_revision(document_id=doc.pk, revision=doc.revision) == selectors.document_text(doc)
    # Inserts land inside one another, so compare the multiset of characters.
    expected = "start" + "".join(f"<{n}{seq}>" for n in ("p", "q") for seq in range(1, count + 1))
    assert Counter(selectors.document_text(doc)) == Counter(expected)


def test_rebase_breaks_ties_as_a_client_rebasing_op_by_op_does(ada):
    """The server rebases over each revision in turn, so it agrees with the sender's text."""
    doc = services.document_create(title="T", owner=ada, content="x")
    commit(doc, ada, 1, 1, [{"pos": 1, "insert": "Y"}], client="a")
    commit(doc, ada, 2, 2, [{"pos": 0, "delete": 1}], client="a")
    commit(doc, ada, 1, 1, [{"pos": 0, "insert": "C"}], client="b")
    # The sender rebases its pending op over revisions 2 and 3 one at a time.
    from editor.core import ot

    pending = [{"pos": 0, "insert": "C"}]
    text = "Cx"
    for committed in ([{"pos": 1, "insert": "Y"}], [{"pos": 0, "delete": 1}]):
        committed, pending = ot.transform(committed, pending)
        text = ot.apply(text, committed)
    doc.refresh_from_db()
    assert selectors.document_text(doc) == text == "CY"


def test_createdocument_command_prints_the_new_id(ada, tmp_path):
    """manage.py createdocument makes a document owned by the user, with the file's text."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    source = tmp_path / "notes.txt"
    source.write_text("first line\nsecond 😀\n", encoding="utf-8")
    out = StringIO()
    call_command("createdocument", "Notes", owner="ada", content_file=source, stdout=out)
    doc = Document.objects.get(pk=out.getvalue().strip())
    assert (doc.title, doc.owner, selectors.document_text(doc), doc.revision) == (
        "Notes",
        ada,
        "first line\nsecond 😀\n",
        1,
    )
    with pytest.raises(CommandError, match="no user named"):
        call_command("createdocument", "X", owner="nobody")


def test_a_batch_commits_in_order_and_a_refused_op_holds_back_nothing(ada):
    """Group commit: each op rebases over those before it; errors take their place."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    S = services.Submission
    batch = [
        S(user=ada, client="a", seq=1, base=1, ops=[{"pos": 0, "insert": "1"}]),
        S(user=ada, client="b", seq=1, base=1, ops=[{"pos": 9, "insert": "x"}]),  # past the end
        S(user=ada, client="c", seq=1, base=1, ops=[{"pos": 3, "insert": "2"}]),  # rebased over a's
        S(user=ada, client="a", seq=1, base=1, ops=[{"pos": 0, "insert": "1"}]),  # a resend of a's
    ]
    results = services.operations_commit(document_id=doc.pk, submissions=batch)
    assert [type(r).__name__ for r in results] == ["Committed", "BadOp", "Committed", "Committed"]
    assert (results[0].revision, results[2].revision, results[2].ops) == (2, 3, [{"pos": 4, "insert": "2"}])
    assert (results[3].revision, results[3].duplicate) == (2, True)
    doc.refresh_from_db()
    assert (doc.revision, selectors.document_text(doc)) == (3, "1abc2")
    assert selectors.document_at_revision(document_id=doc.pk, revision=3) == "1abc2"


# --- the state a hub keeps between commits -----------------------------------------


def submit(doc, user, seq, base, ops, *, state, client="c"):
    S = services.Submission
    [result] = services.operations_commit(
        document_id=doc.pk, submissions=[S(user=user, client=client, seq=seq, base=base, ops=ops)], state=state
    )
    return result


def test_a_remembered_state_catches_up_with_commits_made_elsewhere(ada):
    """Another process (or the admin) committed meanwhile: the state reads only what it missed."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    state = services.document_state(document_id=doc.pk)
    assert (state.rev, state.text) == (1, "abc")
    commit(doc, ada, 1, 1, [{"pos": 3, "insert": "d"}], client="elsewhere")  # not through the state
    result = submit(doc, ada, 1, 1, [{"pos": 0, "insert": "X"}], state=state)
    assert (result.revision, state.rev, state.text) == (3, 3, "Xabcd")
    assert selectors.document_snapshot(document_id=doc.pk) == (3, "Xabcd")


def test_a_state_ahead_of_the_database_is_read_afresh(ada):
    """A state that claims more than the database holds (a restored backup) is rebuilt."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    state = services.document_state(document_id=doc.pk)
    state.extend([services.Entry(rev=2, ops=[{"pos": 0, "insert": "?"}], key=(0, "ghost"), seq=1)], "?abc")
    result = submit(doc, ada, 1, 1, [{"pos": 3, "insert": "!"}], state=state)
    assert (result.revision, state.text) == (2, "abc!")
    assert selectors.document_snapshot(document_id=doc.pk) == (2, "abc!")


def test_a_resend_is_recognised_by_a_state_that_never_saw_the_original(ada):
    doc = services.document_create(title="T", owner=ada, content="")
    first = commit(doc, ada, 1, 0, [{"pos": 0, "insert": "a"}], client="tab")
    state = services.document_state(document_id=doc.pk)
    again = submit(doc, ada, 1, 0, [{"pos": 0, "insert": "a"}], state=state, client="tab")
    assert (again.revision, again.duplicate) == (first.revision, True) == (1, True)
    new = submit(doc, ada, 2, 1, [{"pos": 1, "insert": "b"}], state=state, client="tab")
    assert (new.revision, new.duplicate, state.max_seq((ada.pk, "tab"))) == (2, False, 2)
    # A resend of an op older than the state's memory is found in the history.
    old = submit(doc, ada, 1, 0, [{"pos": 0, "insert": "a"}], state=state, client="tab")
    assert (old.revision, old.duplicate) == (1, True)
    assert selectors.document_snapshot(document_id=doc.pk) == (2, "ab")


def test_a_base_older_than_the_state_remembers_is_rebased_from_the_history(ada, monkeypatch):
    monkeypatch.setattr("editor.domain.state.RECENT_REVISIONS", 3)
    doc = services.document_create(title="T", owner=ada, content="")
    state = services.document_state(document_id=doc.pk)
    for seq in range(1, 8):
        submit(doc, ada, seq, seq - 1, [{"pos": seq - 1, "insert": str(seq)}], state=state)
    assert state.ops_since(1) is None  # forgotten by the state
    late = submit(doc, ada, 1, 1, [{"pos": 0, "insert": "<"}], state=state, client="late")
    assert late.revision == 8 and state.text == "<1234567"
    assert selectors.document_snapshot(document_id=doc.pk) == (8, "<1234567")


def test_snapshots_are_written_every_few_revisions_and_reads_replay_the_rest(ada, settings):
    settings.COLLAB_SNAPSHOT_EVERY = 5
    doc = services.document_create(title="T", owner=ada, content="x")
    state = services.document_state(document_id=doc.pk)
    for seq in range(1, 13):
        submit(doc, ada, seq, seq, [{"pos": seq, "insert": chr(96 + seq)}], state=state)
    doc.refresh_from_db()
    assert (doc.revision, doc.length) == (13, 13)
    assert (doc.snapshot.revision, doc.snapshot.content) == (10, "xabcdefghi")  # at multiples of 5
    assert selectors.document_text(doc) == state.text == "xabcdefghijkl"
    assert selectors.document_at_revision(document_id=doc.pk, revision=12) == "xabcdefghijk"
    assert selectors.document_at_revision(document_id=doc.pk, revision=9) == "xabcdefgh"
    assert selectors.document_at_revision(document_id=doc.pk, revision=4) == "xabc"


def test_a_rolled_back_batch_leaves_the_state_as_it_was(ada):
    doc = services.document_create(title="T", owner=ada, content="abc")
    state = services.document_state(document_id=doc.pk)

    with refused_op_inserts(RuntimeError("disk full")), pytest.raises(RuntimeError):
        submit(doc, ada, 1, 1, [{"pos": 0, "insert": "X"}], state=state)
    assert (state.rev, state.text) == (1, "abc")
    result = submit(doc, ada, 1, 1, [{"pos": 0, "insert": "Y"}], state=state)
    assert (result.revision, state.text) == (2, "Yabc")
    assert selectors.document_snapshot(document_id=doc.pk) == (2, "Yabc")


def test_the_same_op_twice_in_one_batch_commits_once(ada):
    doc = services.document_create(title="T", owner=ada, content="")
    S = services.Submission
    op = S(user=ada, client="tab", seq=1, base=0, ops=[{"pos": 0, "insert": "a"}])
    first, second = services.operations_commit(document_id=doc.pk, submissions=[op, op])
    assert (first.revision, first.duplicate, second.revision, second.duplicate) == (1, False, 1, True)
    assert selectors.document_snapshot(document_id=doc.pk) == (1, "a")


# --- every revision fits in one frame ---------------------------------------------------


@given(st.data())
@hypothesis_settings(max_examples=300, deadline=None)
def test_pieces_of_a_whole_text_change_committed_in_turn_make_the_new_text(data):
    """Pieces are each within the limits and, rebased over the ones before, rebuild the text."""
    old, new = data.draw(texts), data.draw(texts)
    max_components = data.draw(st.integers(2, 4))
    max_insert = data.draw(st.integers(1, 5))
    ops = diff.text_diff(old, new, max_components=100)
    pieces = services.op_pieces(ops, max_components=max_components, max_insert=max_insert)
    text, history = old, []
    for piece in pieces:
        assert 0 < len(piece) <= max_components
        assert sum(len(c.get("insert", "")) for c in piece) <= max_insert
        ot.check_range(piece, len(old))  # in positions of the text the change applies to
        rebased = ot.rebase(piece, history)
        text = ot.apply(text, rebased)
        history.append(rebased)
    assert text == new


def test_a_whole_text_change_too_large_for_one_op_is_several_revisions_all_or_none(ada, make_user, settings):
    """Within the insert limit each, rebased over a concurrent edit, and exactly once."""
    settings.COLLAB_MAX_INSERT_CHARS = 4
    settings.COLLAB_MAX_DOCUMENT_CHARS = 40
    bob = make_user("bob")
    doc = services.document_create(title="T", owner=ada, content="start")
    assert doc.revision == 2  # "star" and "t": the initial text is within the limits too
    Membership.objects.create(document=doc, user=bob, role=Membership.Role.EDITOR)
    commit(doc, bob, 1, 2, [{"pos": 0, "insert": ">"}], client="b")
    new = "start, then a longer ending"
    committed = services.document_replace_text(document_id=doc.pk, user=ada, base=2, text=new, client="form")
    doc.refresh_from_db()
    assert selectors.document_text(doc) == ">" + new
    stored = list(Operation.objects.filter(document=doc, revision__gt=3).order_by("revision"))
    assert [op.seq for op in stored] == [1, 2, 3, 4, 5, 6] and committed.revision == 9
    assert all(sum(len(c.get("insert", "")) for c in op.ops) <= 4 for op in stored)
    again = services.document_replace_text(document_id=doc.pk, user=ada, base=2, text=new, client="form")
    assert (again.revision, again.duplicate) == (9, True)
    with pytest.raises(TooLarge):  # the last piece would pass the size limit: none is kept
        services.document_replace_text(document_id=doc.pk, user=ada, base=9, text=new + "!" * 20, client="form2")
    doc.refresh_from_db()
    assert doc.revision == 9


def test_an_op_whose_message_would_not_fit_a_frame_is_refused(ada, settings):
    """Clients could never be sent such a revision, so it is never committed."""
    settings.COLLAB_MAX_FRAME_BYTES = frames.OP_MESSAGE_ROOM + 1000
    doc = services.document_create(title="T", owner=ada)
    with pytest.raises(TooLarge, match="in a message to other clients"):
        commit(doc, ada, 1, 0, [{"pos": 0, "insert": "\x01" * 200}])  # 1,200 bytes escaped
    assert commit(doc, ada, 1, 0, [{"pos": 0, "insert": "é" * 400}]).revision == 1  # 800 bytes
    doc.refresh_from_db()
    assert selectors.document_text(doc) == "é" * 400


def test_deleting_a_document_waits_for_a_commit_that_holds_it(ada):
    """A commit holding the document's lock adds an op while the document is being
    deleted: the delete waits for it and removes that op too, rather than failing on
    the foreign key (PostgreSQL; SQLite serialises its writers anyway)."""
    import threading

    from django.db import connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; the pass on PostgreSQL runs this")
    doc = services.document_create(title="T", owner=ada, content="a")
    locked = threading.Event()
    errors = []

    def commit_holding_the_lock():
        try:
            with transaction.atomic():
                Document.objects.select_for_update().filter(pk=doc.pk).get()
                Operation.objects.create(document_id=doc.pk, revision=2, user=ada, client="c", seq=1, ops=[])
                Document.objects.filter(pk=doc.pk).update(revision=2)
                locked.set()
                # Commit once the delete waits on a lock of ours (or after 10 s regardless).
                with connection.cursor() as cursor:

                    def delete_waits() -> bool:
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock'"
                        )
                        return bool(cursor.fetchone()[0])

                    with contextlib.suppress(AssertionError):
                        eventually(delete_waits, timeout=10, interval=0.01)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=commit_holding_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        assert services.documents_delete(document_ids=[doc.pk]) == 1
    finally:
        holder.join(15)
    assert errors == []
    assert not Document.objects.filter(pk=doc.pk).exists()
    assert not Operation.objects.filter(document_id=doc.pk).exists()


def test_an_op_older_than_the_state_is_rebased_over_the_ops_before_it_in_its_batch(ada, monkeypatch):
    """Rebased from the history, the op is rebased over the batch's earlier ops too."""
    monkeypatch.setattr("editor.domain.state.RECENT_REVISIONS", 3)
    doc = services.document_create(title="T", owner=ada, content="")
    state = services.document_state(document_id=doc.pk)
    for seq in range(1, 8):
        submit(doc, ada, seq, seq - 1, [{"pos": seq - 1, "insert": str(seq)}], state=state)
    S = services.Submission
    now, late = services.operations_commit(
        document_id=doc.pk,
        state=state,
        submissions=[
            S(user=ada, client="now", seq=1, base=7, ops=[{"pos": 0, "insert": "A"}]),
            S(user=ada, client="late", seq=1, base=1, ops=[{"pos": 0, "insert": "<"}]),  # forgotten base
        ],
    )
    assert (now.revision, late.revision) == (8, 9)
    assert late.ops == [{"pos": 1, "insert": "<"}]  # after "A": the committed side wins the tie
    assert selectors.document_snapshot(document_id=doc.pk) == (9, "A<1234567") and state.text == "A<1234567"


async def test_a_whole_text_change_is_announced_only_once_its_transaction_commits(ada):
    """The admin saves inside a transaction a later step may roll back: sockets must
    never hear of a revision that was rolled back."""
    from channels.layers import get_channel_layer
    from django.db import transaction

    from editor.realtime.bus import document_group

    layer = get_channel_layer()
    doc = services.document_create(title="T", owner=ada, content="abc")
    channel = await layer.new_channel()
    await layer.group_add(document_group(doc.pk), channel)
    try:
        with pytest.raises(RuntimeError, match="a later step failed"):
            with transaction.atomic():
                services.document_replace_text(document_id=doc.pk, user=ada, base=1, text="undone", client="form-1")
                raise RuntimeError("a later step failed")
        assert selectors.document_snapshot(document_id=doc.pk) == (1, "abc")
        services.document_replace_text(document_id=doc.pk, user=ada, base=1, text="abcd", client="form-2")
        heard = []
        while not any(m["client"] == "form-2" for m in heard):
            event = await asyncio.wait_for(layer.receive(channel), timeout=30)
            heard += [m for m in event["messages"] if m["client"] != "create"]  # the initial text
        assert [(m["rev"], m["client"], m["ops"]) for m in heard] == [(2, "form-2", [{"pos": 3, "insert": "d"}])]
    finally:
        await layer.group_discard(document_group(doc.pk), channel)


@pytest.mark.parametrize("losses", [services.MAX_ATTEMPTS - 1, services.MAX_ATTEMPTS])
def test_a_commit_that_loses_its_race_is_retried_up_to_a_limit(ada, losses):
    """Another writer took the revision (a unique-key violation): the whole commit is
    tried again, and after MAX_ATTEMPTS lost races it gives up, having written nothing."""
    from django.db import IntegrityError

    doc = services.document_create(title="T", owner=ada, content="abc")
    lost_race = IntegrityError("duplicate key value violates unique constraint")
    with refused_op_inserts(lost_race, times=losses) as refused:
        if losses < services.MAX_ATTEMPTS:
            assert commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}]).revision == 2
        else:
            with pytest.raises(services.CommitConflict):
                commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}])
    if losses < services.MAX_ATTEMPTS:
        assert selectors.document_snapshot(document_id=doc.pk) == (2, "xabc")
    else:
        assert selectors.document_snapshot(document_id=doc.pk) == (1, "abc")
    assert len(refused) == losses
    assert all(params[:2] == [doc.pk, 2] for params in refused)  # each try, again as revision 2


def test_a_revision_another_writer_stored_is_a_lost_race_that_leaves_the_connection_usable(ada):
    """A real unique-key violation, not an injected one: another writer stored revision
    2 and the document row does not show it yet. The commit's insert is refused by the
    database, which is the IntegrityError that makes it try again (on SQLite, with
    nothing watching the queries, from the driver's own cursor); after MAX_ATTEMPTS it
    gives up having written nothing, and the next commit on the same connection works."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    Operation.objects.create(document=doc, revision=2, user=ada, client="other", seq=1, ops=[])
    with pytest.raises(services.CommitConflict):
        commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}])
    doc.refresh_from_db()
    assert (doc.revision, doc.length) == (1, 3)
    assert not Operation.objects.filter(document=doc, client="c").exists()
    Operation.objects.filter(document=doc, client="other").delete()
    assert commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}]).revision == 2
    assert selectors.document_snapshot(document_id=doc.pk) == (2, "xabc")


def test_a_commits_statements_go_to_the_drivers_cursor_unless_someone_watches_the_queries(ada, monkeypatch):
    """On SQLite the commit's own statements skip Django's cursor while nothing watches
    the queries; an execute wrapper or a query log sees every one of them, and both
    ways store the same rows, timestamps included."""

    def watch(execute, sql, params, many, context):
        return execute(sql, params, many, context)

    sqlite = connection.vendor == "sqlite"
    with transaction.atomic(), commit_path._cursor() as (cursor, sql):
        assert isinstance(cursor, sqlite3.Cursor) is sqlite and sql.mark == ("?" if sqlite else "%s")
    with connection.execute_wrapper(watch), transaction.atomic(), commit_path._cursor() as (cursor, sql):
        assert not isinstance(cursor, sqlite3.Cursor) and sql.mark == "%s"

    used: list[type] = []  # the cursor of every statement group of the commits below
    real = commit_path._cursor

    @contextlib.contextmanager
    def noting():
        with real() as (cursor, sql):
            used.append(type(cursor))
            yield cursor, sql

    monkeypatch.setattr(commit_path, "_cursor", noting)
    ops = [[{"pos": 0, "insert": "é😀"}], [{"pos": 1, "delete": 2}, {"pos": 3, "insert": "x"}]]
    unwatched, watched = (services.document_create(title=t, owner=ada, content="abcd") for t in "UW")
    used.clear()  # their creation commits too
    for seq, op in enumerate(ops, start=1):
        commit(unwatched, ada, seq, seq, op)
    assert len(used) == 2 * len(ops) and all(issubclass(kind, sqlite3.Cursor) is sqlite for kind in used)
    used.clear()
    with CaptureQueriesContext(connection) as captured:
        for seq, op in enumerate(ops, start=1):
            commit(watched, ada, seq, seq, op)
    assert len(used) == 2 * len(ops) and not any(issubclass(kind, sqlite3.Cursor) for kind in used)
    seen = [query["sql"] for query in captured.captured_queries]
    tables = (Document._meta.db_table, Operation._meta.db_table)
    assert sum(q.startswith("SELECT") and f'FROM "{tables[0]}"' in q for q in seen) == len(ops)  # the lock
    assert sum(q.startswith(f'INSERT INTO "{tables[1]}"') for q in seen) == len(ops)
    assert sum(q.startswith(f'UPDATE "{tables[0]}"') for q in seen) == len(ops)

    def stored(doc):
        doc.refresh_from_db()
        rows = Operation.objects.filter(document=doc).order_by("revision")
        times = [doc.updated, *rows.values_list("created", flat=True)]
        assert all(abs(timezone.now() - at) < datetime.timedelta(minutes=5) for at in times)  # aware, not shifted
        return (doc.revision, doc.length, doc.history_bytes), list(rows.values_list("revision", "client", "seq", "ops"))

    assert stored(unwatched) == stored(watched)
    assert selectors.document_text(unwatched) == selectors.document_text(watched) == "ébcxd"


def test_a_commits_transaction_is_the_drivers_own_unless_watched_or_inside_another(ada):
    """On SQLite, with nothing watching the queries and no transaction open, the commit
    begins and ends its transaction on the driver: Django's connection stays in
    autocommit, outside any atomic block, while SQLite holds a transaction. Watched, or
    inside a caller's transaction, it is Django's atomic(), and so always on PostgreSQL."""
    sqlite = connection.vendor == "sqlite"

    def watch(execute, sql, params, many, context):
        return execute(sql, params, many, context)

    def inside() -> tuple[bool, bool]:
        """Whether Django's connection is in an atomic block, and whether its driver is
        in a transaction (after a query: psycopg begins one at the first)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        driver = connection.connection
        if sqlite:
            return connection.in_atomic_block, driver.in_transaction
        from psycopg.pq import TransactionStatus

        return connection.in_atomic_block, driver.info.transaction_status != TransactionStatus.IDLE

    with commit_path._transaction():
        assert inside() == ((False, True) if sqlite else (True, True))
    assert inside() == (False, False) and connection.get_autocommit()
    with connection.execute_wrapper(watch), commit_path._transaction():
        assert inside() == (True, True)
    with transaction.atomic():
        savepoints = len(connection.savepoint_ids)
        with commit_path._transaction():
            assert inside() == (True, True) and len(connection.savepoint_ids) == savepoints + 1
    assert inside() == (False, False) and connection.get_autocommit()


def assert_nothing_kept_and_the_connection_goes_on(doc, user, state) -> None:
    """After a failed first commit ("X" at 0) to ``doc`` ("abc" at revision 1): no
    transaction is left open, nothing of it is stored or remembered, and the next
    commit on the same connection lands."""
    assert not connection.in_atomic_block and connection.get_autocommit()
    if connection.vendor == "sqlite":
        assert not connection.connection.in_transaction
    doc.refresh_from_db()
    assert (doc.revision, doc.length, state.rev, state.text) == (1, 3, 1, "abc")
    assert not Operation.objects.filter(document=doc, client="c").exists()
    assert submit(doc, user, 1, 1, [{"pos": 0, "insert": "Y"}], state=state).revision == 2
    assert selectors.document_snapshot(document_id=doc.pk) == (2, "Yabc")


def test_a_failure_inside_the_commits_transaction_rolls_it_back_and_the_connection_goes_on(ada, monkeypatch):
    """The process stops (or anything fails) after the batch's rows are written but
    before the transaction commits: nothing of it is kept, nor remembered, and the next
    commit on the same connection begins a transaction of its own."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    state = services.document_state(document_id=doc.pk)
    store = commit_path._store

    def store_then_fail(*args):
        store(*args)  # the ops and the document row are written...
        raise KeyboardInterrupt  # ...and the transaction must not keep them

    monkeypatch.setattr(commit_path, "_store", store_then_fail)
    with pytest.raises(KeyboardInterrupt):
        submit(doc, ada, 1, 1, [{"pos": 0, "insert": "X"}], state=state)
    monkeypatch.undo()
    assert_nothing_kept_and_the_connection_goes_on(doc, ada, state)


@contextlib.contextmanager
def refused_commits():
    """The database refuses every transaction that stored an op, at its ``COMMIT``: a
    deferred constraint that each stored op breaks (on SQLite a foreign key of a
    temporary table, filled by a temporary trigger; on PostgreSQL a deferred
    constraint trigger), as a constraint checked at the end of the transaction would."""
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(Operation._meta.db_table)
        if connection.vendor == "sqlite":
            setup = [
                "CREATE TEMP TABLE refuse_parent (id INTEGER PRIMARY KEY)",
                "CREATE TEMP TABLE refuse_child (parent INTEGER REFERENCES refuse_parent (id)"
                " DEFERRABLE INITIALLY DEFERRED)",
                f"CREATE TEMP TRIGGER refuse_ops AFTER INSERT ON main.{table}"
                " BEGIN INSERT INTO refuse_child VALUES (-1); END",
            ]
            teardown = ["DROP TRIGGER refuse_ops", "DROP TABLE refuse_child", "DROP TABLE refuse_parent"]
        else:
            setup = [
                "CREATE FUNCTION refuse_ops() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE unique_violation USING MESSAGE = 'refused at commit'; END $$",
                f"CREATE CONSTRAINT TRIGGER refuse_ops AFTER INSERT ON {table}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_ops()",
            ]
            teardown = [f"DROP TRIGGER refuse_ops ON {table}", "DROP FUNCTION refuse_ops()"]
        for statement in setup:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in teardown:
                cursor.execute(statement)


def test_a_commit_the_database_refuses_at_its_end_is_rolled_back_and_the_connection_goes_on(ada):
    """A constraint checked when the transaction commits makes the ``COMMIT`` itself
    fail: it is rolled back and tried again as a lost race, nothing is kept, and the
    next commit on the same connection begins a transaction of its own."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    state = services.document_state(document_id=doc.pk)
    with refused_commits(), pytest.raises(services.CommitConflict):
        submit(doc, ada, 1, 1, [{"pos": 0, "insert": "X"}], state=state)
    assert_nothing_kept_and_the_connection_goes_on(doc, ada, state)


def test_a_missing_snapshot_is_written_again_by_the_batch_that_crosses_the_next_multiple(ada, settings):
    """The snapshot is written with one statement that inserts the row or replaces it."""
    settings.COLLAB_SNAPSHOT_EVERY = 3
    doc = services.document_create(title="T", owner=ada, content="x")
    Snapshot.objects.filter(document=doc).delete()
    state = services.document_state(document_id=doc.pk)
    for seq in range(1, 6):
        submit(doc, ada, seq, seq, [{"pos": seq, "insert": str(seq)}], state=state)
        if seq == 2:  # revision 3: the row is inserted
            assert Snapshot.objects.filter(document=doc).values_list("revision", "content").get() == (3, "x12")
    assert Snapshot.objects.filter(document=doc).values_list("revision", "content").get() == (6, "x12345")
    assert selectors.document_at_revision(document_id=doc.pk, revision=4) == "x123"


def test_restoring_brings_back_an_old_text_as_a_new_revision_and_refuses_one_never_made(ada):
    doc = services.document_create(title="T", owner=ada, content="abc")
    commit(doc, ada, 1, 1, [{"pos": 3, "insert": "d"}])
    restored = services.document_restore(document_id=doc.pk, user=ada, revision=1, client="restore")
    assert (restored.revision, restored.ops) == (3, [{"pos": 3, "delete": 1}])
    assert selectors.document_snapshot(document_id=doc.pk) == (3, "abc")
    for revision in (-1, 4):
        with pytest.raises(BadBase, match="not a revision of the document"):
            services.document_restore(document_id=doc.pk, user=ada, revision=revision, client=f"restore{revision}")
    assert selectors.document_snapshot(document_id=doc.pk) == (3, "abc")


def test_a_commit_to_a_deleted_document_is_refused_as_not_found(ada):
    """No document row to lock is the protocol's "no such document", not a server fault."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    Document.objects.filter(pk=doc.pk).delete()
    with pytest.raises(DocumentNotFound) as refused:
        commit(doc, ada, 1, 1, [{"pos": 0, "insert": "x"}])
    assert refused.value.close == 4404
    with pytest.raises(DocumentNotFound):
        selectors.document_snapshot(document_id=doc.pk)
