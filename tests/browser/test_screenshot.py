"""The README's picture: two people editing one document, side by side."""

from __future__ import annotations

import base64
import struct

from tests.conftest import ROOT

from .conftest import open_editors, wait_rev, wait_saved

SCREENSHOT = ROOT / "docs" / "screenshot.png"

SIDE_BY_SIDE = """<!doctype html>
<style>
  body {{ margin: 0; padding: 16px; background: #e9ecef; font: 14px system-ui, sans-serif; }}
  .pair {{ display: flex; gap: 16px; }}
  figure {{ margin: 0; }}
  figcaption {{ margin-bottom: 6px; color: #495057; }}
  img {{ display: block; border: 1px solid #ced4da; border-radius: 6px; }}
</style>
<div class="pair">
  <figure><figcaption>{left_caption}</figcaption><img src="data:image/png;base64,{left}"></figure>
  <figure><figcaption>{right_caption}</figcaption><img src="data:image/png;base64,{right}"></figure>
</div>
"""


async def test_two_people_editing_one_document_are_pictured_for_the_readme(browser, site, shared_document):
    """Both pages show the same text and each other; the pair is written to docs/screenshot.png."""
    ada, grace, document = shared_document("Launch checklist", "Launch checklist\n\n")
    size = {"width": 620, "height": 440}
    page_a, page_g = await open_editors(browser, site, document, ada, grace, viewport=size)

    # One line per revision, each saved before the next, so the picture is the same on
    # every run (the machines have no colour emoji font, so the text has none).
    lines = [
        (page_a, "- [x] write the release notes\n"),
        (page_a, "- [ ] tag v1.0\n"),
        (page_g, "- [ ] check the docs\n"),
        (page_g, "- [ ] tell everyone"),
    ]
    for page, line in lines:
        await page.click("#text")
        await page.keyboard.press("Control+End")
        await page.keyboard.insert_text(line)
        await wait_saved(page)
    document.refresh_from_db()
    for page in (page_a, page_g):
        await wait_rev(page, document.revision)
        await page.wait_for_selector("#peers:not(:empty)")
    assert "also here: grace" in await page_a.text_content("#peers")
    assert "also here: ada" in await page_g.text_content("#peers")

    shots = [base64.b64encode(await page.screenshot()).decode() for page in (page_a, page_g)]
    sheet = await (await browser.new_context(viewport={"width": 1290, "height": 500})).new_page()
    await sheet.set_content(
        SIDE_BY_SIDE.format(
            left=shots[0],
            right=shots[1],
            left_caption="ada's browser",
            right_caption="grace's browser",
        )
    )
    await sheet.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(await sheet.screenshot(full_page=True))

    header = SCREENSHOT.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width >= 2 * size["width"] and height >= size["height"]
