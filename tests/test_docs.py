"""The documentation keeps up with the code."""

import re

from django.conf import settings

from .conftest import ROOT


def test_every_limit_setting_is_documented():
    """Each COLLAB_* setting appears in docs/protocol.md."""
    documented = (ROOT / "docs" / "protocol.md").read_text()
    names = [name for name in dir(settings) if name.startswith("COLLAB_")]
    assert names and [n for n in names if n not in documented] == []


def test_every_error_code_is_documented():
    """Each error code the server can send appears in the protocol page's table."""
    documented = (ROOT / "docs" / "protocol.md").read_text()
    source = (ROOT / "editor" / "domain" / "errors.py").read_text()
    codes = re.findall(r'code = "(\w+)"', source)
    codes = sorted(set(codes))
    assert len(codes) == 8 and [c for c in codes if f"`{c}`" not in documented] == []


def test_every_abuse_limit_is_in_the_security_page():
    """Each limit on what one client or person may cost appears in docs/security.md."""
    documented = (ROOT / "docs" / "security.md").read_text()
    limits = [
        name for name in dir(settings)
        if name.startswith(("COLLAB_MAX_", "COLLAB_LOGIN_", "COLLAB_ABUSE_"))
        or (name.startswith("COLLAB_") and name.endswith(("_PER_SECOND", "_BURST")))
    ]
    assert len(limits) >= 12 and [n for n in limits if f"`{n}`" not in documented] == []

