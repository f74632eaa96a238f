"""Unsent edits kept in the browser belong to the person who typed them."""

from __future__ import annotations

from django.test import Client

from editor.domain import selectors

from .conftest import TIMEOUT_MS, open_editor, page_text, signed_in, wait_rev, wait_saved

COUNT_DRAFTS = """() => new Promise((resolve, reject) => {
    const req = indexedDB.open("collab-drafts", 1);
    req.onsuccess = () => {
        const all = req.result.transaction("drafts").objectStore("drafts").getAll();
        all.onsuccess = () => { resolve(all.result.length); req.result.close(); };
        all.onerror = () => reject(all.error);
    };
    req.onerror = () => reject(req.error);
})"""


async def sign_in_as(context, server, user) -> None:
    """Make ``user`` the person signed in in this browser profile (cookies only)."""
    client = Client()
    client.force_login(user)
    await context.clear_cookies()
    await context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.url}])


async def type_offline_and_close(context, server, document, words: str) -> None:
    """Type ``words`` at the end of the text while the server is down, then close the tab."""
    page = await open_editor(context, server, document)
    server.stop()
    await page.wait_for_selector("#status[data-state=reconnecting]")
    await page.click("#text")
    await page.keyboard.press("Control+End")
    await page.keyboard.type(words, delay=5)
    await page.wait_for_selector("#editor[data-draft=stored]")
    await page.close()  # without asking: the edits stay in IndexedDB
    server.start()


async def test_another_person_in_the_same_browser_never_sends_the_unsent_edits(browser, own_site, shared_document):
    """Alice's offline edits wait for Alice: Bob, signed in next in that browser, opens
    the document without them; Alice, back, sends them."""
    alice, bob, document = shared_document("Shared", "start\n", ("alice", "bob"))
    context = await signed_in(browser, own_site, alice)
    await type_offline_and_close(context, own_site, document, "alice was offline")

    await sign_in_as(context, own_site, bob)
    page = await open_editor(context, own_site, document)
    await wait_saved(page)
    document.refresh_from_db()
    assert selectors.document_text(document) == "start\n" == await page_text(page)
    assert await page.evaluate(COUNT_DRAFTS) == 1  # still Alice's
    await page.close()

    await sign_in_as(context, own_site, alice)
    page = await open_editor(context, own_site, document)
    await page.wait_for_function("() => !window.collabEditor.client.pending", timeout=TIMEOUT_MS)
    document.refresh_from_db()
    await wait_rev(page, document.revision)
    assert selectors.document_text(document) == "start\nalice was offline" == await page_text(page)


async def test_signing_out_deletes_the_persons_unsent_edits(browser, own_site, shared_document):
    """Unsent edits do not outlive the session in the browser: sign-out removes them."""
    alice, bob, document = shared_document("Private", "start\n", ("alice", "bob"))
    context = await signed_in(browser, own_site, alice)
    await type_offline_and_close(context, own_site, document, "secret words")

    page = await context.new_page()
    await page.goto(f"{own_site.url}/")
    assert await page.evaluate(COUNT_DRAFTS) == 1
    async with page.expect_navigation():
        await page.click("form[data-sign-out] button")
    assert "/accounts/login/" in page.url
    assert await page.evaluate(COUNT_DRAFTS) == 0

    await sign_in_as(context, own_site, bob)
    bobs = await open_editor(context, own_site, document)
    document.refresh_from_db()
    assert "secret" not in selectors.document_text(document) and "secret" not in await page_text(bobs)
