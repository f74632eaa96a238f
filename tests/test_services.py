"""The commit path: transform, validation, exactly-once, and writers in several processes."""

import subprocess
from collections import Counter
import sys

import pytest

from editor import selectors, services
from editor.errors import BadBase, BadOp, TooLarge
from editor.models import Document, Operation

from .conftest import ROOT, server_env


@pytest.fixture
def ada(make_user):
    return make_user("ada")


def commit(doc, user, seq, base, ops, client="c"):
    return services.operation_commit(document_id=doc.pk, user=user, client=client, seq=seq, base=base, ops=ops)


def test_document_create_stores_initial_text_as_revision_one(ada):
    """Initial content is an op in the history, so every revision rebuilds."""
    doc = services.document_create(title="T", owner=ada, content="héllo 😀")
    assert (doc.revision, doc.content) == (1, "héllo 😀")
    assert selectors.document_at_revision(document_id=doc.pk, revision=1) == "héllo 😀"
    assert selectors.document_at_revision(document_id=doc.pk, revision=0) == ""


def test_stale_op_is_transformed_over_everything_since_its_base(ada):
    """An op made at an old base lands where its author meant it."""
    doc = services.document_create(title="T", owner=ada, content="abc")
    commit(doc, ada, 1, 1, [{"pos": 0, "insert": "123"}], client="x")
    commit(doc, ada, 2, 2, [{"pos": 5, "delete": 1}], client="x")  # deletes "c"
    result = commit(doc, ada, 1, 1, [{"pos": 2, "insert": "Z"}, {"pos": 3, "insert": "!"}], client="y")
    doc.refresh_from_db()
    assert doc.content == "123abZ!"
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
    with pytest.raises(BadOp, match="past end"):
        commit(doc, ada, 1, 1, [{"pos": 4, "insert": "x"}], client="late")
    with pytest.raises(BadBase):
        commit(doc, ada, 1, 9, [{"pos": 0, "insert": "x"}], client="late")
    doc.refresh_from_db()
    assert (doc.revision, doc.content) == (2, "abcdefg")


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
    assert (result.revision, result.ops, doc.content) == (3, [], "ac")


def test_writers_in_separate_processes_lose_nothing(transactional_db, ada):
    """Two processes with their own connections commit at once: every op lands once."""
    doc = services.document_create(title="T", owner=ada, content="start")
    count = 60
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.commit_worker", doc.pk, "ada", name, str(count)],
            cwd=ROOT, env=server_env(), stdout=subprocess.PIPE, text=True,
        )
        for name in ("p", "q")
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    revisions = sorted(int(line.split()[1]) for out in outputs for line in out.splitlines())
    assert revisions == list(range(2, 2 * count + 2))
    doc.refresh_from_db()
    assert doc.revision == 2 * count + 1
    assert selectors.document_at_revision(document_id=doc.pk, revision=doc.revision) == doc.content
    # Inserts land inside one another, so compare the multiset of characters.
    expected = "start" + "".join(f"<{n}{seq}>" for n in ("p", "q") for seq in range(1, count + 1))
    assert Counter(doc.content) == Counter(expected)


def test_rebase_breaks_ties_as_a_client_rebasing_op_by_op_does(ada):
    """The server rebases over each revision in turn, so it agrees with the sender's text."""
    doc = services.document_create(title="T", owner=ada, content="x")
    commit(doc, ada, 1, 1, [{"pos": 1, "insert": "Y"}], client="a")
    commit(doc, ada, 2, 2, [{"pos": 0, "delete": 1}], client="a")
    commit(doc, ada, 1, 1, [{"pos": 0, "insert": "C"}], client="b")
    # The sender rebases its pending op over revisions 2 and 3 one at a time.
    from editor import ot

    pending = [{"pos": 0, "insert": "C"}]
    text = "Cx"
    for committed in ([{"pos": 1, "insert": "Y"}], [{"pos": 0, "delete": 1}]):
        committed, pending = ot.transform(committed, pending)
        text = ot.apply(text, committed)
    doc.refresh_from_db()
    assert doc.content == text == "CY"


def test_createdocument_command_prints_the_new_id(ada, tmp_path):
    """manage.py createdocument makes a document owned by the user, with the file's text."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    source = tmp_path / "notes.txt"
    source.write_text("first line\nsecond 😀\n", encoding="utf-8")
    out = StringIO()
    call_command("createdocument", "Notes", owner="ada", content_file=source, stdout=out)
    doc = Document.objects.get(pk=out.getvalue().strip())
    assert (doc.title, doc.owner, doc.content, doc.revision) == ("Notes", ada, "first line\nsecond 😀\n", 1)
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
    assert (doc.revision, doc.content) == (3, "1abc2")
    assert selectors.document_at_revision(document_id=doc.pk, revision=3) == "1abc2"
