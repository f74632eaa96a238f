"""Markup in titles, usernames, shared names and text stays text in a real browser."""

from editor.domain import services
from editor.models import Membership

from .conftest import open_editor, page_text, signed_in

HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


async def test_hostile_title_username_and_text_are_inert(browser, site, make_user):
    """No script runs and every string reads back exactly as typed."""
    owner = make_user("ada")
    doc = services.document_create(title=HOSTILE, owner=owner, content=HOSTILE + "\n")
    evil = make_user("x<b>y")  # Django usernames allow no markup; this one is as bad as they get
    Membership.objects.create(document=doc, user=evil, role="editor")
    context = await signed_in(browser, site, owner)
    dialogs = []
    context.on("dialog", lambda dialog: dialogs.append(dialog))
    page = await open_editor(context, site, doc)
    assert await page.evaluate("() => window.pwned === undefined")
    assert await page.inner_text("h1") == HOSTILE
    assert await page_text(page) == HOSTILE + "\n"
    assert await page.title() == f"{HOSTILE} · Collab"
    assert "x<b>y" in await page.inner_text("#sharing")
    listing = await context.new_page()
    await listing.goto(site.url + "/")
    assert HOSTILE in await listing.inner_text("main")
    assert await listing.evaluate("() => window.pwned === undefined")
    assert dialogs == []
    await context.close()
