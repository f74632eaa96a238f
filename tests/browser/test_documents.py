"""Managing documents in the browser: download, upload, rename, delete, counts."""

from __future__ import annotations

from editor.domain import selectors
from editor.models import Document

from .conftest import open_editor, open_editors, signed_in, wait_saved


async def test_download_saves_the_text_typed_so_far_under_the_title(browser, site, shared_document):
    """After typing, the download link saves the current text as "<title>.txt"."""
    ada, _, document = shared_document("Café plans", "first line\n")
    page = await open_editor(await signed_in(browser, site, ada, accept_downloads=True), site, document)
    await page.click("#text")
    await page.keyboard.press("Control+End")
    await page.keyboard.insert_text("zweite Zeile ✓")
    await wait_saved(page)
    async with page.expect_download() as info:
        await page.click("#download")
    download = await info.value
    assert download.suggested_filename == "Café plans.txt"
    with open(await download.path(), "rb") as saved:  # noqa: ASYNC230 - a small local file, read once
        assert saved.read() == "first line\nzweite Zeile ✓".encode()


async def test_upload_opens_the_new_document_holding_the_file(browser, site, make_user):
    """Uploading from the list creates the document and opens it with the file's text."""
    ada = make_user("ada")
    page = await (await signed_in(browser, site, ada)).new_page()
    await page.goto(f"{site.url}/")
    await page.set_input_files(
        "input[name=file]",
        files=[{"name": "Reise.txt", "mimeType": "text/plain", "buffer": "Tag 1: Berlin 🚆\n".encode()}],
    )
    await page.click(".upload-document button")
    await wait_saved(page)
    assert await page.text_content("h1") == "Reise"
    assert await page.eval_on_selector("#text", "t => t.value") == "Tag 1: Berlin 🚆\n"
    await page.wait_for_function("() => document.querySelector('#counts').textContent === '16 characters, 4 words'")
    document = Document.objects.get()
    assert (document.owner, document.revision) == (ada, 1)

    # A binary file: a clear message on the list, and no second document.
    await page.goto(f"{site.url}/")
    await page.set_input_files(
        "input[name=file]",
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n\x00\x00"}],
    )
    await page.click(".upload-document button")
    assert "binary file" in await page.text_content(".messages")
    assert Document.objects.count() == 1


async def test_the_owner_renames_from_the_editor_page(browser, site, shared_document):
    """The rename form changes the title the page and the list show."""
    ada, _, document = shared_document("Café plans")
    page = await open_editor(await signed_in(browser, site, ada), site, document)
    await page.fill(".rename input[name=title]", "Trip to Lyon")
    await page.click("#rename")
    await wait_saved(page)
    assert await page.text_content("h1") == "Trip to Lyon"
    document.refresh_from_db()
    assert document.title == "Trip to Lyon"


async def test_deleting_closes_the_document_for_the_other_person_in_it(browser, site, shared_document):
    """The owner confirms; grace, typing in the same document, is told it no longer exists."""
    ada, grace, document = shared_document("Café plans", "soon gone\n")
    page_a, page_g = await open_editors(browser, site, document, ada, grace)
    assert await page_g.query_selector("#delete") is None  # only the owner may delete

    await page_a.click("#delete")
    await page_a.wait_for_selector("#confirm-delete")
    assert Document.objects.filter(pk=document.pk).exists()  # nothing happens before confirming
    await page_a.click("#confirm-delete")
    await page_a.wait_for_selector(".messages >> text=Deleted")

    await page_g.wait_for_selector("#notice:not([hidden])")
    assert await page_g.text_content("#notice") == "This document no longer exists."
    assert await page_g.get_attribute("#status", "data-state") == "stopped"
    assert await page_g.eval_on_selector("#text", "t => t.readOnly")
    assert not Document.objects.filter(pk=document.pk).exists()
    assert selectors.operations_since(document_id=document.pk, since=0) == []
