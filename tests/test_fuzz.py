"""Thousands of hostile frames at one socket while another person keeps editing."""

import asyncio
import json
import random
from typing import Any

from websockets.exceptions import ConnectionClosed

from editor.client import CollabClient
from editor.domain import selectors, services
from editor.models import Document, Operation

from .wire import Wire

VALID = [
    {"type": "join", "client": "fuzz", "since": 1},
    {"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]},
    {"type": "op", "seq": 2, "base": 1, "ops": [{"pos": 1, "delete": 2}, {"pos": 0, "insert": "é😀"}]},
    {"type": "presence", "rev": 1, "cursor": {"anchor": 0, "head": 3}},
]
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    -1,
    0,
    1.5,
    2**64,
    -(2**63),
    10**400,
    "",
    "x" * 1000,
    "\ud800",
    "\u0000",
    [],
    {},
    [[[]]],
    {"pos": 0},
    "NaN",
    float("inf"),
]


def mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """A random change somewhere inside a JSON value."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        out = dict(value)
        choice = rng.random()
        if choice < 0.15:
            del out[key]
        elif choice < 0.25:
            out[rng.choice(["type", "seq", "ops", "xtra", "since", "cursor"])] = rng.choice(ODD_VALUES)
        else:
            out[key] = mutate(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        items = list(value)
        i = rng.randrange(len(items))
        items[i] = mutate(items[i], rng, depth + 1)
        if rng.random() < 0.2:
            items = items * rng.randint(2, 200)
        return items
    return rng.choice(ODD_VALUES + [rng.randint(-5, 5), rng.randint(0, 2**70)])


def hostile_frame(rng: random.Random):
    """One frame of garbage: bytes, broken or deep JSON, or a mutated valid message."""
    kind = rng.random()
    if kind < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if kind < 0.2:
        return (
            "".join(
                chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x10FFFF)])) for _ in range(rng.randint(0, 200))
            )
            .encode("utf-8", "replace")
            .decode("utf-8", "replace")
        )
    if kind < 0.25:
        depth = rng.randint(1000, 100_000)
        return "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
    if kind < 0.3:
        text = json.dumps(rng.choice(VALID))
        cut = rng.randrange(len(text))
        return text[:cut] + rng.choice(["", "\u0000", "}", "\\", '"']) + text[cut + 1 :]
    message = mutate(rng.choice(VALID), rng)
    try:
        return json.dumps(message, allow_nan=True)
    except (ValueError, OverflowError):
        return "{}"


async def test_fuzzed_frames_do_not_disturb_another_editor(server, make_user, headers_for):
    """The server stays up, the honest client's edits all commit, the history replays."""
    ada = make_user("ada")
    doc = services.document_create(title="T", owner=ada, content="hello world")
    rng = random.Random(44545)
    honest = CollabClient(server.ws(doc.pk), headers=headers_for(ada))
    await honest.connect()
    stop = asyncio.Event()

    async def edit():
        typed = 0
        while not stop.is_set():
            honest.insert(rng.randint(0, len(honest.text)), rng.choice(["a", "😀", "\n"]))
            typed += 1
            await asyncio.sleep(0.02)
        return typed

    async def fuzz():
        frames = closes = 0
        while frames < 3000:
            try:
                async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
                    await w.join("fuzz", since=None)
                    while frames < 3000:
                        frame = hostile_frame(rng)
                        await w.ws.send(frame)
                        frames += 1
                        if frames % 25 == 0:
                            await asyncio.sleep(0)  # let the honest client's frames through
            except ConnectionClosed as closed:
                assert closed.rcvd is None or closed.rcvd.code in (4400, 4429, 1009), closed
                closes += 1
        return frames, closes

    editor = asyncio.create_task(edit())
    frames, closes = await fuzz()
    stop.set()
    typed = await editor
    await honest.wait_synced(timeout=30)
    document = Document.objects.get(pk=doc.pk)
    await honest.wait_for_rev(document.revision, timeout=30)
    assert frames == 3000 and typed > 0
    assert honest.errors == []
    assert honest.text == selectors.document_text(document)
    assert selectors.document_at_revision(document_id=doc.pk, revision=document.revision) == selectors.document_text(
        document
    )
    # Everything the honest client typed is there, but for what valid ops the fuzzer
    # happened to commit may have deleted.
    fuzz_ops = Operation.objects.filter(document=doc, client="fuzz").values_list("ops", flat=True)
    deleted = sum(c.get("delete", 0) for op in fuzz_ops for c in op)
    assert sum(selectors.document_text(document).count(ch) for ch in ("a", "😀", "\n")) >= typed - deleted
    await honest.close()
    # And the server still answers a newcomer.
    async with Wire(server.ws(doc.pk), headers_for(ada)) as w:
        assert (await w.join("after"))[-1]["type"] == "ready"
