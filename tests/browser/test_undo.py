"""Undo and redo in the browser: one's own edits only, while someone else types."""

from __future__ import annotations

from editor.domain import services

from .conftest import converged, open_editor, open_editors, signed_in, wait_saved


async def type_at_end(page, text: str) -> None:
    await page.click("#text")
    await page.keyboard.press("Control+End")
    await page.keyboard.type(text, delay=5)


async def test_undo_and_redo_touch_only_ones_own_edits_while_another_types(browser, site, shared_document):
    """Ctrl+Z removes ada's words, newest first, never grace's; Ctrl+Shift+Z and Ctrl+Y bring them back."""
    ada, grace, document = shared_document("Undo", "Start.\n")
    page_a, page_g = await open_editors(browser, site, document, ada, grace)

    await type_at_end(page_a, "ada one two")
    await converged([page_a, page_g], document)
    # grace types in the middle of ada's words, then at the end.
    await page_g.click("#text")
    await page_g.eval_on_selector("#text", "t => t.setSelectionRange(11, 11)")  # after "ada "
    await page_g.keyboard.type("[G]", delay=5)
    await type_at_end(page_g, " grace")
    assert await converged([page_a, page_g], document) == "Start.\nada [G]one two grace"

    await page_a.click("#text")
    await page_a.keyboard.press("Control+z")  # "two"
    assert await converged([page_a, page_g], document) == "Start.\nada [G]one  grace"
    await page_a.keyboard.press("Control+z")  # "one "
    await page_a.keyboard.press("Control+z")  # "ada "
    assert await converged([page_a, page_g], document) == "Start.\n[G] grace"
    await page_a.keyboard.press("Control+z")  # nothing left of ada's: nothing happens
    assert await converged([page_a, page_g], document) == "Start.\n[G] grace"
    assert await page_a.is_disabled("#undo")

    await page_a.keyboard.press("Control+Shift+z")  # "ada "
    await page_a.keyboard.press("Control+y")  # "one "
    assert await converged([page_a, page_g], document) == "Start.\nada [G]one  grace"
    await page_a.click("#redo")  # "two"
    assert await converged([page_a, page_g], document) == "Start.\nada [G]one two grace"

    # grace's own undo removes only what grace typed: "grace", the space typed after
    # moving the caret, then "[G]".
    await page_g.click("#text")
    for _ in range(3):
        await page_g.keyboard.press("Control+z")
    assert await converged([page_a, page_g], document) == "Start.\nada one two"
    assert await page_g.evaluate("() => window.collabEditor.undos.redoStack.length") == 3


async def test_the_text_boxs_own_undo_never_runs(browser, site, make_user):
    """An undo from the browser's menus (beforeinput historyUndo) goes through the shared undo too."""
    ada = make_user("ada")
    document = services.document_create(title="Menus", owner=ada, content="")
    page = await open_editor(await signed_in(browser, site, ada), site, document)
    await type_at_end(page, "typed")
    await wait_saved(page)
    # What Chromium's Edit > Undo sends; the text box's native history is never consulted.
    handled = await page.eval_on_selector(
        "#text",
        """t => {
            const event = new InputEvent("beforeinput", {inputType: "historyUndo", cancelable: true, bubbles: true});
            t.dispatchEvent(event);
            return event.defaultPrevented;
        }""",
    )
    assert handled
    assert await converged([page], document) == ""


async def test_the_undo_steps_survive_a_dropped_connection(browser, site, shared_document):
    """Words typed, the socket dropped while grace types, then undone after the reconnection."""
    ada, grace, document = shared_document("Flaky")
    page_a, page_g = await open_editors(browser, site, document, ada, grace)
    await type_at_end(page_a, "kept gone")
    await converged([page_a, page_g], document)

    readies = await page_a.evaluate("() => window.collabEditor.client.readies")
    await page_a.evaluate("() => window.collabEditor.socket.drop()")
    await type_at_end(page_g, "!")  # arrives with the catch-up after the reconnection
    await page_a.wait_for_function(f"() => window.collabEditor.client.readies > {readies}")
    await page_a.click("#text")
    await page_a.keyboard.press("Control+z")
    assert await converged([page_a, page_g], document) == "kept !"


async def test_undo_puts_back_the_selection_others_edits_moved(browser, site, shared_document):
    """ada replaces a selected word; grace types before it; ada's undo selects the word again."""
    ada, grace, document = shared_document("Selection", "hello world")
    page_a, page_g = await open_editors(browser, site, document, ada, grace)
    await page_a.click("#text")
    await page_a.eval_on_selector("#text", "t => t.setSelectionRange(6, 11)")  # "world"
    await page_a.keyboard.type("there", delay=5)
    await converged([page_a, page_g], document)
    await page_g.click("#text")
    await page_g.keyboard.press("Control+Home")
    await page_g.keyboard.type(">> ", delay=5)
    assert await converged([page_a, page_g], document) == ">> hello there"

    await page_a.click("#text")
    await page_a.keyboard.press("Control+z")
    assert await converged([page_a, page_g], document) == ">> hello world"
    selected = await page_a.eval_on_selector("#text", "t => t.value.slice(t.selectionStart, t.selectionEnd)")
    assert selected == "world"
