"""History in the browser: the timeline, a past revision, and restoring it while someone types."""

from __future__ import annotations

from editor.domain import selectors, services
from editor.models import Membership, Operation

from .conftest import open_editor, open_editors, page_text, signed_in, wait_rev, wait_saved


async def test_restoring_a_version_reaches_the_other_person_and_keeps_the_history(browser, site, shared_document):
    """grace (an editor) restores revision 1 from the history; ada, in the editor, sees it."""
    ada, grace, document = shared_document("Minutes", "Attendees: ada\n")
    page_a = await open_editor(await signed_in(browser, site, ada), site, document)
    await page_a.click("#text")
    await page_a.keyboard.press("Control+End")
    await page_a.keyboard.type("Decided: nothing", delay=5)
    await wait_saved(page_a)
    document.refresh_from_db()
    head = document.revision
    assert head > 2

    page_g = await (await signed_in(browser, site, grace)).new_page()
    await page_g.goto(f"{site.url}/documents/{document.pk}/")
    await page_g.click("#history")
    await page_g.wait_for_selector("#timeline")
    rows = await page_g.eval_on_selector_all("#timeline tbody tr", "rows => rows.map(r => r.innerText)")
    assert len(rows) == head and rows[0].startswith(f"{head}\tada") and rows[-1].startswith("1\tada")
    await page_g.click("#timeline >> text='1'")
    assert await page_g.text_content("#revision-text ins") == "Attendees: ada↵\n"  # a line break marked
    await page_g.click("#restore")
    await page_g.wait_for_selector(".messages >> text=Restored the text of revision 1")
    await wait_saved(page_g)

    await wait_rev(page_a, head + 1)
    assert await page_text(page_a) == "Attendees: ada\n" == await page_text(page_g)
    assert selectors.document_snapshot(document_id=document.pk) == (head + 1, "Attendees: ada\n")
    assert Operation.objects.filter(document=document).count() == head + 1
    assert Operation.objects.get(document=document, revision=head + 1).user == grace


async def test_a_viewer_reads_history_but_cannot_restore(browser, site, make_user):
    """The history is there for viewers; the restore button is not."""
    ada, vera = make_user("ada"), make_user("vera")
    document = services.document_create(title="Read only", owner=ada, content="v1")
    services.document_replace_text(document_id=document.pk, user=ada, base=1, text="v2", client="admin")
    Membership.objects.create(document=document, user=vera, role=Membership.Role.VIEWER)
    page = await open_editor(await signed_in(browser, site, vera), site, document)
    await page.click("#history")
    await page.click("#timeline >> text='1'")
    assert await page.text_content("#revision-text") == "v1"
    assert await page.query_selector("#restore") is None


async def test_who_wrote_what_colours_each_persons_text(browser, site, shared_document):
    """Two people type; the authorship view marks each one's words in a colour of their own."""
    ada, grace, document = shared_document("Together")
    page_a, page_g = await open_editors(browser, site, document, ada, grace)
    await page_a.click("#text")
    await page_a.keyboard.type("ada wrote this. ", delay=5)
    await wait_saved(page_a)
    document.refresh_from_db()
    await wait_rev(page_g, document.revision)
    await page_g.click("#text")
    await page_g.keyboard.press("Control+End")
    await page_g.keyboard.type("grace added that.", delay=5)
    await wait_saved(page_g)
    await page_a.click("#history")
    await page_a.click("#authors")
    # authors.js is a module: it runs after the text is parsed, so its colours come a moment later.
    await page_a.wait_for_function(
        "() => { const spans = [...document.querySelectorAll('#authors-text .by')];"
        " return spans.length > 0 && spans.every(s => getComputedStyle(s).getPropertyValue('--author-color')); }"
    )
    parts = await page_a.eval_on_selector_all(
        "#authors-text .by",
        "spans => spans.map(s => [s.dataset.author, s.textContent, getComputedStyle(s).getPropertyValue('--author-color')])",
    )
    assert [(name, text) for name, text, _ in parts] == [("ada", "ada wrote this. "), ("grace", "grace added that.")]
    assert parts[0][2] and parts[1][2] and parts[0][2] != parts[1][2]
