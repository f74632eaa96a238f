"""Whole-text diffs as ops, newline conventions, and op descriptions."""

import time

import pytest
from hypothesis import given, settings, strategies as st

from editor.core import ot
from editor.core.diff import describe_op, match_newlines, text_diff

ALPHABET = st.sampled_from(["a", "b", " ", "\n", "😀", "é", "\u0301", "中", ".", "\r"])
TEXTS = st.lists(ALPHABET, max_size=60).map("".join)


def deleted(op):
    return sum(c["delete"] for c in op if "delete" in c)


def inserted(op):
    return sum(len(c["insert"]) for c in op if "insert" in c)


@pytest.mark.parametrize(
    ("old", "new", "op"),
    [
        ("abc", "abc", []),
        ("", "hi", [{"pos": 0, "insert": "hi"}]),
        ("hi", "", [{"pos": 0, "delete": 2}]),
        ("abcd", "abXcd", [{"pos": 2, "insert": "X"}]),
        ("hello world", "hello", [{"pos": 5, "delete": 6}]),
        ("aXb", "aYb", [{"pos": 1, "delete": 1}, {"pos": 1, "insert": "Y"}]),
        ("😀😀", "😀é😀", [{"pos": 1, "insert": "é"}]),
        ("aaa", "aaaa", [{"pos": 3, "insert": "a"}]),
    ],
)
def test_a_single_change_becomes_exactly_the_code_points_that_differ(old, new, op):
    """One contiguous change: at most a delete and an insert, of nothing more than differs."""
    assert text_diff(old, new) == op


def test_changes_on_separate_lines_stay_separate():
    """Edits far apart become separate components, so text between them is untouched."""
    old = "The quick fox\njumps\nover the dog\n"
    new = "The slow fox\njumps high\nover the dog\n"
    assert text_diff(old, new) == [
        {"pos": 4, "delete": 5},
        {"pos": 4, "insert": "slow"},
        {"pos": 18, "insert": " high"},
    ]


def test_a_changed_word_is_replaced_whole_not_letter_by_letter():
    """Within a changed line the diff works on words, not on stray common letters."""
    op = text_diff("say hello now", "say world now")
    assert op == [{"pos": 4, "delete": 5}, {"pos": 4, "insert": "world"}]


@settings(max_examples=300, deadline=None)
@given(old=TEXTS, new=TEXTS)
def test_applying_the_diff_to_the_old_text_gives_the_new_text(old, new):
    """Law: apply(old, text_diff(old, new)) == new, and the op is a valid wire op."""
    op = text_diff(old, new)
    assert ot.apply(old, op) == new
    assert op == [] if old == new else ot.parse(op) == op


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, start=st.integers(0, 60), cut=st.integers(0, 10), paste=TEXTS)
def test_a_single_edit_never_touches_more_than_it_changed(text, start, cut, paste):
    """After one splice, the diff deletes and inserts no more than the splice did."""
    start = min(start, len(text))
    cut = min(cut, len(text) - start)
    new = text[:start] + paste + text[start + cut :]
    op = text_diff(text, new)
    assert ot.apply(text, op) == new
    assert deleted(op) <= cut and inserted(op) <= len(paste)


@settings(max_examples=100, deadline=None)
@given(old=TEXTS, new=TEXTS, most=st.integers(2, 6))
def test_many_changes_are_merged_to_fit_the_component_limit(old, new, most):
    """The op never holds more components than allowed, and still turns old into new."""
    op = text_diff(old, new, max_components=most)
    assert len(op) <= most
    assert ot.apply(old, op) == new


def test_many_scattered_changes_merge_the_closest_first():
    """With room for two changes, the two nearest of three are merged, the far one stays."""
    old = "a" + "-" * 10 + "b" + "-" * 2 + "c"
    new = "A" + "-" * 10 + "B" + "-" * 2 + "C"
    op = text_diff(old, new, max_components=4)
    assert op[:2] == [{"pos": 0, "delete": 1}, {"pos": 0, "insert": "A"}]
    assert op[2:] == [{"pos": 11, "delete": 4}, {"pos": 11, "insert": "B--C"}]


def test_a_large_text_with_one_change_is_diffed_quickly():
    """Two megabyte-sized texts differing in one spot: one small op, no quadratic work."""
    old = "line of text\n" * 150_000
    new = old[:1_000_000] + "INSERTED" + old[1_000_000:]
    assert text_diff(old, new) == [{"pos": 1_000_000, "insert": "INSERTED"}]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("y\n" * 50_000, "x\n" * 50_000),
        ("a\nb\n" * 50_000, "b\na\n" * 50_000),
        ("x\n" * 499_000 + "y\n" * 1_000, "x\n" * 500_000),
        ("the a b " * 40_000, "the a b " * 20_000 + "b a the " * 20_000),
    ],
    ids=["all lines differ", "interleaved", "repeated lines", "repeated words"],
)
def test_repetitive_texts_are_diffed_in_near_linear_time(old, new):
    """Texts made of few distinct lines or words, where difflib alone goes quadratic."""
    started = time.perf_counter()
    op = text_diff(old, new)
    assert ot.apply(old, op) == new
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    ("submitted", "like", "expected"),
    [
        ("a\r\nb\r\n", "a\nb\n", "a\nb\n"),
        ("a\r\nb", "x\r\ny\r\n", "a\r\nb"),
        ("a\nb", "x\r\ny\r\n", "a\r\nb"),
        ("a\r\nb", "x\r\ny\n", "a\nb"),
        ("a\rb", "", "a\nb"),
        ("no breaks", "x\r\n", "no breaks"),
    ],
)
def test_submitted_line_breaks_follow_the_documents_convention(submitted, like, expected):
    """Browsers send CRLF; the text keeps LF unless every break of the document is CRLF."""
    assert match_newlines(submitted, like=like) == expected


@pytest.mark.parametrize(
    ("op", "summary"),
    [
        ([{"pos": 4, "insert": "abc"}], '+"abc" at 4'),
        ([{"pos": 10, "delete": 3}], "\u22123 at 10"),
        ([{"pos": 0, "delete": 1}, {"pos": 0, "insert": "a\nb"}], '\u22121 at 0, +"a\\nb" at 0'),
        ([{"pos": 2, "insert": "x" * 45}], '+"' + "x" * 40 + '…" (45 chars) at 2'),
        ([], "no change"),
    ],
)
def test_an_op_is_described_in_a_few_words(op, summary):
    """Inserts are quoted (and cut short), deletes give their length, both their position."""
    assert describe_op(op) == summary
