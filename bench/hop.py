"""The hop to the database thread and back, against ``run_in_executor``.

Every commit, and every other database call of the WebSocket side, goes from the event
loop to the database thread and back (:func:`editor.realtime.dbthread.run`). This
times that round trip with a call that does nothing, against the same call through
``loop.run_in_executor`` on a one-thread ``ThreadPoolExecutor`` (what it replaced),
alternating, in one process: microseconds of wall time and of the process's CPU per
hop, and their ratio. Pin it to one core (``taskset -c 0``) to see the hop as the
server pays it, with the loop and the thread sharing a core.

    python -m bench.hop [--hops 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m bench.hop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hops", type=int, default=5000, help="round trips per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from .common import _SECRET_KEY

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", _SECRET_KEY)
    import django

    django.setup()
    return asyncio.run(_rounds(args.hops, args.rounds))


def _nothing() -> int:
    return 1


async def _rounds(hops: int, rounds: int) -> list[dict[str, float]]:
    from editor.realtime import dbthread

    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1)
    ways = {
        "executor": lambda: loop.run_in_executor(executor, _nothing),
        "dbthread": lambda: dbthread.run(_nothing),
    }
    results = []
    try:
        for name in ways:  # warm both up
            await _measure(ways[name], 200)
        for number in range(1, rounds + 1):
            row = {}
            for name, hop in ways.items():
                row[f"{name}_wall"], row[f"{name}_cpu"] = await _measure(hop, hops)
            results.append(row)
            print(
                f"round {number}: run_in_executor {row['executor_wall']:.1f} us wall, {row['executor_cpu']:.1f} us CPU;"
                f" dbthread.run {row['dbthread_wall']:.1f} us wall, {row['dbthread_cpu']:.1f} us CPU"
                f" ({row['dbthread_wall'] / row['executor_wall']:.2f}x wall,"
                f" {row['dbthread_cpu'] / row['executor_cpu']:.2f}x CPU)"
            )
    finally:
        executor.shutdown()
        await asyncio.to_thread(dbthread.close)
    return results


async def _measure(hop, hops: int) -> tuple[float, float]:
    """Microseconds of wall time and of the process's CPU per round trip."""
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(hops):
        if await hop() != 1:
            raise AssertionError("the call's result did not come back")
    return (time.perf_counter() - started) / hops * 1e6, (time.process_time() - started_cpu) / hops * 1e6


if __name__ == "__main__":
    main()
