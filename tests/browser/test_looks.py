"""The README's pictures of the history view and of dark mode, and the narrow layout."""

from __future__ import annotations

import struct

from editor.domain import services
from tests.conftest import ROOT

from .conftest import open_editor, signed_in, wait_saved

HISTORY_PICTURE = ROOT / "docs" / "history.png"
DARK_PICTURE = ROOT / "docs" / "dark.png"


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def plan(shared_document):
    ada, grace, document = shared_document("Release plan", "Release plan\n\n- write the notes\n")
    services.document_replace_text(
        document_id=document.pk,
        user=grace,
        base=1,
        client="edit-1",
        text="Release plan\n\n- write the notes\n- tag v1.0\n",
    )
    services.document_replace_text(
        document_id=document.pk,
        user=ada,
        base=2,
        client="edit-2",
        text="Release plan (v1.0)\n\n- write the release notes\n- tag v1.0\n",
    )
    return ada, grace, document


async def test_the_history_view_is_pictured_for_the_readme(browser, site, shared_document):
    """A revision with its change marked, written to docs/history.png."""
    ada, _, document = plan(shared_document)
    page = await (await signed_in(browser, site, ada, viewport={"width": 900, "height": 520})).new_page()
    await page.goto(f"{site.url}/documents/{document.pk}/history/")
    assert await page.locator("#timeline tbody tr").count() == 3
    await page.click("#timeline >> text='3'")
    assert await page.locator("#revision-text ins").count() >= 2
    assert await page.locator("#revision-text del").count() >= 1
    await page.screenshot(path=str(HISTORY_PICTURE))
    assert png_size(HISTORY_PICTURE) == (900, 520)


async def test_dark_mode_follows_the_system_and_is_pictured_for_the_readme(browser, site, shared_document):
    """With a dark system setting the page is dark (checked by its colours); written to docs/dark.png."""
    ada, grace, document = plan(shared_document)
    size = {"width": 900, "height": 520}
    page = await open_editor(await signed_in(browser, site, ada, viewport=size, color_scheme="dark"), site, document)
    await open_editor(await signed_in(browser, site, grace, color_scheme="dark"), site, document)
    await page.wait_for_selector("#peers .person")
    await wait_saved(page)
    background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    text_box = await page.eval_on_selector("#text", "t => getComputedStyle(t).backgroundColor")
    assert background == "rgb(21, 27, 35)" and text_box == "rgb(13, 17, 23)"
    await page.screenshot(path=str(DARK_PICTURE))
    assert png_size(DARK_PICTURE) == (900, 520)


async def test_narrow_screens_keep_every_action_in_view_and_reachable_by_keyboard(browser, site, shared_document):
    """At phone width nothing scrolls sideways, and Tab reaches undo, history, download, rename and delete."""
    ada, _, document = plan(shared_document)
    page = await open_editor(
        await signed_in(browser, site, ada, viewport={"width": 360, "height": 740}), site, document
    )
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    reached = set()
    for _ in range(30):
        await page.keyboard.press("Tab")
        reached.add(await page.evaluate("() => document.activeElement.id || document.activeElement.name || ''"))
    assert {"history", "download", "rename", "delete", "text"} <= reached
    await page.goto(f"{site.url}/")
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
