"""The people in a document: colours, who is typing, and joins and leaves announced."""

from __future__ import annotations

from .conftest import open_editor, signed_in


async def test_people_have_distinct_colours_typing_shows_and_arrivals_are_announced(browser, site, shared_document):
    """ada sees grace arrive (announced), with a colour of her own, typing, then leaving (announced)."""
    ada, grace, document = shared_document("People")
    page_a = await open_editor(await signed_in(browser, site, ada), site, document)
    assert await page_a.get_attribute("#announcer", "aria-live") == "polite"
    # Whoever is already there when one joins is not news; later arrivals are.
    await page_a.wait_for_function("() => window.collabEditor.announcing()")

    context_g = await signed_in(browser, site, grace)
    page_g = await open_editor(context_g, site, document)
    await page_a.wait_for_function("() => document.querySelector('#announcer').textContent === 'grace joined.'")
    await page_a.wait_for_selector("#peers .person >> text=grace")
    grace_color = await page_a.eval_on_selector("#peers .person", "p => p.style.getPropertyValue('--person-color')")
    colors = await page_a.evaluate("() => Object.fromEntries(window.collabEditor.colors())")
    assert colors == {str(ada.pk): colors[str(ada.pk)], str(grace.pk): grace_color}
    assert colors[str(ada.pk)] != grace_color
    # grace's tab computes the same colours.
    assert await page_g.evaluate("() => Object.fromEntries(window.collabEditor.colors())") == colors

    await page_g.click("#text")
    await page_g.keyboard.type("hello", delay=20)
    await page_a.wait_for_selector("#peers .person[data-typing=true] >> text=(typing)")
    await page_a.wait_for_selector("#peers .person[data-typing=false]")  # fades after a pause

    await context_g.close()
    await page_a.wait_for_function("() => document.querySelector('#announcer').textContent === 'grace left.'")
    await page_a.wait_for_selector("#peers:empty", state="attached")
