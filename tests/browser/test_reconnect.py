"""No typed character is lost to a dropped socket, a server restart, or a closed tab."""

from __future__ import annotations

from editor.domain import selectors, services

from .conftest import open_editor, page_state, page_text, signed_in, wait_rev, wait_saved


async def status(page) -> str:
    return await page.text_content("#status")


async def saved_on_server(page, document) -> str:
    """Wait until ``page`` is saved and holds the server's revision; return the server's text."""
    await wait_saved(page)
    document.refresh_from_db()
    await wait_rev(page, document.revision)
    state = await page_state(page)
    assert state["text"] == state["box"] == selectors.document_text(document)
    return selectors.document_text(document)


async def test_typing_through_a_server_restart_loses_no_character(browser, own_site, make_user):
    """Edits made while the server is down are kept, shown as such, and sent once it is back."""
    alice = make_user("alice")
    document = services.document_create(title="Restart", owner=alice)
    page = await open_editor(await signed_in(browser, own_site, alice), own_site, document)
    await page.click("#text")
    await page.keyboard.type("before the restart. ", delay=5)
    await wait_saved(page)

    own_site.stop()
    await page.wait_for_selector("#status[data-state=reconnecting]")
    await page.keyboard.type("while down 😀\nstill down. ", delay=5)
    await page.wait_for_selector("#status[data-state=offline]")
    assert await status(page) == "offline — edits kept"

    own_site.start()
    text = await saved_on_server(page, document)
    assert text == "before the restart. while down 😀\nstill down. "
    assert await status(page) == "saved"


async def test_a_socket_closed_in_the_middle_of_typing_loses_no_character(browser, site, make_user):
    """The page reconnects by itself and resends what was in flight, exactly once."""
    alice = make_user("alice")
    document = services.document_create(title="Drops", owner=alice)
    page = await open_editor(await signed_in(browser, site, alice), site, document)
    await page.click("#text")
    typed = "".join(f"word{n} 👍🏽 " for n in range(30))

    # Close the socket right after the 40th, 120th and 200th keystroke has been handed
    # to the client, so there is always an op in flight or buffered when it goes.
    await page.evaluate(
        """() => {
            let count = 0;
            document.querySelector("#text").addEventListener("input", () => {
                count++;
                if ([40, 120, 200].includes(count)) {
                    const pending = window.collabEditor.client.pending;
                    window.droppedWithPending = (window.droppedWithPending || 0) + pending;
                    window.collabEditor.socket.drop();
                }
            });
        }"""
    )
    await page.keyboard.type(typed, delay=10)
    assert await saved_on_server(page, document) == typed
    assert await page.evaluate("() => window.droppedWithPending") == 3
    readies = await page.evaluate("() => window.collabEditor.client.readies")
    assert readies == 4


async def test_edits_typed_offline_survive_closing_the_tab(browser, own_site, make_user):
    """Typing while the server is down, closing the tab and reopening later loses nothing."""
    alice = make_user("alice")
    document = services.document_create(title="Kept", owner=alice, content="line one\n")
    context = await signed_in(browser, own_site, alice)
    page = await open_editor(context, own_site, document)
    await page.click("#text")
    await page.keyboard.press("Control+End")
    await page.keyboard.type("saved before. ", delay=5)
    await wait_saved(page)

    own_site.stop()
    await page.wait_for_selector("#status[data-state=reconnecting]")
    await page.keyboard.type("typed offline 😀\nand more 🎉", delay=5)
    await page.wait_for_selector("#editor[data-draft=stored]")

    # Leaving with unsent edits asks first; staying keeps the page.
    async with page.expect_event("dialog") as leaving:
        await page.close(run_before_unload=True)
    dialog = await leaving.value
    assert dialog.type == "beforeunload"
    await dialog.dismiss()
    assert await page.evaluate("() => window.collabEditor.client.pending")
    await page.close()

    own_site.start()
    reopened = await open_editor(context, own_site, document)
    text = await saved_on_server(reopened, document)
    assert text == "line one\nsaved before. typed offline 😀\nand more 🎉"
    assert await page_text(reopened) == text
