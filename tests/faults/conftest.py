"""Fixtures of the fault suite: a Redis of its own, two daphnes on it, and the report.

Every scenario runs real daphne processes on PostgreSQL and on a redis-server started
by the suite itself on a free loopback port, so killing that Redis never touches one
shared with anything else. Outside CI the suite is skipped when PostgreSQL or
redis-server is missing; under CI=true it fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import REDIS_SERVER, Daphne, RedisServer, free_port, other_sessions_ended


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the fault suite cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _fault_suite_requirements():
    """PostgreSQL and a redis-server binary, or skip (fail under CI)."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        _unavailable("the fault suite runs on PostgreSQL (set DATABASE_URL)")
    if not os.access(REDIS_SERVER, os.X_OK):
        _unavailable("redis-server is missing (apt-get install redis-server)")


@pytest.fixture(scope="session")
def own_redis():
    server = RedisServer().start()
    yield server
    server.kill()


class Cluster:
    """Two daphne processes on the tests' PostgreSQL database and the suite's Redis."""

    def __init__(self, redis: RedisServer, prefix: str, **env: str) -> None:
        self.env = {"REDIS_URL": redis.url, "COLLAB_REDIS_PREFIX": prefix, **env}
        self.servers = [Daphne(**self.env), Daphne(**self.env)]
        # One site served by two processes, as behind a proxy: a page of either may open
        # a socket on the other (a client that reconnects elsewhere keeps its Origin).
        for server in self.servers:
            server.env["DJANGO_CSRF_TRUSTED_ORIGINS"] = ",".join(s.url for s in self.servers)

    def start(self) -> Cluster:
        for server in self.servers:
            server.start()
        return self

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one server and wait until it has exited."""
        proc = self.servers[index].proc
        assert proc is not None, "the cluster was not started"
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def rss_kib(self, index: int) -> int:
        """The resident memory of one server process, in KiB."""
        proc = self.servers[index].proc
        assert proc is not None, "the cluster was not started"
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


@pytest.fixture
def make_cluster(transactional_db, own_redis, settings):
    """Start two servers (with extra environment); stopped before the database is flushed."""
    started: list[Cluster] = []
    prefix = f"faults-{os.getpid()}-{free_port()}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [own_redis.url], "prefix": prefix},
        }
    }

    def make(**env: str) -> Cluster:
        cluster = Cluster(own_redis, prefix, **env)
        started.append(cluster)
        return cluster.start()

    yield make
    for cluster in started:
        cluster.stop()
    other_sessions_ended()


# --- order and report ------------------------------------------------------------------

# The scenarios' modules, most valuable first: a run cut short has run these.
ORDER = [
    "test_process_faults",
    "test_backend_faults",
    "test_layer_faults",
    "test_stalled_reader",
    "test_reconnect_storm",
    "test_idle_socket",
    "test_document_deleted",
    "test_migrations",
    "test_check",
]


def pytest_collection_modifyitems(config, items):
    """Run the scenarios in ORDER, in the places the suite's items already hold."""

    def module(item) -> str:
        return getattr(item.module, "__name__", "") if hasattr(item, "module") else ""

    places = [i for i, item in enumerate(items) if module(item).startswith("tests.faults.")]
    ranked = sorted(
        (items[i] for i in places),  # stable: within a module, the order of the file
        key=lambda item: (
            ORDER.index(module(item).rsplit(".", 1)[-1]) if module(item).rsplit(".", 1)[-1] in ORDER else len(ORDER)
        ),
    )
    for i, item in zip(places, ranked):
        items[i] = item


def report_path(config) -> Path:
    """COLLAB_FAULT_REPORT, else fault-report.json in the run's temporary directory."""
    given = os.environ.get("COLLAB_FAULT_REPORT")
    if given:
        return Path(given)
    return Path(config._tmp_path_factory.getbasetemp()) / "fault-report.json"


_rows: list[dict] = []
_outcome = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or (report.when == "setup" and report.failed):
        item.stash[_outcome] = report.outcome
    return report


class Scenario:
    """What one scenario injects and checks, for the report's table."""

    def __init__(self) -> None:
        self.name = ""
        self.injected = ""
        self.checked: list[str] = []
        self.measured: list[str] = []

    def describe(self, name: str, injected: str) -> None:
        self.name, self.injected = name, injected

    def note(self, check: str) -> None:
        """A check that passed, in a few words."""
        self.checked.append(check)

    def measure(self, figure: str) -> None:
        """A figure worth reporting (memory, time to recover)."""
        self.measured.append(figure)


@pytest.fixture
def scenario(request):
    """Describe the scenario; its outcome and duration go to the fault report."""
    entry = Scenario()
    started = time.monotonic()
    yield entry
    seconds = time.monotonic() - started
    outcome = request.node.stash.get(_outcome, "failed")
    checked = "; ".join(entry.checked) if outcome == "passed" else "; ".join(entry.checked) + " (then failed)"
    _rows.append(
        {
            "scenario": entry.name or request.node.name,
            "test": request.node.nodeid,
            "injected": entry.injected,
            "checked": checked,
            "measured": "; ".join(entry.measured),
            "result": outcome,
            "seconds": round(seconds, 1),
        }
    )


def pytest_sessionfinish(session, exitstatus):
    if not _rows or not hasattr(session.config, "_tmp_path_factory"):
        return
    path = report_path(session.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": _rows}, indent=2, ensure_ascii=False) + "\n")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"fault report: {path} (render: python scripts/fault_table.py {path})")
