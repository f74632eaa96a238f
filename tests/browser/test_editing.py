"""Two people editing one document in two browsers at once."""

from __future__ import annotations

import asyncio

from .conftest import converged, open_editor, open_editors, page_text, signed_in

# About 27,000 code points, pasted through the clipboard in one go.
PASTE = "".join(f"pasted line {n:04d}: the quick brown fox 🦊 jumps\n" for n in range(600))


async def set_caret(page, index: int) -> None:
    """Put the caret of ``page`` at UTF-16 index ``index`` of its text box."""
    await page.eval_on_selector("#text", "(t, i) => { t.focus(); t.setSelectionRange(i, i); }", index)


async def test_two_people_typing_at_once_end_with_the_same_text_as_the_server(browser, site, shared_document):
    """Concurrent typing with emoji, newlines, a selection deleted and a large paste converges."""
    alice, bob, document = shared_document("Shared notes", "Agenda\n\nNotes:\n", ("alice", "bob"))
    context_a = await signed_in(browser, site, alice)
    clipboard = ["clipboard-read", "clipboard-write"]
    context_b = await signed_in(browser, site, bob, permissions=clipboard)
    page_a = await open_editor(context_a, site, document)
    page_b = await open_editor(context_b, site, document)

    async def alice_types():
        await page_a.click("#text")
        await page_a.keyboard.press("Control+End")
        await page_a.keyboard.type("Alice 😀 was here\nand 👍🏽 here too", delay=12)
        await page_a.keyboard.press("Shift+Home")  # selects "and 👍🏽 here too"
        await page_a.keyboard.press("Backspace")
        await page_a.keyboard.type("replaced ✓", delay=12)

    async def bob_types():
        await page_b.click("#text")
        await page_b.keyboard.press("Control+Home")
        await page_b.keyboard.type("Bob: 🎉 hello\n", delay=12)
        await page_b.evaluate("text => navigator.clipboard.writeText(text)", PASTE)
        await page_b.keyboard.press("Control+V")
        await page_b.keyboard.type("after the paste\n", delay=12)

    await asyncio.gather(alice_types(), bob_types())
    text = await converged([page_a, page_b], document)

    assert text.startswith("Bob: 🎉 hello\n" + PASTE + "after the paste\nAgenda\n")
    assert text.endswith("Notes:\nAlice 😀 was here\nreplaced ✓")
    assert "here too" not in text
    assert await page_text(page_a) == await page_text(page_b) == text


async def test_the_caret_of_someone_typing_stays_put_while_another_inserts_before_it(browser, site, shared_document):
    """Alice's words stay whole and her caret stays after them while bob types above."""
    alice, bob, document = shared_document("Shared notes", "first line\nsecond line\n", ("alice", "bob"))
    page_a, page_b = await open_editors(browser, site, document, alice, bob)
    await set_caret(page_a, len("first line\nsecond"))
    await set_caret(page_b, 0)

    words = " [alice typing 😀 in the middle]"
    above = "bob 👍🏽 writes above. " * 3

    async def alice_types():
        for typed in range(1, len(words) + 1):
            await page_a.keyboard.type(words[typed - 1])
            # After every keystroke her caret is right after what she has typed so far.
            before_caret = await page_a.eval_on_selector("#text", "t => t.value.slice(0, t.selectionStart)")
            assert before_caret.endswith(words[:typed])
            await asyncio.sleep(0.02)  # a person's typing pace, so bob's edits arrive meanwhile

    async def bob_types():
        await page_b.keyboard.type(above, delay=10)

    await asyncio.gather(alice_types(), bob_types())
    text = await converged([page_a, page_b], document)

    assert text == above + "first line\nsecond" + words + " line\n"
    caret = await page_a.eval_on_selector("#text", "t => [t.selectionStart, t.selectionEnd]")
    expected = len((above + "first line\nsecond" + words).encode("utf-16-le")) // 2
    assert caret == [expected, expected]
