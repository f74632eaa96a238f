"""A test that hangs fails alone, saying where it waits, and the run goes on."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from .conftest import ROOT

HANGING = textwrap.dedent(
    """
    import asyncio

    async def test_waits_for_nothing_that_will_come():
        async def forever():
            await asyncio.Event().wait()
        await asyncio.create_task(forever())

    async def test_runs_after_it():
        await asyncio.sleep(0)
    """
)


def test_a_hanging_test_fails_with_the_stacks_of_its_pending_tasks(tmp_path):
    """pytest-timeout stops it; tests/hangs.py adds each pending task's stack."""
    (tmp_path / "test_hanging.py").write_text(HANGING)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.hangs",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "timeout=2",
            "-o",
            "timeout_method=signal",
            str(tmp_path / "test_hanging.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    assert "Timeout" in done.stdout
    assert "pending asyncio tasks" in done.stdout
    assert "in forever" in done.stdout and "await asyncio.Event().wait()" in done.stdout
