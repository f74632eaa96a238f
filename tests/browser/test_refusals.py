"""A page whose socket is refused for good says why and stops reconnecting."""

from __future__ import annotations

import pytest

from editor.models import Membership

from .conftest import open_editor, signed_in


def revoke(document, bob, context):
    Membership.objects.filter(document=document, user=bob).delete()


def delete(document, bob, context):
    document.delete()


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        pytest.param(revoke, 4403, "You no longer have access to this document.", id="revoked"),
        pytest.param(delete, 4404, "This document no longer exists.", id="deleted"),
        pytest.param(None, 4401, "You are signed out.", id="signed out"),
    ],
)
async def test_a_refused_reconnection_shows_why_and_is_not_retried(
    browser, site, shared_document, change, code, message
):
    """After a 44xx close the page shows a clear message, stops syncing and never retries."""
    alice, bob, document = shared_document("Refusals", "text", ("alice", "bob"))
    context = await signed_in(browser, site, bob)
    page = await open_editor(context, site, document)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))

    if change is None:
        await context.clear_cookies()
    else:
        change(document, bob, context)
    await page.evaluate("() => window.collabEditor.socket.drop()")  # reconnect to learn of it

    await page.wait_for_selector("#status[data-state=stopped]")
    assert message in await page.text_content("#notice")
    assert await page.is_visible("#notice")
    assert await page.eval_on_selector("#text", "t => t.readOnly")
    state = await page.evaluate(
        "() => { const s = window.collabEditor.socket;"
        " return {code: s.finalCode, stopped: s.stopped, waiting: s._timer !== null, ws: s.ws}; }"
    )
    assert state == {"code": code, "stopped": True, "waiting": False, "ws": None}
    # The server closes the open socket itself when the change reaches it over a shared
    # channel layer; otherwise the drop leads to one refused reconnection. Never more.
    assert len(sockets) <= 1
