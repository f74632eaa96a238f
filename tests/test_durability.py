"""Acked means durable: SQLite syncs every commit unless told otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT

# PRAGMA synchronous answers a number: 1 NORMAL, 2 FULL, 3 EXTRA.
LEVELS = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}


def synchronous_in_a_fresh_process(**env: str) -> str:
    """What ``PRAGMA synchronous`` reads on a connection opened by the settings."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'collab.settings'; django.setup();"
        "from django.db import connection; c = connection.cursor(); c.execute('PRAGMA synchronous');"
        "print(c.fetchone()[0])"
    )
    environ = {"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "1", "COLLAB_SQLITE_PATH": ":memory:", **env}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("level", ["NORMAL", "FULL", "EXTRA", None])
def test_the_level_is_chosen_by_an_environment_variable(level):
    """FULL when unset; NORMAL or EXTRA when asked for."""
    env = {"COLLAB_SQLITE_SYNCHRONOUS": level.lower()} if level else {}
    assert synchronous_in_a_fresh_process(**env) == str(LEVELS[level or "FULL"])


def test_an_unknown_level_is_refused_at_start():
    """A typo must not silently fall back to a weaker setting."""
    with pytest.raises(AssertionError, match="COLLAB_SQLITE_SYNCHRONOUS must be"):
        synchronous_in_a_fresh_process(COLLAB_SQLITE_SYNCHRONOUS="OFF")


def test_the_benchmark_of_the_sync_cost_runs(capsys):
    """``python -m bench.sqlite_sync`` times both levels and prints the difference."""
    from bench import sqlite_sync

    [(normal, full)] = sqlite_sync.main(["--commits", "20", "--rounds", "1"])
    assert normal > 0 and full > 0
    assert "FULL costs" in capsys.readouterr().out
