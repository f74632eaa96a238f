"""The Node load generator's client of our protocol transforms as the server does.

``bench/sharedb/collab.js`` drives this project's server in ``bench.versus``; its
full clients keep the text and must end on the server's, so its insert-only
transform, compose and apply, and a client with an op in flight and a buffer meeting
other people's revisions, are held here to :mod:`editor.core.ot` on random cases
(code points past the BMP included, ties at one position, ops of several components).
Without Node.js the tests are skipped, except under CI=true.
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


def run_cases(node: str, cases: list[dict]) -> list[dict]:
    done = subprocess.run([node, str(CASES)], input=json.dumps(cases), capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert len(results) == len(cases)
    return results


@pytest.mark.timeout(60)
def test_transform_compose_and_apply_agree_with_the_servers_ot(node):
    rng = random.Random(7)
    cases = []
    for _ in range(1500):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))
        a, b = inserts(rng, len(text)), inserts(rng, len(text))
        cases.append({"text": text, "a": a, "b": b, "c": inserts(rng, len(ot.apply(text, a)))})
    results = run_cases(node, cases)
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


@pytest.mark.timeout(60)
def test_a_client_with_an_op_in_flight_and_a_buffer_ends_on_the_servers_text(node):
    """Keystrokes and other people's revisions interleave before the first ack; the
    server (played here with ``editor.core.ot``) rebases what the client sent, and
    both must hold the same text after the client's buffer lands."""
    rng = random.Random(11)
    cases = []
    for _ in range(600):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 5)))
        server_length, typed, events = len(text), 0, []
        for index in range(rng.randint(2, 9)):
            if index == 0 or rng.random() < 0.5:
                local = server_length + typed
                events.append({"type": [rng.randint(0, local), rng.choice(ALPHABET)]})
                typed += 1
            else:
                remote = inserts(rng, server_length)
                events.append({"remote": remote})
                server_length += ot.length_delta(remote)
        cases.append({"text": text, "events": events})
    buffered = 0
    for case, got in zip(cases, run_cases(node, cases)):
        assert got["failure"] is None, case
        remotes = [event["remote"] for event in case["events"] if "remote" in event]
        first, *rest = got["sent"]
        assert (first["seq"], first["base"]) == (1, 0)
        server, mine = case["text"], first["ops"]
        for remote in remotes:  # committed before the client's op reached the server
            server = ot.apply(server, remote)
            mine = ot.transform(remote, mine)[1]
        server = ot.apply(server, mine)
        assert got["rev"] == len(remotes) + 1
        if rest:  # the buffer goes out on the ack, made on the revision it names
            [second] = rest
            assert (second["seq"], second["base"]) == (2, len(remotes) + 1)
            server = ot.apply(server, second["ops"])
            buffered += 1
        assert got["text"] == server, case
    assert buffered > 300
