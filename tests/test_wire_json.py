"""The wire's JSON: orjson on the hot path, the standard library's answer everywhere.

``protocol.dumps`` and ``protocol.parse`` read and write JSON with orjson for speed;
these tests hold them to what ``json`` does, byte for byte and error for error, on
random values and on the values where the two libraries part ways.
"""

import json
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from editor.domain.errors import BadJson, BadMessage, BadOp
from editor.realtime import protocol


def stdlib_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse(frame: str):
    return protocol.parse(frame, max_components=100, max_insert=10_000)


# Every character but lone surrogates (which no str read off a WebSocket holds).
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | text
# Floats as the server sends them (retry_after): no exponents, which the two write differently.
floats = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False).filter(lambda x: x == 0 or abs(x) >= 1e-4)
values = st.recursive(
    scalars | floats, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4)
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_dumps_writes_what_the_standard_library_writes(value):
    assert protocol.dumps(value) == stdlib_dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"seq": 2**64},  # past what orjson takes
        {"n": -(2**63) - 1},
        {"text": "a\ud800b"},  # a lone surrogate
        {1: "a key that is not a string"},
        {"control": '\x00\x1f\x7f\u2028\u2029/\\"'},
        {"nested": [[[{"é😀": None}]]]},
    ],
)
def test_dumps_falls_back_to_the_standard_library_where_orjson_refuses(value):
    assert protocol.dumps(value) == stdlib_dumps(value)


def test_dumps_still_refuses_what_is_not_json():
    with pytest.raises(TypeError):
        protocol.dumps({"value": object()})


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "client", "seq", "x", "ops"]), values, max_size=5))
def test_parse_reads_any_frame_as_the_standard_library_does(data):
    """Same message, or the same error with the same code, for any object."""
    frame = json.dumps(data)
    assert _outcome(lambda: parse(frame)) == _outcome(lambda: _parse_with_stdlib(frame))


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "op", "seq": 1, "base": 1, "ops": [{"pos": NaN, "insert": "x"}]}',
        '{"type": "op", "seq": 1e400, "base": 1, "ops": []}',
        '{"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "\\ud800"}]}',
        '{"type": "join", "client": "a", "client": "b"}',  # duplicate keys: the last wins
        '{"type": "join", "client": "a\x01"}',  # a raw control character
        '{"type": "join", "client": "a"} trailing',
        "[" * 5000 + "]" * 5000,
        "null",
        "",
        " \t\n",
        '{"type": "join", "client": "abc"}',
    ],
)
def test_parse_agrees_with_the_standard_library_where_the_two_part_ways(frame):
    assert _outcome(lambda: parse(frame)) == _outcome(lambda: _parse_with_stdlib(frame))


def test_an_integer_past_64_bits_is_refused_by_the_same_error():
    """orjson reads it as a float, the standard library as an integer: either way the
    field is refused with the same code, naming it; only the wording differs."""
    frame = '{"type": "op", "seq": 123456789012345678901234567890, "base": 1, "ops": []}'
    ours, stdlib = _outcome(lambda: parse(frame)), _outcome(lambda: _parse_with_stdlib(frame))
    assert ours[:3] == stdlib[:3] == ("error", "BadMessage", "bad_message")
    assert ours[3].startswith("seq must be") and stdlib[3].startswith("seq must be")


def test_a_frame_that_is_not_json_is_still_bad_json():
    for frame in ["{", '{"type": "join",}', "{'type': 'join'}", "\ufeff{}"]:
        with pytest.raises(BadJson):
            parse(frame)


def _outcome(call):
    try:
        return ("message", call())
    except (BadJson, BadMessage, BadOp) as exc:
        return ("error", type(exc).__name__, exc.code, str(exc))


def _parse_with_stdlib(frame: str):
    """``protocol.parse`` with orjson refusing every frame: the standard library alone."""
    with mock.patch.object(protocol, "orjson", _RefusingOrjson):
        return parse(frame)


class _RefusingOrjson:
    JSONDecodeError = orjson.JSONDecodeError

    @staticmethod
    def loads(_frame):
        raise orjson.JSONDecodeError("refused", "", 0)
