"""The chunked text the commit path keeps: it must behave exactly as a str would."""

import pytest
from hypothesis import given, settings, strategies as st

from editor.core import ot, text
from editor.core.text import Text

from .test_ot import ops_for, texts


@st.composite
def edits(draw):
    """A text and a few ops applied one after another, each valid where it applies."""
    value = draw(texts)
    ops, current = [], value
    for _ in range(draw(st.integers(1, 6))):
        op = draw(ops_for(current, max_components=4))
        ops.append(op)
        current = ot.apply(current, op)
    return value, ops


@settings(max_examples=300)
@given(case=edits(), chunk=st.sampled_from([1, 3, 8, 4096]))
def test_applying_ops_to_a_text_matches_applying_them_to_a_str(case, chunk):
    value, ops = case
    old = text.CHUNK
    text.CHUNK = chunk  # small chunks put every edit across chunk boundaries
    try:
        current, expected = Text(value), value
        for op in ops:
            before, before_str = current, str(current)
            current, expected = current.apply(op), ot.apply(expected, op)
            assert str(current) == expected and len(current) == len(expected)
            assert all(current.chunks)  # no empty chunk is kept
            assert str(before) == before_str  # the text applied to is untouched
    finally:
        text.CHUNK = old


def test_an_edit_leaves_the_text_it_was_applied_to_unchanged():
    original = Text("x" * 10_000)
    edited = original.apply([{"pos": 5_000, "insert": "😀"}, {"pos": 0, "delete": 3}])
    assert str(original) == "x" * 10_000
    assert str(edited) == "x" * 4_997 + "😀" + "x" * 5_000
    assert edited == str(edited) and edited != original


def test_an_op_that_does_not_fit_is_refused():
    with pytest.raises(ot.OperationError):
        Text("abc").apply([{"pos": 2, "delete": 5}])
