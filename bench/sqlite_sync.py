"""The cost of a durable commit: SQLite's synchronous=FULL against NORMAL, in WAL mode.

Each round commits the same number of one-row transactions (as one op committed alone
would be) under each level, alternating, in a database beside the project's (the same
disk), and prints microseconds per commit and the ratio. The hub commits every op
waiting for a document in one transaction, so under load the sync is paid once per
batch; this is the price a lone keystroke pays.

    python -m bench.sqlite_sync [--commits 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def per_commit(path: Path, level: str, commits: int) -> float:
    """Microseconds per one-row transaction at ``level``."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={level}")
        connection.execute("CREATE TABLE IF NOT EXISTS op (body TEXT)")
        start = time.perf_counter()
        for _ in range(commits):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO op VALUES (?)", ('[{"pos": 0, "insert": "a"}]',))
            connection.execute("COMMIT")
        return (time.perf_counter() - start) / commits * 1e6
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> list[tuple[float, float]]:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-sync-") as folder:
        for number in range(1, args.rounds + 1):
            normal = per_commit(Path(folder) / "normal.sqlite3", "NORMAL", args.commits)
            full = per_commit(Path(folder) / "full.sqlite3", "FULL", args.commits)
            results.append((normal, full))
            print(
                f"round {number}: NORMAL {normal:.0f} us/commit, FULL {full:.0f} us/commit, "
                f"FULL costs {full - normal:.0f} us more ({full / normal:.1f}x)"
            )
    return results


if __name__ == "__main__":
    main()
