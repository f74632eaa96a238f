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
# Finite floats not below 1e-4 in size: the two write smaller ones differently
# (1e-05 against 0.00001), and NaN as NaN against null; no message holds either.
floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or abs(x) >= 1e-4)
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


FIELDS = ["type", "client", "since", "pending", "seq", "base", "ops", "rev", "cursor", "x"]
frames_as_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["join", "op", "presence", "other"])},
    optional={
        "client": st.sampled_from(["abc", "a b", ""]) | values,
        "since": st.integers(-2, 2**60) | values,
        "pending": st.booleans() | values,
        "seq": st.integers(-2, 2**60) | values,
        "base": st.integers(-2, 2**60) | values,
        "ops": st.lists(
            st.fixed_dictionaries(
                {"pos": st.integers(-1, 2**60)}, optional={"insert": text, "delete": st.integers(0, 9)}
            )
            | values,
            max_size=3,
        )
        | values,
        "rev": st.integers(-2, 2**60) | values,
        "cursor": st.none() | st.fixed_dictionaries({"anchor": st.integers(0, 9), "head": st.integers(0, 9)}) | values,
        "x": values,
    },
)


@settings(max_examples=600, deadline=None)
@given(frames_as_objects)
def test_parse_reads_any_frame_as_the_standard_library_does(data):
    """Same message, or the same error with the same code and words, for any object."""
    frame = json.dumps(data)
    assert _outcome(lambda: parse(frame)) == _outcome(lambda: _parse_with_stdlib(frame))


huge = st.integers(2**64, 10**300) | st.integers(-(10**300), -(2**63) - 1)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["since", "seq", "base", "rev", "pos", "delete", "anchor"]), huge)
def test_an_integer_past_64_bits_is_refused_with_the_same_code(field, number):
    """orjson reads it as a float, the standard library as an integer: either way the
    frame is refused with the same code."""
    op = {"pos": 0, "insert": "x"}
    frame = {"type": "op", "seq": 1, "base": 0, "ops": [op]}
    if field in ("since",):
        frame = {"type": "join", "client": "abc", field: number}
    elif field in ("rev", "anchor"):
        frame = {"type": "presence", "rev": 0, "cursor": {"anchor": 0, "head": 0}}
        (frame["cursor"] if field == "anchor" else frame)[field] = number
    elif field in ("pos", "delete"):
        op.pop("insert")
        op.update(pos=0, delete=1)
        op[field] = number
    else:
        frame[field] = number
    encoded = json.dumps(frame)
    ours, stdlib = _outcome(lambda: parse(encoded)), _outcome(lambda: _parse_with_stdlib(encoded))
    assert ours[0] == stdlib[0] == "error"
    assert ours[1:3] == stdlib[1:3]


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
        '{"type": "join", "client": "a", "x": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"type": "join", "client": "a", "x": ' + "[" * 498 + "]" * 498 + "}",
        '{"type": "op", "seq": 1, "base": 0, "ops": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"type": "presence", "rev": 0, "cursor": {"anchor": 0, "head": ' + "[" * 1000 + "]" * 1000 + "}}",
        '{"type": "op", "seq": 1, "base": 0, "ops": [{"pos": 9007199254740992, "insert": "x"}]}',
        "null",
        "",
        " \t\n",
        '{"type": "join", "client": "abc"}',
    ],
)
def test_parse_agrees_with_the_standard_library_where_the_two_part_ways(frame):
    assert _outcome(lambda: parse(frame)) == _outcome(lambda: _parse_with_stdlib(frame))


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
