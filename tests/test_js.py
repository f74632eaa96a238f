"""The JavaScript client's unit tests (``node --test tests/js/``), run as part of pytest."""

import os
import shutil
import subprocess

import pytest

from .conftest import ROOT


def test_javascript_unit_tests_pass():
    """The browser client's OT core, state machine and adapter pass their node tests."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is missing, and CI requires the JavaScript tests to run")
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"node --test failed:\n{output}"
    assert "# fail 0" in result.stdout
