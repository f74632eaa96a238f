"""The Node load generator's client of our protocol transforms as the server does.

``bench/sharedb/collab.js`` drives this project's server in ``bench.versus``; its
full clients keep the text and must end on the server's, so its insert-only
transform, compose and apply are held here to :mod:`editor.core.ot` on random cases
(code points past the BMP included, ties at one position, ops of several components).
Without Node.js the test is skipped, except under CI=true.
"""

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from editor.core import ot

CASES = Path(__file__).resolve().parent.parent / "bench" / "sharedb" / "collab_cases.js"
ALPHABET = "ab€😀"


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("node is missing, and CI requires the Node load generator to run")
    pytest.skip("node is not installed")


def inserts(rng: random.Random, length: int) -> list[dict]:
    """1-4 inserts, each position in the text the ones before it left."""
    op = []
    for _ in range(rng.randint(1, 4)):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3)))
        op.append({"pos": rng.randint(0, length), "insert": text})
        length += len(text)
    return op


@pytest.mark.timeout(60)
def test_transform_compose_and_apply_agree_with_the_servers_ot(node):
    rng = random.Random(7)
    cases = []
    for _ in range(1500):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))
        a, b = inserts(rng, len(text)), inserts(rng, len(text))
        cases.append({"text": text, "a": a, "b": b, "c": inserts(rng, len(ot.apply(text, a)))})
    done = subprocess.run([node, str(CASES)], input=json.dumps(cases), capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert len(results) == len(cases)
    ties = 0
    for case, got in zip(cases, results):
        text, a, b = case["text"], case["a"], case["b"]
        # The server commits b first and passes it as its transform's first op.
        b_over_a, a_over_b = ot.transform(b, a)
        after_a, after_b = ot.apply(text, a), ot.apply(text, b)
        assert got["after_a"] == after_a
        assert ot.apply(after_b, got["a_over_b"]) == ot.apply(after_b, a_over_b), case
        assert ot.apply(after_a, got["b_over_a"]) == ot.apply(after_a, b_over_a), case
        assert ot.apply(text, got["a_then_c"]) == ot.apply(after_a, case["c"]), case
        ties += any(x["pos"] == y["pos"] for x in a for y in b)
    assert ties > 100  # the tie rule was exercised, not only disjoint inserts
