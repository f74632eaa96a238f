"""The editor works under the site's Content-Security-Policy."""

from __future__ import annotations

from .conftest import converged, signed_in, wait_saved

# Records every violation the page reports, from before its first script runs.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


async def test_the_editor_types_and_syncs_with_no_policy_violation(browser, site, shared_document):
    """Two people type under the policy; the page's carets and styles report no violation."""
    alice, bob, document = shared_document("Policy", "one\n", ("alice", "bob"))
    pages, console = [], []
    for user in (alice, bob):
        context = await signed_in(browser, site, user)
        await context.add_init_script(RECORD_VIOLATIONS)
        page = await context.new_page()
        page.on("console", lambda m: console.append(m.text))
        response = await page.goto(f"{site.url}/documents/{document.pk}/")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        await wait_saved(page)
        pages.append(page)
    alice_page, bob_page = pages
    await alice_page.click("#text")
    await alice_page.keyboard.press("Control+End")
    await alice_page.keyboard.type("typed under a policy 😀", delay=10)
    await bob_page.click("#text")
    await bob_page.keyboard.press("Control+Home")
    await bob_page.keyboard.type("bob: ", delay=10)
    assert await converged(pages, document) == "bob: one\ntyped under a policy 😀"
    # Peers' carets are drawn (styled from script) under the same policy.
    await alice_page.wait_for_selector(".caret, [class*=caret]", state="attached")
    for page in pages:
        assert await page.evaluate("window.__violations") == []
    assert not [line for line in console if "Content Security Policy" in line]
