"""Write ``tests/vectors/ot.json``: OT test vectors shared by the Python and JavaScript cores.

Run from anywhere: ``python tests/vectors/generate.py``. The output is deterministic
(hand-picked cases, then random ones from a fixed seed), so running it again on an
unchanged ``editor/core/ot.py`` rewrites the file byte for byte.

Every case is a JSON object; all positions and lengths count Unicode code points:

``name``            unique, human-readable
``text``            the text both ops were made against
``a``, ``b``        two concurrent wire ops against ``text`` (``a`` is the committed one)
``a_prime``         ``a`` rebased onto ``b``: ``transform(a, b)[0]`` (may be ``[]``)
``b_prime``         ``b`` rebased onto ``a``: ``transform(a, b)[1]`` (may be ``[]``)
``a_then_b_prime``  ``apply(apply(text, a), b_prime)``: the server's path
``composed``        ``compose(a, b_prime)``
``result``          the converged text: ``apply(apply(text, b), a_prime)``, which also
                    equals ``a_then_b_prime`` and ``apply(text, composed)``

A client port must reproduce every field exactly, including the canonical shape of
``a_prime``, ``b_prime`` and ``composed`` (inserts before deletes at one position,
adjacent components merged, nothing emitted for a no-op).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from editor.core import ot  # noqa: E402

OUTPUT = HERE / "ot.json"
SEED = 20240601
RANDOM_CASES = 100

# Chunks random texts and inserts are built from: ASCII, newline, emoji (one with a
# skin-tone modifier: two code points), a combining accent, CJK.
ALPHABET = ["a", "b", "c", " ", "\n", "😀", "👍🏽", "e\u0301", "中", "文"]


def ins(pos: int, text: str) -> dict:
    return {"pos": pos, "insert": text}


def dele(pos: int, count: int) -> dict:
    return {"pos": pos, "delete": count}


# (name, text, a, b, expected result worked out by hand). The script refuses to write
# the file if the core disagrees with any expected result.
HAND_PICKED: list[tuple[str, str, list, list, str]] = [
    # ties: both insert at one position, a's text first
    ("tie at 0 of empty text", "", [ins(0, "A")], [ins(0, "B")], "AB"),
    ("tie in the middle", "abc", [ins(1, "A")], [ins(1, "B")], "aABbc"),
    ("tie at end of text", "abc", [ins(3, "A")], [ins(3, "B")], "abcAB"),
    ("tie with longer inserts", "xy", [ins(1, "foo")], [ins(1, "bar")], "xfoobary"),
    ("tie with emoji inserts", "", [ins(0, "😀")], [ins(0, "👍🏽")], "😀👍🏽"),
    ("tie with identical inserts keeps both", "ab", [ins(1, "x")], [ins(1, "x")], "axxb"),
    ("tie with two inserts of a at one spot", "abc", [ins(1, "A"), ins(2, "C")], [ins(1, "B")], "aACBbc"),
    ("tie with a's second insert landing at b's spot", "abc", [ins(0, "A"), ins(3, "C")], [ins(2, "B")], "AabCBc"),
    ("tie after a delete in b", "abc", [ins(2, "A")], [dele(0, 1), ins(1, "B")], "bABc"),
    ("inserts at different positions", "abc", [ins(0, "A")], [ins(3, "B")], "AabcB"),
    ("inserts in reverse order of position", "abc", [ins(3, "A")], [ins(0, "B")], "BabcA"),
    # insert against a concurrent delete
    ("insert before a deleted range", "abcdef", [ins(1, "X")], [dele(3, 2)], "aXbcf"),
    ("insert after a deleted range", "abcdef", [ins(5, "X")], [dele(1, 2)], "adeXf"),
    ("insert at start of a deleted range", "abcdef", [ins(2, "X")], [dele(2, 2)], "abXef"),
    ("insert at end of a deleted range", "abcdef", [ins(4, "X")], [dele(2, 2)], "abXef"),
    ("insert inside a deleted range survives", "abcdef", [ins(3, "X")], [dele(1, 3)], "aXef"),
    ("delete around a concurrent insert (a deletes)", "abcdef", [dele(1, 3)], [ins(3, "X")], "aXef"),
    ("insert inside a deletion of the whole text", "abc", [ins(2, "X")], [dele(0, 3)], "X"),
    ("insert at end against a deletion of the whole text", "abc", [dele(0, 3)], [ins(3, "X")], "X"),
    ("insert at 0 against a deletion of the whole text", "abc", [dele(0, 3)], [ins(0, "X")], "X"),
    ("two inserts inside one deleted range", "abcdef", [dele(1, 4)], [ins(2, "X"), ins(4, "Y")], "aXYf"),
    (
        "insert inside a deleted range next to a's own insert",
        "abcdef",
        [dele(1, 3), ins(1, "Z")],
        [ins(2, "X")],
        "aZXef",
    ),
    # concurrent deletes
    ("identical deletes delete once", "abcdef", [dele(2, 2)], [dele(2, 2)], "abef"),
    ("overlapping deletes, a first", "abcdef", [dele(1, 3)], [dele(2, 3)], "af"),
    ("overlapping deletes, b first", "abcdef", [dele(2, 3)], [dele(1, 3)], "af"),
    ("a's delete contains b's", "abcdef", [dele(1, 4)], [dele(2, 2)], "af"),
    ("b's delete contains a's", "abcdef", [dele(2, 2)], [dele(1, 4)], "af"),
    ("adjacent deletes", "abcdef", [dele(0, 2)], [dele(2, 2)], "ef"),
    ("disjoint deletes", "abcdef", [dele(0, 1)], [dele(5, 1)], "bcde"),
    ("both delete the whole text", "abc", [dele(0, 3)], [dele(0, 3)], ""),
    ("whole text against a middle part", "abcde", [dele(0, 5)], [dele(1, 2)], ""),
    ("delete of last code point twice", "abc", [dele(2, 1)], [dele(2, 1)], "ab"),
    ("two deletes against one spanning them", "abcdefg", [dele(1, 1), dele(3, 1)], [dele(0, 6)], "g"),
    # replacements (delete then insert at one spot)
    ("both replace the whole text", "hello", [dele(0, 5), ins(0, "bye")], [dele(0, 5), ins(0, "ciao")], "byeciao"),
    ("replace against an insert inside it", "hello", [dele(0, 5), ins(0, "bye")], [ins(2, "!")], "bye!"),
    ("replace against an insert at its start", "hello", [dele(0, 5), ins(0, "bye")], [ins(0, "!")], "bye!"),
    ("overlapping replacements", "abcdef", [dele(1, 2), ins(1, "X")], [dele(2, 2), ins(2, "Y")], "aXYef"),
    ("insert then delete of the same text is a no-op", "", [ins(0, "ab"), dele(0, 2)], [ins(0, "c")], "c"),
    ("b deletes what a did not see", "abc", [ins(1, "X")], [ins(1, "Y"), dele(1, 1)], "aXbc"),
    # code points, not UTF-16 units or graphemes
    ("emoji counts one: insert between two", "😀😀", [ins(1, "x")], [dele(0, 1)], "x😀"),
    ("skin tone modifier is its own code point", "👍🏽", [dele(1, 1)], [ins(2, "!")], "👍!"),
    ("combining accent is its own code point", "e\u0301", [ins(1, "x")], [dele(0, 1)], "x\u0301"),
    ("CJK deletes", "中文", [dele(0, 1)], [dele(1, 1)], ""),
    ("emoji insert where an emoji is deleted", "a😀b", [dele(1, 1)], [ins(2, "👍🏽")], "a👍🏽b"),
    ("emoji inserts around an emoji", "😀", [ins(0, "😀")], [ins(1, "👍🏽")], "😀😀👍🏽"),
    ("delete an emoji and its neighbour", "x😀y", [dele(0, 2)], [dele(1, 2)], ""),
    ("end of text after an emoji", "ab😀", [ins(3, "!")], [ins(3, "?")], "ab😀!?"),
    ("insert inside a deleted grapheme cluster", "a👍🏽b", [dele(1, 2)], [ins(2, "x")], "axb"),
    # empty text and end of text
    ("empty text: newline tie", "", [ins(0, "x")], [ins(0, "\n")], "x\n"),
    ("empty text: b inserts and deletes", "", [ins(0, "abc")], [ins(0, "xyz"), dele(1, 1)], "abcxz"),
    ("insert at end against delete of last", "abc", [ins(3, "X")], [dele(2, 1)], "abX"),
    ("delete of last against insert at end", "abc", [dele(2, 1)], [ins(3, "X")], "abX"),
    ("insert at end and at start", "abc", [ins(3, "X")], [ins(0, "Y")], "YabcX"),
    ("newline inserted before a deleted newline", "line1\nline2", [ins(5, "\n")], [dele(5, 1)], "line1\nline2"),
    ("join lines against typing at line end", "ab\ncd", [dele(2, 1)], [ins(2, "!")], "ab!cd"),
    # several components
    ("a inserts twice, b deletes between", "xyz", [ins(0, "A"), ins(2, "B")], [dele(1, 1)], "AxBz"),
    ("b deletes across a's two inserts", "abcdef", [ins(2, "X"), ins(5, "Y")], [dele(1, 4)], "aXYf"),
    ("components out of order", "abcdef", [dele(4, 1), dele(0, 1)], [ins(5, "X"), ins(0, "Y")], "YbcdXf"),
    (
        "many small edits on both sides",
        "abcdefgh",
        [dele(1, 1), ins(3, "1"), dele(5, 2)],
        [ins(0, "2"), dele(4, 2), ins(6, "3")],
        "2ac13h",
    ),
]


def random_text(rng: random.Random, max_chunks: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, max_chunks)))


def random_op(rng: random.Random, length: int) -> list:
    """1 to 4 components, each valid for the text left by the ones before it."""
    op = []
    for _ in range(rng.randint(1, 4)):
        if length > 0 and rng.random() < 0.45:
            pos = rng.randrange(length)
            count = rng.randint(1, min(4, length - pos))
            op.append(dele(pos, count))
            length -= count
        else:
            text = random_text(rng, 3) or rng.choice(ALPHABET)
            op.append(ins(rng.randint(0, length), text))
            length += len(text)
    return op


def case(name: str, text: str, a: list, b: list) -> dict:
    assert ot.parse(a) == a and ot.parse(b) == b, name
    a_prime, b_prime = ot.transform(a, b)
    composed = ot.compose(a, b_prime)
    a_then_b_prime = ot.apply(ot.apply(text, a), b_prime)
    result = ot.apply(ot.apply(text, b), a_prime)
    assert a_then_b_prime == result == ot.apply(text, composed), name
    return {
        "name": name,
        "text": text,
        "a": a,
        "b": b,
        "a_prime": a_prime,
        "b_prime": b_prime,
        "a_then_b_prime": a_then_b_prime,
        "composed": composed,
        "result": result,
    }


def build() -> list[dict]:
    cases = []
    for name, text, a, b, expected in HAND_PICKED:
        item = case(name, text, a, b)
        if item["result"] != expected:
            raise SystemExit(f"{name!r}: the core gives {item['result']!r}, expected {expected!r}")
        cases.append(item)
    rng = random.Random(SEED)
    for number in range(RANDOM_CASES):
        text = random_text(rng, 8)
        a, b = random_op(rng, len(text)), random_op(rng, len(text))
        cases.append(case(f"random {number:03d}", text, a, b))
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    return cases


def main() -> None:
    cases = build()
    OUTPUT.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUTPUT}")


if __name__ == "__main__":
    main()
