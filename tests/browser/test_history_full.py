"""The editor page of a document whose history is full (COLLAB_HISTORY_MAX_BYTES)."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from .conftest import open_editor, page_text, signed_in, wait_saved


async def test_the_page_says_the_history_is_full_keeps_what_is_typed_and_sends_it_once_freed(
    browser, site, shared_document
):
    from django.conf import settings

    from editor.domain import selectors
    from editor.models import Document

    owner, _, document = await sync_to_async(shared_document)("Full", "keep this\n")
    # The site's daphne runs with the default limit: a history counted at it is full.
    await sync_to_async(Document.objects.filter(pk=document.pk).update)(history_bytes=settings.COLLAB_HISTORY_MAX_BYTES)
    context = await signed_in(browser, site, owner)
    await context.clock.install()  # time runs as usual, until the test moves it on
    page = await open_editor(context, site, document)
    assert "history is full" in await page.inner_text("#history-full")
    await page.click("#text")
    await page.keyboard.press("Control+End")
    await page.keyboard.press("Backspace")  # deleting is still taken
    await page.wait_for_function("() => window.collabEditor.client.rev === 2")
    await wait_saved(page)
    await page.keyboard.type("new", delay=10)  # refused as rate_limited: kept, sent again later
    await page.wait_for_function(
        "() => window.collabEditor.client.errors.some(e => e.code === 'rate_limited' && e.retry_after === 60000)"
    )
    await page.wait_for_function("() => window.collabEditor.client.waiting")
    assert await page_text(page) == "keep thisnew"  # the person's text stays on the page
    assert await sync_to_async(selectors.document_snapshot)(document_id=document.pk) == (2, "keep this")
    # Once the history has room again, the kept edit lands at its next try.
    await sync_to_async(Document.objects.filter(pk=document.pk).update)(history_bytes=0)
    await page.clock.run_for(61_000)
    await wait_saved(page)
    assert await page_text(page) == "keep thisnew"
    assert (await sync_to_async(selectors.document_snapshot)(document_id=document.pk))[1] == "keep thisnew"
