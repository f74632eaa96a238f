"""Authorship runs follow every edit: lengths add up, and each code point keeps its author."""

import random

from editor.core import authorship, ot
from editor.core.authorship import Authors


def naive(authors: list[int], op: list, user: int) -> list[int]:
    """One author per code point, edited the obvious way."""
    authors = list(authors)
    for comp in op:
        if "insert" in comp:
            authors[comp["pos"] : comp["pos"]] = [user] * len(comp["insert"])
        else:
            del authors[comp["pos"] : comp["pos"] + comp["delete"]]
    return authors


def expand(runs: list[list[int]]) -> list[int]:
    return [user for user, size in runs for _ in range(size)]


def test_runs_match_a_code_point_by_code_point_model_on_random_edits(monkeypatch):
    """Thousands of random inserts and deletes by three people, with small chunks so they split."""
    monkeypatch.setattr(authorship, "CHUNK_RUNS", 4)
    rng = random.Random(12)
    for _ in range(20):
        tracked, model, text = Authors(), [], ""
        for _ in range(200):
            user = rng.randint(1, 3)
            pos = rng.randint(0, len(text))
            if text and rng.random() < 0.4:
                op = [
                    {
                        "pos": min(pos, len(text) - 1),
                        "delete": rng.randint(1, max(1, min(5, len(text) - min(pos, len(text) - 1)))),
                    }
                ]
            else:
                op = [{"pos": pos, "insert": "x" * rng.randint(1, 4)}]
            if rng.random() < 0.2 and len(text) > 3:  # two components in one op
                op.append({"pos": 0, "delete": 1})
            text = ot.apply(text, op)
            tracked.apply(op, user)
            model = naive(model, op, user)
            assert len(tracked) == len(text)
        assert expand(tracked.runs()) == model


def test_runs_round_trip_and_merge_neighbours():
    """Runs given back are merged; a new Authors from them is the same."""
    authors = Authors([[1, 3], [1, 2], [2, 1]])
    assert authors.runs() == [[1, 5], [2, 1]]
    authors.apply([{"pos": 5, "insert": "ab"}], 2)
    assert authors.runs() == [[1, 5], [2, 3]]
    assert Authors(authors.runs()).runs() == authors.runs()
