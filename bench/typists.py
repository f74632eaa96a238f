"""Typists: N people in one document, each typing a character every 200 ms.

Every client inserts one character at a random place of its text on a fixed
schedule, keeping one op in flight (what is typed meanwhile is composed, as in a
browser). Measured per number of clients: ack latency (keystroke -> the ack of the op
carrying it), broadcast latency (keystroke -> its arrival at each other client, and at
the last of them), keystrokes committed per second, the server's CPU time and peak
memory, and whether every client ends with the text the database holds.

The first ``--full-clients`` typists are full clients that transform and apply every
op; the others keep only the revision and the text's length (see
:class:`bench.timed_client.LengthOnlyClient`), so that one core can play a hundred
typists. Every figure still counts every client. The load generator's own CPU and
how late it typed are reported: when either is high, the latencies measure the
generator as much as the server.

    python -m bench.typists [--clients 10,50,100,200] [--seconds 20]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from typing import Any

from . import peer
from .common import (
    TYPISTS_COLUMNS,
    CpuWindow,
    Server,
    Workspace,
    add_generator_option,
    base_parser,
    begin,
    django_call,
    document_state,
    gather_limited,
    percentiles,
    print_table,
    profiled,
    raise_fd_limit,
    server_figures,
    typists_row,
    write_results,
)
from .timed_client import LengthOnlyClient, Recorder, TimedClient

ALPHABET = "abcdefghijklmnopqrstuvwxyz "
# Broadcast p99 each sweep point should meet, in milliseconds.
TARGETS_MS = {100: 100.0, 200: 250.0}


def counts(text: str) -> list[int]:
    """``"10,50"`` -> ``[10, 50]``."""
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("typists", __doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients",
        type=counts,
        default=[10, 50, 100, 200],
        help="comma-separated numbers of typists (default: 10,50,100,200)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="typing time per run")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between keystrokes")
    parser.add_argument("--initial-chars", type=int, default=1000, help="text the document starts with")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="seconds to wait after typing for every client to catch up"
    )
    parser.add_argument(
        "--full-clients", type=int, default=5, help="typists that keep the whole text; the others keep only its length"
    )
    parser.add_argument("--seed", type=int, default=1)
    add_generator_option(parser)
    args = parser.parse_args(argv)

    raise_fd_limit(2 * max(args.clients) + 256)
    info = begin(args)
    payload: dict[str, Any] = {
        "workload": "typists",
        "machine": info,
        "parameters": {key: value for key, value in vars(args).items() if key != "output"},
        "runs": [],
    }
    with Workspace(args.database_url) as workspace:
        for clients in args.clients:
            print(f"typists: {clients} clients for {args.seconds:g} s ...", file=sys.stderr)
            payload["runs"].append(asyncio.run(run(workspace, clients, args)))
            payload["targets"] = targets(payload["runs"])
            path = write_results(args.output, payload)  # after each run: a later one may take long
    print_table([typists_row(r) for r in payload["runs"]], TYPISTS_COLUMNS)
    print(f"\nwritten to {path}")
    return payload


def targets(runs: list[dict]) -> dict:
    """Each sweep point that has a target, and whether it met it."""
    return {
        f"{n} typists: broadcast p99 <= {limit:g} ms": {
            "measured_ms": row["broadcast_ms"]["p99"],
            "met": row["broadcast_ms"]["p99"] is not None and row["broadcast_ms"]["p99"] <= limit and row["converged"],
        }
        for n, limit in TARGETS_MS.items()
        for row in runs
        if row["clients"] == n
    }


async def run(workspace: Workspace, n: int, args) -> dict:
    """One run with ``n`` typists on a fresh database and server."""
    database = workspace.database(f"typists-{n}")
    data = django_call(
        database,
        "populate",
        users=n,
        seed=args.seed,
        documents=[{"owner": 0, "members": list(range(1, n)), "chars": args.initial_chars}],
    )
    document = data["documents"][0]
    with Server(database, redis_url=args.redis_url) as server:
        if args.generator == "node":
            with profiled(args.profile, server, args.output.parent / f"typists-{n}.stacks.txt") as profile:
                result = peer.drive_ours(
                    "typists",
                    server,
                    data["users"],
                    [document["id"]],
                    full_clients=args.full_clients,
                    clients=n,
                    seconds=args.seconds,
                    interval=args.interval,
                    drain_timeout=args.drain_timeout,
                )
            return {
                **result,
                "full_clients": min(n, args.full_clients),
                "generator": "node",
                "server": server_figures(server, args, f"typists-{n}"),
                "profile": profile or None,
            }
        recorder = Recorder()
        clients = [
            (TimedClient if i < args.full_clients else LengthOnlyClient)(
                server.ws(document["id"]), headers=server.headers(user["cookie"]), recorder=recorder
            )
            for i, user in enumerate(data["users"])
        ]
        await gather_limited((c.connect(timeout=120) for c in clients), limit=20)
        await server.settle()
        rng = random.Random(args.seed)
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        window = CpuWindow(server)
        with profiled(args.profile, server, args.output.parent / f"typists-{n}.stacks.txt") as profile:
            lags = await asyncio.gather(*(typist(c, random.Random(rng.random()), start, args) for c in clients))
        recorder.acked_until = time.perf_counter()
        typing = window.figures()
        head_after_typing = document_state(database, [document["id"]])[document["id"]][0]
        drain_started = time.monotonic()
        converged, problem = await drain(clients, database, document["id"], args.drain_timeout)
        drain_seconds = time.monotonic() - drain_started
        whole = window.figures()
        memory = server.memory_kb()
        health = client_health(clients)
        await asyncio.gather(*(c.close() for c in clients))
    keystrokes = sum(len(lag) for lag in lags)
    seconds = typing["seconds"]
    return {
        "clients": n,
        "full_clients": min(n, args.full_clients),
        "seconds": seconds,
        "keystrokes": keystrokes,
        "keystrokes_per_second": round(keystrokes / seconds, 1),
        "committed_keystrokes_per_second": round(recorder.acked_keystrokes / seconds, 1),
        "revisions_per_second": round((head_after_typing - document["revision"]) / seconds, 1),
        "ack_ms": percentiles(recorder.ack),
        "broadcast_ms": percentiles(recorder.broadcast),
        "broadcast_last_peer_ms": percentiles(recorder.everyone()),
        "round_trip_ms": percentiles(recorder.round_trip),
        "receipts": {"expected": keystrokes * (n - 1), "delivered": recorder.receipts},
        "generator_lag_ms": percentiles(lag for client_lags in lags for lag in client_lags),
        "typing": typing,
        "drain_seconds": round(drain_seconds, 2),
        "with_drain": whole,
        "generator": "python",
        "server": {**memory, **server.log_summary(args.output.parent / f"typists-{n}.daphne.log")},
        "converged": converged,
        "problem": problem,
        **health,
        "profile": profile or None,
    }


async def typist(client: TimedClient, rng: random.Random, start: float, args) -> list[float]:
    """Type on schedule until the run ends; returns how late each keystroke was, in seconds."""
    loop = asyncio.get_running_loop()
    due, end = start + rng.uniform(0, args.interval), start + args.seconds
    lags: list[float] = []
    while due < end:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, loop.time() - due))
        try:
            client.type(rng.randint(0, client.length), rng.choice(ALPHABET))
        except RuntimeError:
            lags.pop()
            return lags  # the client stopped; drain reports it
        due += args.interval
    return lags


async def drain(clients, database, document_id: str, timeout: float) -> tuple[bool, str | None]:
    """Wait for every client to be acked and to hold the last revision; compare texts.

    Gives up after ``timeout`` seconds in all, and says why.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waits = await asyncio.gather(*(c.wait_synced(timeout=timeout) for c in clients), return_exceptions=True)
    head, content = document_state(database, [document_id])[document_id]
    left = max(0.1, deadline - loop.time())
    waits += await asyncio.gather(*(c.wait_for_rev(head, timeout=left) for c in clients), return_exceptions=True)
    failures = Counter(f"{type(w).__name__}: {w}" for w in waits if isinstance(w, BaseException))
    if failures:
        return False, "; ".join(f"{count} x {reason}" for reason, count in failures.most_common(5))
    diverged = [c.client_id for c in clients if c.rev != head or not holds(c, content)]
    if diverged:
        return False, f"{len(diverged)} clients differ from the database's text"
    return True, None


def holds(client, content: str) -> bool:
    """Whether the client's text is ``content`` (its length, for a length-only client)."""
    if isinstance(client, LengthOnlyClient):
        return client.length == len(content)
    return client.text == content


def client_health(clients) -> dict:
    """Errors received, reconnections, and why clients stopped for good."""
    stopped = Counter(f"{type(c._failure).__name__}: {c._failure}" for c in clients if c._failure is not None)
    return {
        "errors": sum(len(c.errors) for c in clients),
        "reconnects": sum(max(0, c.readies - 1) for c in clients),
        "stopped": dict(stopped.most_common(5)),
    }


if __name__ == "__main__":
    main()
