"""What every workload shares: databases, the server process, its CPU and memory, figures.

The server runs pinned to core 0 and the load generator to core 1 (when the machine
has two cores and ``taskset``), so the two do not steal each other's time slices.
Everything that needs Django runs in a subprocess (:mod:`bench.dataset`): the
benchmark process never holds the database's write lock while the server runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SERVER_CORE = 0
LOAD_CORE = 1
PERCENTILES = (50, 95, 99)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# One key for the set-up and the server: session hashes are signed with it.
_SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(40)
_pinning = True  # see begin()


# --- command line and results ----------------------------------------------------------


def base_parser(workload: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every workload takes."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{workload}", description=description)
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / f"{workload}.json",
        help="where to write the JSON figures (default: %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="serve through channels-redis at this URL instead of the in-memory layer",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="serve from fresh databases on this PostgreSQL server (its URL) instead of SQLite files",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the server and the load generator run on any core (for test runs)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy while measuring; raw stacks go next to the JSON",
    )
    return parser


def begin(args: argparse.Namespace) -> dict[str, Any]:
    """Pin (unless ``--no-pin``) this process to the load generator's core; describe the machine."""
    global _pinning
    _pinning = not args.no_pin
    lighten_socket_reads()
    return {**machine(), "load_generator_pinned": pin_load_generator()}


# What the load generator's sockets read at once. asyncio's own 256 KiB (Python 3.11)
# makes every read allocate, and free, a buffer that size, through mmap: with 50
# typists that took a third of the generator's core and added about a millisecond to
# every latency it measured. Twisted, serving the other end, reads 64 KiB at once too.
GENERATOR_READ_BYTES = 64 * 1024


def lighten_socket_reads() -> None:
    """Make this process's asyncio sockets read at most GENERATOR_READ_BYTES at once."""
    from asyncio import selector_events

    selector_events._SelectorSocketTransport.max_size = GENERATOR_READ_BYTES  # type: ignore[attr-defined]


def machine() -> dict[str, Any]:
    """Where and when the figures were taken: load matters on a shared machine."""
    try:
        commit = _git("rev-parse", "--short", "HEAD").strip()
        # Changes outside bench/ would make the figures those of an unnamed server.
        changed = [
            line for line in _git("status", "--porcelain", "--untracked-files=no").splitlines() if " bench/" not in line
        ]
    except (OSError, subprocess.CalledProcessError):
        commit, changed = None, []
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "pinned": bool(taskset_prefix(SERVER_CORE)),
        "python": sys.version.split()[0],
        "commit": commit,
        "uncommitted_changes": len(changed),
    }


def _git(*argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def write_results(path: Path, payload: dict[str, Any]) -> Path:
    """Write the figures as JSON, adding the load average at the end of the run."""
    payload["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned text table; ``columns`` are (key, header) pairs."""
    cells = [[header for _, header in columns]]
    cells += [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for index, line in enumerate(cells):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


# The figures of one saturation run (bench.saturation or ShareDB's) as a table row;
# callers put the run's parameters in front (clients, documents).
SATURATION_COLUMNS = [
    ("ops", "committed ops/s"),
    ("rt50", "round trip p50"),
    ("rt99", "round trip p99"),
    ("server_cpu", "server CPU %"),
    ("generator_cpu", "generator CPU %"),
    ("cpu_per_op", "server CPU ms/op"),
    ("converged", "converged"),
]


def saturation_row(result: dict[str, Any], **parameters: Any) -> dict[str, Any]:
    """``parameters`` and the figures of :data:`SATURATION_COLUMNS` from a saturation result."""
    return {
        **parameters,
        "ops": result["committed_ops_per_second"],
        "rt50": result["round_trip_ms"]["p50"],
        "rt99": result["round_trip_ms"]["p99"],
        "server_cpu": result["window"]["server_cpu_percent"],
        "generator_cpu": result["window"]["generator_cpu_percent"],
        "cpu_per_op": result["server_cpu_ms_per_op"],
        "converged": result["converged"],
    }


# One typists run (bench.typists or ShareDB's) as a table row; ShareDB's runs have no
# ``others`` (what else ran on the server's core).
TYPISTS_COLUMNS = [
    ("clients", "clients"),
    ("offered", "keys/s offered"),
    ("committed", "keys/s committed"),
    ("ack_p50", "ack p50"),
    ("ack_p99", "ack p99"),
    ("bc_p50", "bcast p50"),
    ("bc_p95", "bcast p95"),
    ("bc_p99", "bcast p99"),
    ("all_p99", "last-peer p99"),
    ("delivered", "delivered %"),
    ("server_cpu", "server CPU %"),
    ("others", "others on server core %"),
    ("generator_cpu", "generator CPU %"),
    ("lag", "typing lag p99"),
    ("rss", "peak RSS MB"),
    ("converged", "converged"),
]


def typists_row(run: dict[str, Any]) -> dict[str, Any]:
    """The figures of :data:`TYPISTS_COLUMNS` from a typists result."""
    receipts = run["receipts"]
    return {
        "clients": run["clients"],
        "offered": run["keystrokes_per_second"],
        "committed": run["committed_keystrokes_per_second"],
        "ack_p50": run["ack_ms"]["p50"],
        "ack_p99": run["ack_ms"]["p99"],
        "bc_p50": run["broadcast_ms"]["p50"],
        "bc_p95": run["broadcast_ms"]["p95"],
        "bc_p99": run["broadcast_ms"]["p99"],
        "all_p99": run["broadcast_last_peer_ms"]["p99"],
        "delivered": 100.0 * receipts["delivered"] / receipts["expected"] if receipts["expected"] else None,
        "server_cpu": run["typing"]["server_cpu_percent"],
        "others": run["typing"].get("others_on_server_core_percent"),
        "generator_cpu": run["typing"]["generator_cpu_percent"],
        "lag": run["generator_lag_ms"]["p99"],
        "rss": run["server"]["peak_rss_kb"] / 1024,
        "converged": run["converged"],
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- figures -------------------------------------------------------------------------


def percentiles(samples: Iterable[float], *, scale: float = 1000.0) -> dict[str, Any]:
    """p50/p95/p99/max (nearest rank) and count of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    summary: dict[str, Any] = {"count": len(ordered)}
    for point in PERCENTILES:
        if ordered:
            rank = max(0, min(len(ordered) - 1, -(-point * len(ordered) // 100) - 1))
            summary[f"p{point}"] = round(ordered[rank] * scale, 2)
        else:
            summary[f"p{point}"] = None
    summary["mean"] = round(sum(ordered) / len(ordered) * scale, 3) if ordered else None
    summary["max"] = round(ordered[-1] * scale, 2) if ordered else None
    return summary


class ThreadStats(NamedTuple):
    """One thread of a process, as ``/proc`` counts it since the thread started."""

    name: str
    user_ticks: int
    system_ticks: int
    # Waits that ended (for the GIL, a lock, the disk, the network): voluntary; being
    # preempted by the scheduler: involuntary.
    voluntary_switches: int
    involuntary_switches: int


def thread_stats(pid: int) -> dict[int, ThreadStats]:
    """Every running thread of ``pid`` by its id; FileNotFoundError once the process is gone.

    A thread that ended takes its counts with it: over a window, sum only processes
    whose threads live throughout (a server's do).
    """
    threads = {}
    for task in list(Path(f"/proc/{pid}/task").iterdir()):
        try:
            status = (task / "status").read_text()
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        times = stat.rsplit(")", 1)[1].split()
        threads[int(task.name)] = ThreadStats(
            fields["Name"].strip(),
            int(times[11]),
            int(times[12]),
            int(fields["voluntary_ctxt_switches"]),
            int(fields["nonvoluntary_ctxt_switches"]),
        )
    return threads


def context_switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of ``pid``'s running threads, summed."""
    threads = thread_stats(pid).values()
    return sum(t.voluntary_switches for t in threads), sum(t.involuntary_switches for t in threads)


def generator_cpu() -> float:
    """CPU seconds the load generator (this process, all threads) has used."""
    return time.process_time()


def core_busy(core: int) -> float:
    """Seconds core ``core`` has spent busy (user, system, interrupts, stolen by the host)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, line.split()[1:9])
            return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS
    return 0.0


# --- the machine ---------------------------------------------------------------------


def add_generator_option(parser: argparse.ArgumentParser) -> None:
    """``--generator``: which load generator drives the server."""
    parser.add_argument(
        "--generator",
        choices=["python", "node"],
        default="python",
        help="python: the project's own client (default); node: the Node generator that drives "
        "the ShareDB peer too (bench/sharedb/load.js), so the two servers are measured alike",
    )


def server_figures(server: Server, args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The server's memory and what its log says, the log kept beside the results as ``name``."""
    return {**server.memory_kb(), **server.log_summary(args.output.parent / f"{name}.daphne.log")}


def taskset_prefix(core: int) -> list[str]:
    """``taskset -c core`` when pinning, the machine has that core and taskset exists."""
    if _pinning and shutil.which("taskset") and (os.cpu_count() or 1) > max(core, LOAD_CORE):
        return ["taskset", "-c", str(core)]
    return []


def pin_load_generator() -> bool:
    """Move this process to the load generator's core; ``False`` when there is none."""
    if not _pinning or not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) <= LOAD_CORE:
        return False
    os.sched_setaffinity(0, {LOAD_CORE})
    return True


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit (inherited by the server) towards ``wanted``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def stop_process(proc: subprocess.Popen | None) -> None:
    """Terminate ``proc`` if it runs, and kill it if it has not exited 10 s later."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def memory_kb(pid: int) -> dict[str, int]:
    """Resident set size now (``rss_kb``) and its peak (``peak_rss_kb``, VmHWM) of process ``pid``."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return {"rss_kb": values["VmRSS"], "peak_rss_kb": values["VmHWM"]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- databases -------------------------------------------------------------------------


class Database(NamedTuple):
    """One run's database: a SQLite file, or a PostgreSQL database (``url``) with
    ``path`` naming where the run's files (logs) go."""

    path: Path
    url: str = ""


def server_env(database: Database, *, redis_url: str = "", **settings: Any) -> dict[str, str]:
    """The environment of a server (or set-up) process on ``database``."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "COLLAB_SQLITE_TEST_PATH"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="collab.settings",
        REDIS_URL=redis_url,
        # As in production: DEBUG on would also keep every SQL query in memory.
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=_SECRET_KEY,
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback
        COLLAB_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if database.url:
        env["DATABASE_URL"] = database.url
    else:
        env["COLLAB_SQLITE_PATH"] = str(database.path)
    env.update({name: str(value) for name, value in settings.items()})
    return env


class Workspace:
    """A temporary directory with a freshly migrated database to copy for each run: a
    SQLite file, or with ``database_url`` a PostgreSQL template database on that server."""

    def __init__(self, database_url: str = "") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="collab-bench-")
        self.path = Path(self._tmp.name)
        self._server_url = database_url
        self._created: list[str] = []
        self.template = self._new("template", template=None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=server_env(self.template),
            check=True,
        )

    def database(self, name: str) -> Database:
        """A new database, migrated and empty."""
        return self._new(name, template=self.template)

    def _new(self, name: str, *, template: Database | None) -> Database:
        path = self.path / f"{name}.sqlite3"
        if not self._server_url:
            if template is not None:
                shutil.copyfile(template.path, path)
            return Database(path)
        import psycopg

        database = f"collab_bench_{os.getpid()}_{re.sub(r'[^a-z0-9]', '_', name.lower())}"
        copy = f" TEMPLATE {_database_name(template.url)}" if template is not None else ""
        with psycopg.connect(self._server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {database}{copy}")
        self._created.append(database)
        return Database(path, urlunsplit(urlsplit(self._server_url)._replace(path="/" + database)))

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._created:
            import psycopg

            with psycopg.connect(self._server_url, autocommit=True) as admin:
                for database in reversed(self._created):
                    admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        self._tmp.cleanup()


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def django_call(database: Database, command: str, *, pin: bool = False, **params: Any) -> Any:
    """Run ``bench.dataset <command>`` on ``database`` in a subprocess; return its JSON answer."""
    argv = [sys.executable, "-m", "bench.dataset", command, json.dumps(params)]
    if pin:
        argv = taskset_prefix(SERVER_CORE) + argv
    done = subprocess.run(argv, cwd=ROOT, env=server_env(database), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench.dataset {command} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def document_state(database: Database, document_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(revision, text) of each document, read straight from the database.

    The stored snapshot with the revisions after it replayed, as the server reads it.
    Plain reads in one read transaction: in WAL mode (and on PostgreSQL, in one
    snapshot) they neither wait for nor block the server's writer, and see one
    consistent state.
    """
    from editor.core import ot  # pure: no Django needed

    if database.url:
        import psycopg

        with psycopg.connect(database.url) as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return _replayed(db, "%s", document_ids, ot)
    with closing(sqlite3.connect(database.path, timeout=30)) as db:
        db.execute("BEGIN")
        states = _replayed(db, "?", document_ids, ot)
        db.execute("COMMIT")
    return states


def _replayed(db: Any, mark: str, document_ids: Sequence[str], ot: Any) -> dict[str, tuple[int, str]]:
    marks = ",".join([mark] * len(document_ids))
    states = {}
    rows = db.execute(
        "SELECT d.id, d.revision, coalesce(s.content, ''), coalesce(s.revision, 0)"
        " FROM editor_document d LEFT JOIN editor_snapshot s ON s.document_id = d.id"
        f" WHERE d.id IN ({marks})",
        list(document_ids),
    ).fetchall()
    for document_id, revision, text, after in rows:
        ops = db.execute(
            f"SELECT ops FROM editor_operation WHERE document_id = {mark} AND revision > {mark}"
            f" AND revision <= {mark} ORDER BY revision",
            (document_id, after, revision),
        )
        for (op,) in ops:
            text = ot.apply(text, op if isinstance(op, list) else json.loads(op))
        states[str(document_id)] = (revision, text)
    return states


# --- the server ------------------------------------------------------------------------


class Server:
    """A daphne serving the project on a free loopback port, pinned to the server core."""

    def __init__(self, database: Database, *, redis_url: str = "", **settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = server_env(database, redis_url=redis_url, **settings)
        self.log_path = database.path.with_suffix(f".daphne-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not started"
        return self.proc.pid

    def ws(self, document_id: str) -> str:
        """The WebSocket URL of a document."""
        return f"ws://127.0.0.1:{self.port}/ws/documents/{document_id}/"

    def headers(self, cookie: str) -> dict[str, str]:
        """Handshake headers of a signed-in browser tab."""
        return {"Cookie": cookie, "Origin": self.url}

    def command(self) -> list[str]:
        """The daphne command line, without the pinning."""
        max_frame = self.env.get("COLLAB_MAX_FRAME_BYTES", str(1024 * 1024))
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--websocket-max-message-size",
            max_frame,
            "collab.asgi:application",
        ]

    def start(self) -> Server:
        argv = taskset_prefix(SERVER_CORE) + self.command()
        with open(self.log_path, "wb") as log:
            # taskset execs daphne, so the pid is the server's own.
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("daphne did not start listening within 30 s")

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, all threads."""
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """User and system CPU time of the server process, all threads, in seconds."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS

    def context_switches(self) -> tuple[int, int]:
        """Voluntary and involuntary context switches of the server's threads now running
        (see :func:`context_switches`)."""
        return context_switches(self.pid)

    def memory_kb(self) -> dict[str, int]:
        """Resident set size now (``rss_kb``) and its peak (``peak_rss_kb``, VmHWM)."""
        return memory_kb(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_summary(self, keep: Path | None = None) -> dict[str, Any]:
        """How many lines and tracebacks the server logged; a non-empty log is kept at ``keep``."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        summary: dict[str, Any] = {
            "log_lines": len(text.splitlines()),
            "log_tracebacks": text.count("Traceback (most recent call last)"),
        }
        if text and keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log_path, keep)
            summary["log"] = str(keep)
        return summary

    async def settle(self, *, below: float = 0.05, window: float = 0.5, timeout: float = 60) -> float:
        """Wait until the server uses less than ``below`` of a core over ``window`` seconds.

        Returns the seconds waited; gives up quietly after ``timeout``.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            await asyncio.sleep(window)
            if self.cpu_seconds() - before < below * window:
                break
        return round(time.monotonic() - started, 2)


class CpuWindow:
    """Server and load-generator CPU over a stretch of wall time."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.wall = time.monotonic()
        self.server_cpu = server.cpu_split()
        self.switches = server.context_switches()
        self.generator_cpu = generator_cpu()
        self.cores = (core_busy(SERVER_CORE), core_busy(LOAD_CORE))

    def figures(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        user, system = (now - then for now, then in zip(self.server.cpu_split(), self.server_cpu))
        voluntary, involuntary = (now - then for now, then in zip(self.server.context_switches(), self.switches))
        server = user + system
        generator = generator_cpu() - self.generator_cpu
        figures = {
            "seconds": round(wall, 3),
            "server_cpu_seconds": round(server, 2),
            "server_cpu_percent": round(100 * server / wall, 1),
            "server_user_cpu_percent": round(100 * user / wall, 1),
            "server_system_cpu_percent": round(100 * system / wall, 1),
            "server_voluntary_switches": voluntary,
            "server_involuntary_switches": involuntary,
            "generator_cpu_percent": round(100 * generator / wall, 1),
        }
        if _pinning and taskset_prefix(SERVER_CORE):
            # What other programs on this shared machine took from each pinned core.
            others = (
                core_busy(SERVER_CORE) - self.cores[0] - server,
                core_busy(LOAD_CORE) - self.cores[1] - generator,
            )
            figures["others_on_server_core_percent"] = round(max(0.0, 100 * others[0] / wall), 1)
            figures["others_on_generator_core_percent"] = round(max(0.0, 100 * others[1] / wall), 1)
        return figures


async def gather_limited(coroutines: Iterable, *, limit: int) -> list:
    """``asyncio.gather`` with at most ``limit`` coroutines running at once."""
    gate = asyncio.Semaphore(limit)

    async def run(coroutine):
        async with gate:
            return await coroutine

    return await asyncio.gather(*(run(c) for c in coroutines))


# --- profiling -------------------------------------------------------------------------


@contextmanager
def profiled(enabled: bool, server: Server, path: Path) -> Iterator[dict[str, Any]]:
    """Sample ``server`` with py-spy while the block runs; a summary lands in the dict.

    Raw collapsed stacks (one ``frame;frame;... count`` per line) are written to
    ``path``. Without ``enabled`` (or without py-spy) this does nothing.
    """
    summary: dict[str, Any] = {}
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not enabled or not Path(spy).exists():
        if enabled:
            print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        yield summary
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(server.pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield summary
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if path.exists():
            summary.update(summarise_stacks(path))
            summary["stacks"] = str(path)


def summarise_stacks(path: Path, *, top: int = 15) -> dict[str, Any]:
    """The functions with the most samples on top of the stack (self) and anywhere (total)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_function(frame) for frame in stack.split(";")]
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            anywhere[frame] += samples
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "self_percent": {name: share(n) for name, n in own.most_common(top)},
        "total_percent": {name: share(n) for name, n in anywhere.most_common(top * 2)},
    }


def _function(frame: str) -> str:
    # "send (autobahn/websocket/protocol.py:1234)" -> "send (autobahn/websocket/protocol.py)"
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})" if where else name
