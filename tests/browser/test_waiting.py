"""A person typing faster than the server's op budget: the page waits, and loses nothing."""

from __future__ import annotations

import pytest

from editor.domain import selectors, services

from .conftest import SiteServer, open_editor, page_text, signed_in, wait_saved


@pytest.fixture
def slow_site(transactional_db):
    """A site whose op budget is 2 a second with bursts of 3."""
    server = SiteServer(COLLAB_OPS_PER_SECOND="2", COLLAB_OPS_BURST="3", COLLAB_ABUSE_LIMIT="1000").start()
    yield server
    server.stop()


async def test_typing_past_the_rate_limit_shows_waiting_and_every_key_lands(browser, slow_site, make_user):
    """rate_limited is retried after retry_after: the status says waiting, then saved."""
    ada = make_user("ada")
    document = services.document_create(title="Fast", owner=ada, content="")
    context = await signed_in(browser, slow_site, ada)
    page = await open_editor(context, slow_site, document)
    await page.evaluate("""() => {
        window.__states = [];
        new MutationObserver(() => window.__states.push(document.querySelector("#status").dataset.state))
            .observe(document.querySelector("#status"), {attributes: true});
    }""")
    await page.click("#text")
    typed = "abcdefghijkl"
    for char in typed:
        await page.keyboard.type(char)
        await page.wait_for_function(
            "() => window.collabEditor.client.outstanding === null || window.collabEditor.client.waiting"
        )
    await wait_saved(page)
    assert "waiting" in await page.evaluate("window.__states")
    document.refresh_from_db()
    assert selectors.document_text(document) == typed == await page_text(page)
    codes = [e["code"] for e in await page.evaluate("window.collabEditor.client.errors")]
    assert codes and set(codes) == {"rate_limited"}
