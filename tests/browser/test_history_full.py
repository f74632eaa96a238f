"""The editor page of a document whose history is full (COLLAB_HISTORY_MAX_BYTES)."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from .conftest import open_editors, page_text, wait_saved


async def test_the_page_says_the_history_is_full_and_deleting_still_works(browser, site, shared_document):
    from django.conf import settings

    from editor.domain import selectors
    from editor.models import Document

    owner, _, document = await sync_to_async(shared_document)("Full", "keep this\n")
    # The site's daphne runs with the default limit: a history counted at it is full.
    await sync_to_async(Document.objects.filter(pk=document.pk).update)(history_bytes=settings.COLLAB_HISTORY_MAX_BYTES)
    [page] = await open_editors(browser, site, document, owner)
    assert "history is full" in await page.inner_text("#history-full")
    await page.click("#text")
    await page.keyboard.press("Control+End")
    await page.keyboard.press("Backspace")  # deleting is still taken
    await page.wait_for_function("() => window.collabEditor.client.rev === 2")
    await wait_saved(page)
    await page.keyboard.type("new", delay=10)  # refused as too_large: not saved
    await page.wait_for_function("() => window.collabEditor.client.errors.some(e => e.code === 'too_large')")
    await wait_saved(page)
    assert await page_text(page) == "keep this"
    text = await sync_to_async(selectors.document_snapshot)(document_id=document.pk)
    assert text == (2, "keep this")
