"""Other people's carets and selections, drawn over the text box of the editor page."""

from __future__ import annotations

from .conftest import converged, open_editor, signed_in

# Where the page draws ``name``'s caret, next to where the text box itself puts the
# same text: the box's padding plus the width of the text before it on its line,
# measured with a canvas in the box's own font (nothing carets.js computes).
WHERE = """([name, before, line]) => {
    const box = document.querySelector("#text");
    const caret = document.querySelector(`.peer-caret[data-name="${name}"]`);
    if (!caret) return null;
    const style = getComputedStyle(box);
    const context = document.createElement("canvas").getContext("2d");
    context.font = style.font;
    const outer = box.getBoundingClientRect();
    const drawn = caret.getBoundingClientRect();
    return {
        left: drawn.left + drawn.width / 2 - outer.left,
        expectedLeft: box.clientLeft + parseFloat(style.paddingLeft) + context.measureText(before).width,
        top: drawn.top - outer.top,
        lineTop: box.clientTop + parseFloat(style.paddingTop) + line * parseFloat(style.lineHeight),
        lineHeight: parseFloat(style.lineHeight),
    };
}"""


async def shown_cursor(page, name: str, anchor: int, head: int) -> None:
    """Wait until ``page`` holds ``name``'s cursor at (anchor, head) and has drawn it."""
    await page.wait_for_function(
        """([name, anchor, head]) => {
            const seen = window.collabEditor.client.peerCursors().find((c) => c.user?.name === name);
            return seen && seen.anchor === anchor && seen.head === head
                && document.querySelector(`.peer-caret[data-name="${name}"]`);
        }""",
        arg=[name, anchor, head],
    )


async def own_selection(page) -> list[int]:
    return await page.eval_on_selector("#text", "t => [t.selectionStart, t.selectionEnd]")


async def test_each_person_sees_the_others_caret_where_it_is_as_both_type(browser, site, shared_document):
    """A caret moved by keys shows on the other page at that place in the text, follows
    edits made before it and its owner's typing, shows a selection, and goes on leaving."""
    alice, bob, document = shared_document("Shared notes", "hello world\nsecond line\n", ("alice", "bob"))
    page_a = await open_editor(await signed_in(browser, site, alice), site, document)
    context_b = await signed_in(browser, site, bob)
    page_b = await open_editor(context_b, site, document)

    await page_b.click("#text")
    await page_b.keyboard.press("Control+Home")
    for _ in range(6):
        await page_b.keyboard.press("ArrowRight")
    await shown_cursor(page_a, "bob", 6, 6)
    assert await page_a.eval_on_selector('.peer-caret[data-name="bob"]', "c => c.classList.contains('named')")
    where = await page_a.evaluate(WHERE, ["bob", "hello ", 0])
    assert abs(where["left"] - where["expectedLeft"]) <= 2, where
    assert abs(where["top"] - where["lineTop"]) <= where["lineHeight"] / 2, where

    await page_b.keyboard.press("ArrowDown")  # the same column, one line down
    await shown_cursor(page_a, "bob", 18, 18)
    where = await page_a.evaluate(WHERE, ["bob", "second", 1])
    assert abs(where["left"] - where["expectedLeft"]) <= 2, where
    assert abs(where["top"] - where["lineTop"]) <= where["lineHeight"] / 2, where
    await page_b.keyboard.press("ArrowUp")
    await shown_cursor(page_a, "bob", 6, 6)

    # Alice types before Bob's caret: on her page it moves along, as it does on his.
    await page_a.click("#text")
    await page_a.keyboard.press("Control+Home")
    await page_a.keyboard.type("Hi! ", delay=20)
    await converged([page_a, page_b], document)
    assert await own_selection(page_b) == [10, 10]
    await shown_cursor(page_a, "bob", 10, 10)
    await shown_cursor(page_b, "alice", 4, 4)

    # Bob types at his caret: his caret moves with his text on Alice's page.
    await page_b.keyboard.type("dear ", delay=20)
    await converged([page_a, page_b], document)
    assert await own_selection(page_b) == [15, 15]
    await shown_cursor(page_a, "bob", 15, 15)

    # Bob selects "dear " backwards: Alice sees the selection, and his caret at its start.
    for _ in range(5):
        await page_b.keyboard.press("Shift+ArrowLeft")
    await shown_cursor(page_a, "bob", 15, 10)
    tinted = await page_a.eval_on_selector_all(".peer-selection", "spans => spans.map((s) => s.textContent)")
    assert tinted == ["dear "]
    where = await page_a.evaluate(WHERE, ["bob", "Hi! hello ", 0])
    assert abs(where["left"] - where["expectedLeft"]) <= 2, where

    # A few seconds after Bob last moved, his caret no longer carries his name (the
    # timeout only guards against a hang: timers run late on a loaded machine).
    await page_a.wait_for_selector('.peer-caret[data-name="bob"]:not(.named)', timeout=30_000)

    # Bob leaves: his caret and selection are gone from Alice's page.
    await context_b.close()
    await page_a.wait_for_function("() => !document.querySelector('.peer-caret, .peer-selection')")
    assert await page_a.evaluate("() => window.collabEditor.client.peerCursors()") == []


def test_the_caret_drawing_benchmark_runs(tmp_path):
    """A tiny run of ``python -m bench.carets``, so the benchmark cannot rot."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    output = tmp_path / "carets.json"
    subprocess.run(
        [sys.executable, "-m", "bench.carets", "--sizes", "2000", "--redraws", "3", "--output", str(output)],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    [row] = json.loads(output.read_text())
    assert row["units"] == 2000 and row["drawn"]
    assert 0 < row["first_ms"] and 0 <= row["redraw_p50_ms"] <= row["redraw_max_ms"]
