"""Browser fixtures: headless Chromium (Debian's, never a downloaded one) on the editor page.

Outside CI the browser tests are skipped when /usr/bin/chromium or Playwright is
missing; under CI=true they fail instead, so a broken set-up cannot pass unnoticed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import pytest
import pytest_asyncio
from django.test import Client

from tests.conftest import Daphne, running, settle

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for a slow shared machine, short enough that a hang fails the test quickly.
TIMEOUT_MS = 15_000


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    """Skip (or, under CI, fail) every browser test when Chromium or Playwright is missing."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)


# The project's application serves its own static files, so the site is a plain daphne.
SiteServer = Daphne


@pytest.fixture(scope="session")
def site_daphne(django_db_setup, django_db_blocker):
    """One site server for the session, on the tests' database."""
    with running(SiteServer(), django_db_blocker) as server:
        yield server


@pytest.fixture
def site(site_daphne, transactional_db):
    """The session's site server, with a clean database for this test."""
    yield site_daphne
    settle()


@pytest.fixture
def own_site(transactional_db, django_db_blocker):
    """A site server of this test's own, free to be stopped and restarted."""
    with running(SiteServer(), django_db_blocker) as server:
        yield server


@pytest_asyncio.fixture
async def browser():
    """A headless Chromium for one test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
def shared_document(make_user):
    """``shared_document(title, content, people=("ada", "grace"))`` makes the two people
    and a document of the first one's that the second may edit; returns
    ``(owner, editor, document)``."""

    from editor.domain import services
    from editor.models import Membership

    def make(title: str, content: str = "", people: tuple[str, str] = ("ada", "grace")):
        owner, editor = (make_user(name) for name in people)
        document = services.document_create(title=title, owner=owner, content=content)
        Membership.objects.create(document=document, user=editor, role=Membership.Role.EDITOR)
        return owner, editor, document

    return make


class Site(Protocol):
    """Where pages are opened: a :class:`Daphne`, or nginx in front of some."""

    @property
    def url(self) -> str: ...


async def signed_in(browser, server: Site, user, **options):
    """A browser context (a profile: cookies, IndexedDB) in which ``user`` is signed in
    to ``server`` (a daphne, or any site with a ``url``)."""
    client = Client()
    client.force_login(user)
    options.setdefault("viewport", {"width": 900, "height": 640})
    context = await browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.url}])
    return context


async def open_editor(context, server: Site, document):
    """Open the editor page of ``document`` and wait until it holds the server's text."""
    page = await context.new_page()
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    await page.goto(f"{server.url}/documents/{document.pk}/")
    await wait_saved(page)
    return page


async def open_editors(browser, server: Daphne, document, *users, **options) -> list:
    """The editor page of ``document`` for each of ``users``, each signed in in a browser
    context of their own (``options`` as for :func:`signed_in`)."""
    return [await open_editor(await signed_in(browser, server, user, **options), server, document) for user in users]


async def wait_saved(page):
    """Wait until the server has acknowledged every edit made in ``page``."""
    await page.wait_for_selector("#status[data-state=saved]")


async def page_text(page) -> str:
    """The text in the page's text box."""
    return await page.eval_on_selector("#text", "t => t.value")


async def wait_rev(page, rev: int):
    """Wait until the page's client holds revision ``rev``."""
    await page.wait_for_function(f"() => window.collabEditor.client.rev === {rev}")


async def page_state(page) -> dict:
    """What the page's client holds: text, revision, pending edits, and the text box."""
    return await page.evaluate(
        """() => {
            const c = window.collabEditor.client;
            const box = document.querySelector("#text").value;
            return {text: c.text, rev: c.rev, pending: c.pending, box};
        }"""
    )


async def converged(pages, document) -> str:
    """Wait until every page holds the server's latest revision, with nothing pending
    and its text box showing it; return that text."""
    from editor.domain import selectors

    for page in pages:
        await wait_saved(page)
    document.refresh_from_db()
    for page in pages:
        await wait_rev(page, document.revision)
    text = selectors.document_text(document)
    for state in [await page_state(page) for page in pages]:
        assert state["text"] == state["box"] == text
        assert not state["pending"]
    return text
