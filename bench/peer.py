"""The ShareDB peer: ShareDB 7 with its in-memory database, driven by its own Node client.

The same workloads as :mod:`bench.saturation` and :mod:`bench.typists`, with the
same figures, so the two servers can be compared on one machine in one run (see
:mod:`bench.versus`). The server (``bench/sharedb/server.js``) runs pinned to the
server core and the load generator (``bench/sharedb/load.js``) to the load
generator's core, as ours do. The same generator drives this project's server
through ``bench/sharedb/collab.js`` (:func:`drive_ours`; ``--generator node`` of
``bench.saturation`` and ``bench.typists``, the default of ``bench.versus``). The npm
packages are installed from the lock file (``npm ci``) on first use.

    python -m bench.peer saturation [--clients 8] [--seconds 15]
    python -m bench.peer typists [--clients 50] [--seconds 20]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import common
from .common import (
    LOAD_CORE,
    RESULTS,
    SERVER_CORE,
    base_parser,
    begin,
    free_port,
    print_table,
    write_results,
)

PEER = Path(__file__).resolve().parent / "sharedb"


def node() -> str:
    """The ``node`` executable; RuntimeError when there is none."""
    found = shutil.which("node")
    if not found:
        raise RuntimeError("node is not installed: the ShareDB peer needs Node.js 18 or later")
    return found


def install() -> None:
    """``npm ci`` in bench/sharedb unless its packages are there already."""
    node()
    if (PEER / "node_modules" / "sharedb").is_dir():
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm is not installed: needed once to install the ShareDB peer")
    print("installing the ShareDB peer's packages (npm ci) ...", file=sys.stderr)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True, timeout=600, stdout=sys.stderr)


class PeerServer:
    """``node server.js`` on a free loopback port, pinned to the server core."""

    def __init__(self, *, documents: int = 1, initial_chars: int = 1000) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.argv = [
            node(),
            "server.js",
            "--port",
            str(self.port),
            "--documents",
            str(documents),
            "--initial-chars",
            str(initial_chars),
        ]
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not started"
        return self.proc.pid

    def start(self) -> PeerServer:
        # taskset execs node, so the pid is the server's own.
        self.proc = subprocess.Popen(
            common.taskset_prefix(SERVER_CORE) + self.argv,
            cwd=PEER,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None  # stdout=PIPE
        line = self.proc.stdout.readline()  # the server prints one line once it listens
        if not line.startswith("listening"):
            self.stop()
            rest = self.proc.stdout.read()[-4000:]
            raise RuntimeError(f"the ShareDB server did not start: {line}{rest}")
        return self

    def stop(self) -> None:
        common.stop_process(self.proc)

    def peak_rss_kb(self) -> int:
        return common.memory_kb(self.pid)["peak_rss_kb"]

    def __enter__(self) -> PeerServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run(
    workload: str,
    *,
    clients: int,
    seconds: float,
    documents: int = 1,
    initial_chars: int = 1000,
    interval: float = 0.2,
    drain_timeout: float = 60.0,
) -> dict[str, Any]:
    """One run of ``workload`` ("saturation" or "typists") against a fresh ShareDB server."""
    install()
    with PeerServer(documents=documents, initial_chars=initial_chars) as server:
        started = time.monotonic()
        result = load(
            workload,
            ["--url", server.url, "--documents", str(documents)],
            server_pid=server.pid,
            clients=clients,
            seconds=seconds,
            interval=interval,
            drain_timeout=drain_timeout,
        )
        result["wall_seconds"] = round(time.monotonic() - started, 2)
        result["server"] = {"peak_rss_kb": server.peak_rss_kb()}
    return result


def load(
    workload: str,
    target: list[str],
    *,
    server_pid: int,
    clients: int,
    seconds: float,
    interval: float = 0.2,
    drain_timeout: float = 60.0,
) -> dict[str, Any]:
    """Run ``load.js`` (pinned to the load generator's core) against a server already up.

    ``target`` names the server: ``--url`` for ShareDB, ``--protocol collab --setup
    FILE`` for this project's (see :func:`drive_ours`). Returns the JSON it prints.
    """
    install()
    argv = common.taskset_prefix(LOAD_CORE) + [
        node(),
        "load.js",
        workload,
        *target,
        "--server-pid",
        str(server_pid),
        "--clock-ticks",
        str(os.sysconf("SC_CLK_TCK")),
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
        "--interval",
        str(interval),
        "--drain-timeout",
        str(drain_timeout),
    ]
    if common.taskset_prefix(SERVER_CORE):
        argv += ["--cores", f"{SERVER_CORE},{LOAD_CORE}"]
    done = subprocess.run(argv, cwd=PEER, capture_output=True, text=True, timeout=seconds + 2 * drain_timeout + 60)
    if done.returncode != 0:
        raise RuntimeError(f"the Node load generator failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def drive_ours(
    workload: str,
    server: common.Server,
    users: list[dict],
    document_ids: list[str],
    *,
    full_clients: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """:func:`load` against this project's ``server``: user i types in document i % len(ids).

    The same generator as the peer's, so the two servers are measured alike; the
    clients speak the project's protocol (``bench/sharedb/collab.js``).
    """
    setup = {
        "clients": [
            {"url": server.ws(document_ids[i % len(document_ids)]), "headers": server.headers(user["cookie"])}
            for i, user in enumerate(users)
        ],
        "documents": [{"url": server.ws(d), "headers": server.headers(users[0]["cookie"])} for d in document_ids],
        "full_clients": full_clients,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="collab-load-") as file:
        json.dump(setup, file)
        file.flush()
        return load(workload, ["--protocol", "collab", "--setup", file.name], server_pid=server.pid, **options)


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("peer", __doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["saturation", "typists"])
    parser.add_argument("--clients", type=int, default=None, help="default: 8 (saturation), 50 (typists)")
    parser.add_argument("--seconds", type=float, default=None, help="default: 15 (saturation), 20 (typists)")
    parser.add_argument("--documents", type=int, default=1)
    parser.add_argument("--initial-chars", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between keystrokes (typists)")
    args = parser.parse_args(argv)
    if args.output == RESULTS / "peer.json":
        args.output = RESULTS / f"peer-{args.workload}.json"
    saturation = args.workload == "saturation"
    clients = args.clients or (8 if saturation else 50)
    seconds = args.seconds or (15.0 if saturation else 20.0)

    info = begin(args)
    print(f"ShareDB {args.workload}: {clients} clients for {seconds:g} s ...", file=sys.stderr)
    result = run(
        args.workload,
        clients=clients,
        seconds=seconds,
        documents=args.documents,
        initial_chars=args.initial_chars,
        interval=args.interval,
    )
    payload = {
        "workload": f"peer-{args.workload}",
        "machine": info,
        "parameters": {
            **{k: v for k, v in vars(args).items() if k != "output"},
            "clients": clients,
            "seconds": seconds,
        },
        "result": result,
    }
    path = write_results(args.output, payload)
    if saturation:
        print_table(
            [common.saturation_row(result, clients=clients)], [("clients", "clients"), *common.SATURATION_COLUMNS]
        )
    else:
        print_table([common.typists_row(result)], [c for c in common.TYPISTS_COLUMNS if c[0] != "others"])
    print(f"\nwritten to {path}")
    return payload


if __name__ == "__main__":
    main()
