"""The in-memory document state a hub keeps between commits (pure, no database)."""

import pytest

from editor.core import ot
from editor.domain import state as state_module
from editor.domain.state import RECENT_REVISIONS, DocumentState, Entry, Pending


def entry(rev: int, ops: list, key=(1, "c"), seq: int = 1) -> Entry:
    return Entry(rev=rev, ops=ops, key=key, seq=seq)


def test_ops_since_covers_only_what_is_kept():
    state = DocumentState(
        rev=2, text="ab", recent=[entry(1, [{"pos": 0, "insert": "a"}]), entry(2, [{"pos": 1, "insert": "b"}])]
    )
    assert state.ops_since(2) == []
    assert state.ops_since(1) == [[{"pos": 1, "insert": "b"}]]
    assert state.ops_since(0) == [[{"pos": 0, "insert": "a"}], [{"pos": 1, "insert": "b"}]]
    assert state.ops_since(3) is None  # ahead
    fresh = DocumentState(rev=5, text="hello")
    assert fresh.ops_since(5) == [] and fresh.ops_since(4) is None


def test_recent_revisions_are_bounded():
    state = DocumentState(rev=0, text="")
    text = ""
    for rev in range(1, RECENT_REVISIONS + 11):
        text += "x"
        state.extend([entry(rev, [{"pos": rev - 1, "insert": "x"}], seq=rev)], text)
    assert state.rev == RECENT_REVISIONS + 10
    assert state.ops_since(9) is None  # revision 10 is forgotten
    assert len(state.ops_since(10)) == RECENT_REVISIONS


def test_extend_refuses_a_gap():
    state = DocumentState(rev=3, text="abc")
    with pytest.raises(ValueError):
        state.extend([entry(5, [])], "abc")


def test_catch_up_replays_revisions_committed_elsewhere():
    state = DocumentState(rev=1, text="abc")
    state.catch_up([entry(2, [{"pos": 3, "insert": "d"}]), entry(3, []), entry(4, [{"pos": 0, "delete": 1}])])
    assert (state.rev, state.text) == (4, "bcd")
    assert state.ops_since(1) == [[{"pos": 3, "insert": "d"}], [], [{"pos": 0, "delete": 1}]]


def test_seqs_are_known_only_once_learned_and_then_follow_commits():
    state = DocumentState(rev=0, text="")
    key = (7, "tab")
    assert state.max_seq(key) is None
    state.catch_up([entry(1, [{"pos": 0, "insert": "a"}], key=key, seq=4)])
    assert state.max_seq(key) is None  # unknown stays unknown: the history knows older seqs
    state.learn_seq(key, 4)
    state.catch_up([entry(2, [{"pos": 0, "insert": "b"}], key=key, seq=5)])
    assert state.max_seq(key) == 5
    state.learn_seq(key, 2)  # never goes back
    assert state.max_seq(key) == 5


def test_pending_batch_changes_nothing_until_committed():
    state = DocumentState(rev=1, text="a", recent=[entry(1, [{"pos": 0, "insert": "a"}])])
    key = (1, "c")
    state.learn_seq(key, 1)
    pending = Pending(state)
    pending.add(ops=[{"pos": 1, "insert": "b"}], key=key, seq=2, text="ab")
    pending.add(ops=[{"pos": 2, "insert": "c"}], key=(2, "d"), seq=1, text="abc")
    assert (pending.rev, pending.text) == (3, "abc")
    assert pending.max_seq(key) == 2 and pending.find(key, 2).rev == 2 and pending.find(key, 1) is None
    assert pending.ops_since(0) == [
        [{"pos": 0, "insert": "a"}],
        [{"pos": 1, "insert": "b"}],
        [{"pos": 2, "insert": "c"}],
    ]
    assert pending.ops_since(2) == [[{"pos": 2, "insert": "c"}]]
    # Not committed (rolled back): the state is as it was.
    assert (state.rev, state.text, state.max_seq(key)) == (1, "a", 1)
    pending.commit()
    assert (state.rev, state.text, state.max_seq(key)) == (3, "abc", 2)
    assert state.max_seq((2, "d")) is None


def test_replace_keeps_known_seqs():
    state = DocumentState(rev=9, text="stale")
    state.learn_seq((1, "c"), 3)
    state.replace(DocumentState(rev=4, text="fresh"))
    assert (state.rev, state.text, state.max_seq((1, "c"))) == (4, "fresh", 3)
    assert state.ops_since(3) is None


def test_state_text_matches_replaying_its_revisions():
    ops = [[{"pos": 0, "insert": "hello"}], [{"pos": 5, "insert": " 😀"}], [{"pos": 1, "delete": 2}], []]
    state = DocumentState(rev=0, text="")
    state.catch_up([entry(i + 1, op, seq=i + 1) for i, op in enumerate(ops)])
    text = ""
    for op in ops:
        text = ot.apply(text, op) if op else text
    assert state.text == text == "hlo 😀"


def _typed_state() -> tuple[DocumentState, list[str]]:
    """A state keeping revisions 3 to 8 of a text typed and edited in turn; the texts
    at revisions 2 to 8."""
    texts = ["ab"]
    ops_by_rev: list[list] = [
        [{"pos": 0, "insert": "xyz"}],
        [{"pos": 1, "delete": 2}, {"pos": 2, "insert": "q"}],
        [{"pos": 0, "insert": "1"}, {"pos": 3, "insert": "22"}],
        [{"pos": 2, "delete": 3}],
        [{"pos": 1, "insert": "long insert"}, {"pos": 14, "delete": 1}],
        [],
    ]
    entries = []
    for rev, ops in enumerate(ops_by_rev, start=3):
        texts.append(ot.apply(texts[-1], ops))
        entries.append(entry(rev, ops, seq=rev))
    return DocumentState(rev=8, text=texts[-1], recent=entries), texts


def test_a_batch_knows_the_text_length_at_every_kept_revision_as_summing_the_ops_would():
    state, texts = _typed_state()
    pending = Pending(state)
    for rev, ops in ((9, [{"pos": 0, "insert": "++"}]), (10, [{"pos": 3, "delete": 4}])):
        text = pending.text.apply(ops)
        pending.add(ops=ops, key=(2, "d"), seq=rev, text=text)
        texts.append(str(text))
    for rev in range(2, 11):
        summed = len(pending.text) - sum(ot.length_delta(ops) for ops in pending.ops_since(rev))
        assert pending.length_at(rev) == summed == len(texts[rev - 2])
    assert pending.length_at(1) is None  # older than the state keeps: the caller reads and sums
    assert pending.length_at(2) == len(texts[0])  # asked again: from what the batch worked out


def test_a_batch_converts_each_longer_revision_to_a_trace_once():
    state, _texts = _typed_state()
    pending = Pending(state)
    first = pending.traces_since(3, pending.ops_since(3))
    assert list(first) == [None if len(ops) < 2 else ot.to_trace(ops) for ops in pending.ops_since(3)]
    again = pending.traces_since(4, pending.ops_since(4))
    assert again[0] is first[1] is not None  # revision 5: the same trace, not converted again
    assert again[-1] is first[-1] and len(again) == len(first) - 1
    with pytest.raises(IndexError):
        again[len(again)]
    with pytest.raises(IndexError):
        again[-len(again) - 1]
    op = [{"pos": 4, "insert": "k"}, {"pos": 6, "delete": 2}]
    assert ot.rebase(op, pending.ops_since(3), first) == ot.rebase(op, pending.ops_since(3))


def test_a_batch_keeps_no_traces_of_revisions_older_than_the_state_keeps():
    """Those come from the history, for an op from far back: rebase converts them as it goes."""
    state, _texts = _typed_state()
    pending = Pending(state)
    older = [[{"pos": 0, "insert": "a"}, {"pos": 2, "insert": "b"}]]  # revision 2, as read back
    assert state.oldest == 2  # it keeps revisions 3 to 8
    traces = pending.traces_since(1, older + pending.ops_since(2))
    assert traces[0] is None and traces[2] == ot.to_trace(pending.ops_since(3)[0])


def test_what_the_revisions_after_a_base_added_stays_right_as_the_oldest_are_forgotten(monkeypatch):
    """``added_since`` is one subtraction of running totals kept beside the revisions:
    those totals must be forgotten with them, and follow a state that is replaced."""
    monkeypatch.setattr(state_module, "RECENT_REVISIONS", 5)
    texts = ["hello"]
    state = DocumentState(rev=1, text=texts[0])
    for rev, ops in enumerate(
        [
            [{"pos": 0, "insert": "ab"}],
            [{"pos": 1, "delete": 3}],
            [{"pos": 0, "insert": "xyz"}, {"pos": 5, "delete": 1}],
            [{"pos": 2, "insert": "long one"}],
            [],
            [{"pos": 0, "delete": 4}],
            [{"pos": 1, "insert": "q"}],
            [{"pos": 3, "delete": 2}, {"pos": 0, "insert": "!!"}],
        ],
        start=2,
    ):
        texts.append(ot.apply(texts[-1], ops))
        state.extend([entry(rev, ops, seq=rev)], texts[-1])
        for base in range(1, rev + 1):
            expected = len(texts[-1]) - len(texts[base - 1]) if base >= state.oldest else None
            assert state.added_since(base) == expected, (rev, base)
    assert state.oldest == 4
    assert len(state._added_before) == 5  # forgotten with their revisions: the state stays bounded
    other = DocumentState(rev=1, text="")
    other.replace(state)
    assert [other.added_since(base) for base in range(3, 10)] == [None] + [
        len(texts[-1]) - len(texts[base - 1]) for base in range(4, 10)
    ]
