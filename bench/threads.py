"""Where a running server's CPU goes, thread by thread: user and system time, and
context switches, read from ``/proc`` over a stretch of wall time.

Run it beside a workload, naming the server by its pid or by a pattern of its command
line (the newest match; it waits for one to appear):

    python -m bench.typists --clients 50 --generator node --seconds 16 &
    python -m bench.threads --match 'daphne.*collab' --after 6 --seconds 8

    python -m bench.peer typists --clients 50 --seconds 16 &
    python -m bench.threads --match 'node .*server.js' --after 6 --seconds 8

One line per thread that ran: its id and name, CPU as a percentage of one core (user
and system), and voluntary (it waited and was woken: the GIL, a lock, the disk, the
network) and involuntary (preempted) context switches per second. Python threads all
carry the interpreter's name (before Python 3.14); the event loop's is the process's
own id (its first).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from .common import _CLOCK_TICKS, thread_stats


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.threads", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--pid", type=int, help="the server's process id")
    which.add_argument("--match", help="a regular expression of the server's command line (newest match)")
    parser.add_argument("--after", type=float, default=0.0, help="seconds to wait once found (start-up, joins)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for --match to appear")
    args = parser.parse_args(argv)
    pid = args.pid or find(args.match, timeout=args.wait)
    time.sleep(args.after)
    rows = measure(pid, args.seconds)
    print(f"pid {pid}, {args.seconds:g} s")
    print(f"{'thread':>8}  {'name':<16}  {'user %':>6}  {'system %':>8}  {'voluntary/s':>11}  {'involuntary/s':>13}")
    for row in rows:
        print(
            f"{row['tid']:>8}  {row['name']:<16}  {row['user_percent']:>6.1f}  {row['system_percent']:>8.1f}"
            f"  {row['voluntary_per_second']:>11.1f}  {row['involuntary_per_second']:>13.1f}"
        )
    return rows


def find(pattern: str, *, timeout: float) -> int:
    """The newest process whose command line matches ``pattern``, but this one and
    its ancestors (a shell or ``timeout`` running it carries the pattern too)."""
    wanted = re.compile(pattern)
    deadline = time.monotonic() + timeout
    mine = _ancestry(os.getpid())
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine:
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                started = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
            if wanted.search(command):
                found.append((started, int(entry.name)))
        if found:
            return max(found)[1]
        if time.monotonic() > deadline:
            raise SystemExit(f"no process matches {pattern!r}")
        time.sleep(0.1)


def _ancestry(pid: int) -> set[int]:
    """``pid`` and the processes it descends from."""
    found = set()
    while pid > 0 and pid not in found:
        found.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    return found


def measure(pid: int, seconds: float) -> list[dict[str, Any]]:
    """Each thread that ran over ``seconds`` (and lived throughout), busiest first."""
    try:
        before, started = thread_stats(pid), time.monotonic()
        time.sleep(seconds)
        after, wall = thread_stats(pid), time.monotonic() - started
    except FileNotFoundError:
        raise SystemExit(f"process {pid} is gone") from None
    rows: list[dict[str, Any]] = []
    for tid, (name, user, system, voluntary, involuntary) in after.items():
        if tid not in before:
            continue
        _, user0, system0, voluntary0, involuntary0 = before[tid]
        if (user, system, voluntary, involuntary) == (user0, system0, voluntary0, involuntary0):
            continue  # idle throughout
        rows.append(
            {
                "tid": tid,
                "name": name,
                "user_percent": round(100 * (user - user0) / _CLOCK_TICKS / wall, 1),
                "system_percent": round(100 * (system - system0) / _CLOCK_TICKS / wall, 1),
                "voluntary_per_second": round((voluntary - voluntary0) / wall, 1),
                "involuntary_per_second": round((involuntary - involuntary0) / wall, 1),
            }
        )
    rows.sort(key=lambda row: -(row["user_percent"] + row["system_percent"]))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
