"""Saturation: a few clients typing as fast as one op in flight allows.

Each client inserts a character, waits for its ack, and inserts the next one, so the
server always has about one op per client to commit. Measured: committed ops per
second (revisions the database gained over the run), the commit round trip, the
server's CPU, and whether every client ends with the database's text.

The per-connection rate limit (COLLAB_OPS_PER_SECOND, 50 by default) would cap 8
clients at 400 ops/s, so the server under test runs with it lifted: this measures
what the commit path can take, not the limit.

    python -m bench.saturation [--clients 8] [--seconds 15]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from . import peer
from .common import (
    SATURATION_COLUMNS,
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
    saturation_row,
    server_figures,
    write_results,
)
from .timed_client import Recorder, TimedClient
from .typists import ALPHABET, client_health, drain

TARGET_OPS_PER_SECOND = 1600
UNLIMITED = 1_000_000


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("saturation", __doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--documents", type=int, default=1, help="spread the clients over this many documents")
    parser.add_argument("--initial-chars", type=int, default=1000)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    add_generator_option(parser)
    args = parser.parse_args(argv)

    info = begin(args)
    print(f"saturation: {args.clients} clients for {args.seconds:g} s ...", file=sys.stderr)
    with Workspace(args.database_url) as workspace:
        result = asyncio.run(run(workspace, args))
    payload = {
        "workload": "saturation",
        "machine": info,
        "parameters": {key: value for key, value in vars(args).items() if key != "output"},
        "result": result,
        "targets": {
            f"saturation >= {TARGET_OPS_PER_SECOND:,} committed ops/s": {
                "measured": result["committed_ops_per_second"],
                "met": result["committed_ops_per_second"] >= TARGET_OPS_PER_SECOND and result["converged"],
            }
        },
    }
    path = write_results(args.output, payload)
    print_table(
        [saturation_row(result, clients=args.clients, documents=args.documents)],
        [("clients", "clients"), ("documents", "documents"), *SATURATION_COLUMNS],
    )
    print(f"\nwritten to {path}")
    return payload


async def run(workspace: Workspace, args) -> dict:
    database = workspace.database("saturation")
    documents = [
        {"owner": 0, "members": list(range(1, args.clients)), "chars": args.initial_chars}
        for _ in range(args.documents)
    ]
    data = django_call(database, "populate", users=args.clients, documents=documents, seed=args.seed)
    ids = [d["id"] for d in data["documents"]]
    with Server(
        database, redis_url=args.redis_url, COLLAB_OPS_PER_SECOND=UNLIMITED, COLLAB_OPS_BURST=UNLIMITED
    ) as server:
        if args.generator == "node":
            with profiled(args.profile, server, args.output.parent / "saturation.stacks.txt") as profile:
                result = peer.drive_ours(
                    "saturation",
                    server,
                    data["users"],
                    ids,
                    clients=args.clients,
                    seconds=args.seconds,
                    drain_timeout=args.drain_timeout,
                )
            return {
                **result,
                "generator": "node",
                "server": server_figures(server, args, "saturation"),
                "profile": profile or None,
            }
        recorder = Recorder()
        clients = [
            TimedClient(server.ws(ids[i % len(ids)]), headers=server.headers(user["cookie"]), recorder=recorder)
            for i, user in enumerate(data["users"])
        ]
        await gather_limited((c.connect(timeout=60) for c in clients), limit=20)
        await server.settle()
        before = document_state(database, ids)
        window = CpuWindow(server)
        end = time.monotonic() + args.seconds
        rng = random.Random(args.seed)
        with profiled(args.profile, server, args.output.parent / "saturation.stacks.txt") as profile:
            typed = await asyncio.gather(*(hammer(c, random.Random(rng.random()), end) for c in clients))
            after = document_state(database, ids)
            figures = window.figures()
        converged = True
        problem = None
        for document_id in ids:
            ok, why = await drain(
                [c for c in clients if document_id in c.url], database, document_id, args.drain_timeout
            )
            converged, problem = converged and ok, problem or why
        health = client_health(clients)
        memory = server.memory_kb()
        await asyncio.gather(*(c.close() for c in clients))
    committed = sum(after[i][0] - before[i][0] for i in ids)
    return {
        "keystrokes": sum(typed),
        "committed_ops": committed,
        "committed_ops_per_second": round(committed / figures["seconds"], 1),
        "server_cpu_ms_per_op": round(1000 * figures["server_cpu_seconds"] / committed, 3) if committed else None,
        "round_trip_ms": percentiles(recorder.round_trip),
        "broadcast_ms": percentiles(recorder.broadcast),
        "window": figures,
        "generator": "python",
        "server": {**memory, **server.log_summary(args.output.parent / "saturation.daphne.log")},
        "converged": converged,
        "problem": problem,
        **health,
        "profile": profile or None,
    }


async def hammer(client: TimedClient, rng: random.Random, end: float) -> int:
    """Type, wait for the ack, type again, until ``end``; returns the keystrokes typed."""
    typed = 0
    try:
        while time.monotonic() < end:
            client.type(rng.randint(0, client.length), rng.choice(ALPHABET))
            typed += 1
            await client.wait_synced(timeout=60)
    except (RuntimeError, TimeoutError, ConnectionError) as exc:
        print(f"a client stopped typing: {type(exc).__name__}: {exc}", file=sys.stderr)
    return typed


if __name__ == "__main__":
    main()
