"""The commit path alone: one batch through the service, warm and after an idle gap.

Each round commits the same number of batches of one-character inserts through
:func:`editor.domain.services.operations_commit` (the service a hub calls on its
database thread: lock, rebase, store, synced commit), first back to back, then with
``--idle-ms`` of sleep before each batch, as under light load, where a keystroke
finds the server idle. It prints the wall time and the CPU time of this thread per
batch for both, and their ratios. No server, no sockets: this is the floor under a
lone keystroke's latency on this machine, and how much a gap adds to it: on some
machines the same code runs much slower after the process has left it for a while
(seen on a virtual machine where spinning through the gap instead of sleeping cost
as much: what else ran on the host had taken the caches; this script does not tell).

    python -m bench.commit [--batch 1] [--batches 400] [--idle-ms 20] [--rounds 3] [--behind 0] [--cursors | --atomic]

With ``--behind N`` every op is made against the revision N before the current one,
as a server that has fallen behind receives them: each is rebased over the N
revisions committed since its base.

With ``--cursors`` each round instead commits back to back in alternating blocks of
100 batches (``--batches`` each way, in whole blocks, at least one), in this one
process: with the commit's transaction and its own statements on SQLite's driver (as
when nothing watches the queries), and through Django's ``atomic()`` and cursor, as
when something watches them (here a pass-through execute wrapper, whose own call
Django's side also pays). Rounds take turns at which goes first. It prints the CPU
per batch of both, medians of the blocks, and their ratio. ``--atomic`` does the same
with the transaction alone: its statements on the driver both ways, the transaction
begun and ended on the driver against Django's ``atomic()``.

It runs in a throwaway SQLite database beside the project's (the same disk), with
the project's settings (durable commits: ``COLLAB_SQLITE_SYNCHRONOUS`` as set, FULL
by default).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 8
CURSOR_BLOCK = 100  # batches per block with --cursors


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m bench.commit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1, help="ops per batch (each from another writer)")
    parser.add_argument("--batches", type=int, default=400, help="batches per measurement")
    parser.add_argument("--idle-ms", type=float, default=20.0, help="sleep before each batch when idle")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--behind", type=int, default=0, help="make each op against the revision this many before the current one"
    )
    ways = parser.add_mutually_exclusive_group()
    ways.add_argument(
        "--cursors",
        action="store_true",
        help="compare the commit on SQLite's driver with Django's atomic() and cursor, in alternating blocks of 100 batches",
    )
    ways.add_argument(
        "--atomic",
        action="store_true",
        help="compare the transaction on SQLite's driver with Django's atomic(), in alternating blocks of 100 batches",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-commit-") as folder:
        commit, revision = _setup(Path(folder) / "commit.sqlite3", behind=args.behind)
        for _ in range(50 + args.behind):  # warm up: imports, statements, the first snapshot
            commit(args.batch)
        start = revision()
        results = []
        for number in range(1, args.rounds + 1):
            if args.cursors or args.atomic:
                driver, django, seen = _compare_cursors(
                    commit, args.batch, args.batches, watched_first=number % 2 == 0, atomic_only=args.atomic
                )
                results.append({"driver_cpu": driver, "django_cpu": django, "watched_statements": seen})
                watcher = f"; the watcher saw {seen} statements in {_cursor_blocks(args.batches) // 2} batches"
                print(
                    f"round {number}: batch of {args.batch}: on SQLite's driver {driver:.0f} us CPU, "
                    f"{'in atomic()' if args.atomic else 'through Django'} {django:.0f} us CPU "
                    f"({driver / django:.2f}x){'' if args.atomic else watcher}"
                )
                continue
            warm = _measure(commit, args.batch, args.batches, idle=0.0)
            idle = _measure(commit, args.batch, args.batches, idle=args.idle_ms / 1000)
            results.append({"warm_wall": warm[0], "warm_cpu": warm[1], "idle_wall": idle[0], "idle_cpu": idle[1]})
            print(
                f"round {number}: batch of {args.batch}: warm {warm[0]:.0f} us wall, {warm[1]:.0f} us CPU; "
                f"after {args.idle_ms:g} ms idle {idle[0]:.0f} us wall, {idle[1]:.0f} us CPU "
                f"({idle[0] / warm[0]:.2f}x wall, {idle[1] / warm[1]:.2f}x CPU)"
            )
        blocks = args.cursors or args.atomic
        sent = (_cursor_blocks(args.batches) if blocks else 2 * args.batches) * args.rounds * args.batch
        print(f"{revision() - start} revisions committed, {sent} ops sent")
    return results


def _measure(commit, batch: int, batches: int, *, idle: float) -> tuple[float, float]:
    """Microseconds of wall time and of this thread's CPU per batch (the sleeps left out)."""
    wall = cpu = 0.0
    for _ in range(batches):
        if idle:
            time.sleep(idle)
        started, started_cpu = time.perf_counter(), time.thread_time()
        commit(batch)
        wall += time.perf_counter() - started
        cpu += time.thread_time() - started_cpu
    return wall / batches * 1e6, cpu / batches * 1e6


def _cursor_blocks(batches: int) -> int:
    """Batches committed by :func:`_compare_cursors`: ``batches`` each way, in whole blocks."""
    return 2 * max(1, batches // CURSOR_BLOCK) * CURSOR_BLOCK


def _compare_cursors(
    commit, batch: int, batches: int, *, watched_first: bool, atomic_only: bool = False
) -> tuple[float, float, int]:
    """Median microseconds of this thread's CPU per batch, over alternating blocks of
    CURSOR_BLOCK batches, with the commit on SQLite's driver and through Django (its
    block first when ``watched_first``); and how many statements the watcher saw.
    With ``atomic_only``, Django's side is only its ``atomic()`` and nothing watches."""
    from django.db import connection, transaction

    from editor.domain import commit as commit_path

    seen = 0

    def watch(execute, sql, params, many, context):  # counts every query, changes none
        nonlocal seen
        seen += 1
        return execute(sql, params, many, context)

    blocks: dict[bool, list[float]] = {False: [], True: []}
    for number in range(_cursor_blocks(batches) // CURSOR_BLOCK):
        watched = (number % 2 == 0) == watched_first
        if not watched:
            django: Any = contextlib.nullcontext()
        elif atomic_only:
            django = mock.patch.object(commit_path, "_transaction", transaction.atomic)
        else:
            django = connection.execute_wrapper(watch)
        with django:
            started = time.thread_time()
            for _ in range(CURSOR_BLOCK):
                commit(batch)
            blocks[watched].append((time.thread_time() - started) / CURSOR_BLOCK * 1e6)
    return statistics.median(blocks[False]), statistics.median(blocks[True]), seen


def _setup(path: Path, *, behind: int = 0):
    """Configure Django on a fresh database at ``path``; return a function committing
    one batch (of ops made ``behind`` revisions back, where there are that many), and
    one reading the document's stored revision."""
    from .common import _SECRET_KEY

    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "COLLAB_SQLITE_TEST_PATH"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="collab.settings",
        DJANGO_DEBUG="false",  # as in production: DEBUG would keep every query in memory
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", _SECRET_KEY),
        COLLAB_SQLITE_PATH=str(path),
        COLLAB_LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from editor.domain import documents, services
    from editor.models import Document, Membership

    call_command("migrate", verbosity=0)
    users = [get_user_model().objects.create_user(f"writer{n}", password=None) for n in range(WRITERS)]
    document = documents.document_create(title="commit", owner=users[0], content="a" * 1000)
    for user in users[1:]:
        Membership.objects.create(document=document, user=user, role=Membership.Role.EDITOR)
    document_id = str(document.pk)
    state = services.document_state(document_id=document_id)
    seqs = [0] * WRITERS

    def commit(batch: int) -> None:
        submissions = []
        for n in range(batch):
            writer = n % WRITERS
            seqs[writer] += 1
            submissions.append(
                services.Submission(
                    user=users[writer],
                    client=f"c{writer}",
                    seq=seqs[writer],
                    base=max(1, state.rev - behind),  # the text is never shorter than at revision 1
                    ops=[{"pos": seqs[writer] % 1000, "insert": "x"}],
                )
            )
        results = services.operations_commit(document_id=document_id, submissions=submissions, state=state)
        failed = [result for result in results if isinstance(result, Exception)]
        if failed:
            raise RuntimeError(f"a commit was refused: {failed[0]!r}")

    def revision() -> int:
        return Document.objects.values_list("revision", flat=True).get(pk=document_id)

    return commit, revision


if __name__ == "__main__":
    main()
