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
    await context.clock.install()  # time runs as usual, until the test moves it on
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
    socket_state = (
        "() => { const s = window.collabEditor.socket; return {code: s.finalCode, stopped: s.stopped, ws: s.ws}; }"
    )
    assert await page.evaluate(socket_state) == {"code": code, "stopped": True, "ws": None}
    # The server closes the open socket itself when the change reaches it over a shared
    # channel layer; otherwise the drop leads to one refused reconnection. Never more,
    # not even after a minute, far past the longest wait between attempts (10 s).
    await page.clock.run_for(60_000)
    assert len(sockets) <= 1
    assert await page.evaluate(socket_state) == {"code": code, "stopped": True, "ws": None}
