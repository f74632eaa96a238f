"""The documentation keeps up with the code."""

import re

from django.conf import settings

from editor.domain import errors

from .conftest import ROOT


def test_every_limit_setting_is_documented():
    """Each COLLAB_* setting appears in docs/protocol.md."""
    documented = (ROOT / "docs" / "protocol.md").read_text()
    names = [name for name in dir(settings) if name.startswith("COLLAB_")]
    assert names and [n for n in names if n not in documented] == []


def test_every_error_code_is_documented():
    """Each error code of the table of codes has a row in the protocol page's table, which
    calls it retryable exactly when the table does, and the page's table has no other row."""
    documented = (ROOT / "docs" / "protocol.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", documented, re.MULTILINE))
    table = errors.CODES["errors"]
    assert len(table) == 8 and sorted(rows) == sorted(table)
    assert (
        {code for code, row in rows.items() if "retryable" in row}
        == {code for code, entry in table.items() if entry["retryable"]}
        == {"rate_limited"}
    )


def test_every_close_code_is_documented():
    """Each close code of the table of codes is named on the protocol page."""
    documented = (ROOT / "docs" / "protocol.md").read_text()
    closes = list(errors.CODES["closes"])
    assert len(closes) == 8 and [code for code in closes if f"`{code}`" not in documented] == []


def test_every_abuse_limit_is_in_the_security_page():
    """Each limit on what one client or person may cost appears in docs/security.md."""
    documented = (ROOT / "docs" / "security.md").read_text()
    limits = [
        name
        for name in dir(settings)
        if name.startswith(("COLLAB_MAX_", "COLLAB_LOGIN_", "COLLAB_ABUSE_"))
        or (name.startswith("COLLAB_") and name.endswith(("_PER_SECOND", "_BURST")))
    ]
    assert len(limits) >= 12 and [n for n in limits if f"`{n}`" not in documented] == []
