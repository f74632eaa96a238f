"""Document size: what one keystroke costs in a small and a large document, with and
without a long history.

For each size (code points of text) and each number of past ops, a fresh database
gets one document, and one client types ``--keystrokes`` characters at random places,
each after the previous one was acked (with the per-connection rate limit lifted): the
commit round trip through the real server, and the server's CPU per keystroke. Then, with the server stopped, the commit service
(``operation_commit``) is called directly as many times, stage by stage, for a finer
figure without the network and the event loop.

    python -m bench.docsize [--sizes 1024,1048576] [--past-ops 0,100000]
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys

from .common import (
    CpuWindow,
    Server,
    Workspace,
    base_parser,
    begin,
    django_call,
    document_state,
    percentiles,
    print_table,
    profiled,
    write_results,
)
from .saturation import UNLIMITED
from .timed_client import Recorder, TimedClient
from .typists import ALPHABET, counts

TARGET_RATIO = 1.5


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("docsize", __doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=counts,
        default=[1024, 1024 * 1024],
        help="document sizes in code points (default: 1024,1048576)",
    )
    parser.add_argument(
        "--past-ops",
        type=counts,
        default=[0, 100_000],
        help="ops already in each document's history (default: 0,100000)",
    )
    parser.add_argument("--keystrokes", type=int, default=300, help="keystrokes measured per case")
    parser.add_argument("--warmup", type=int, default=10, help="keystrokes typed before measuring")
    parser.add_argument(
        "--verify", action="store_true", help="check that replaying each history gives the text (slow for large ones)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    info = begin(args)
    cases = []
    with Workspace(args.database_url) as workspace:
        for size, past in itertools.product(args.sizes, args.past_ops):
            print(f"docsize: {size:,} code points, {past:,} past ops ...", file=sys.stderr)
            cases.append(asyncio.run(run(workspace, size, past, args)))
    smallest = next(c for c in cases if c["chars"] == min(args.sizes) and c["past_ops"] == min(args.past_ops))
    largest = next(c for c in cases if c["chars"] == max(args.sizes) and c["past_ops"] == max(args.past_ops))
    ratios = {
        "round_trip_p50": _ratio(largest["round_trip_ms"]["p50"], smallest["round_trip_ms"]["p50"]),
        "server_cpu_per_keystroke": _ratio(
            largest["server_cpu_ms_per_keystroke"], smallest["server_cpu_ms_per_keystroke"]
        ),
        "direct_commit_mean": _ratio(largest["direct_ms"]["mean"], smallest["direct_ms"]["mean"]),
    }
    name = (
        f"keystroke in {max(args.sizes):,} code points with {max(args.past_ops):,} past ops "
        f"<= {TARGET_RATIO}x one in {min(args.sizes):,} with {min(args.past_ops):,}"
    )
    payload = {
        "workload": "docsize",
        "machine": info,
        "parameters": {key: value for key, value in vars(args).items() if key != "output"},
        "cases": cases,
        "ratios": ratios,
        "targets": {
            name: {
                "measured": ratios,
                "met": all(
                    r is not None and r <= TARGET_RATIO
                    for r in (ratios["round_trip_p50"], ratios["server_cpu_per_keystroke"])
                ),
            }
        },
    }
    path = write_results(args.output, payload)
    rows = [
        {
            "chars": c["chars"],
            "past": c["past_ops"],
            "rt50": c["round_trip_ms"]["p50"],
            "rt95": c["round_trip_ms"]["p95"],
            "rt99": c["round_trip_ms"]["p99"],
            "cpu": c["server_cpu_ms_per_keystroke"],
            "d50": c["direct_ms"]["p50"],
            "dmean": c["direct_ms"]["mean"],
            **{f"s_{k}": v for k, v in c["direct_stage_mean_ms"].items()},
        }
        for c in cases
    ]
    stages = list(cases[0]["direct_stage_mean_ms"]) if cases else []
    print_table(
        rows,
        [
            ("chars", "code points"),
            ("past", "past ops"),
            ("rt50", "round trip p50"),
            ("rt95", "p95"),
            ("rt99", "p99"),
            ("cpu", "server CPU ms/key"),
            ("d50", "direct p50"),
            ("dmean", "direct mean"),
            *[(f"s_{s}", s) for s in stages],
        ],
    )
    print(f"\nratios largest/smallest: {ratios}")
    print(f"written to {path}")
    return payload


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


async def run(workspace: Workspace, size: int, past: int, args) -> dict:
    database = workspace.database(f"docsize-{size}-{past}")
    data = django_call(
        database,
        "populate",
        users=1,
        seed=args.seed,
        documents=[{"owner": 0, "chars": size, "past_ops": past}],
        verify=args.verify,
    )
    document, user = data["documents"][0], data["users"][0]
    # Each keystroke waits for the previous ack, which can be faster than the
    # per-connection rate limit allows: this measures the commit, not the limit.
    with Server(
        database, redis_url=args.redis_url, COLLAB_OPS_PER_SECOND=UNLIMITED, COLLAB_OPS_BURST=UNLIMITED
    ) as server:
        recorder = Recorder()
        client = TimedClient(server.ws(document["id"]), headers=server.headers(user["cookie"]), recorder=recorder)
        await client.connect(timeout=120)
        rng = random.Random(args.seed)
        await type_and_wait(client, rng, args.warmup)
        await server.settle()
        recorder.round_trip = type(recorder.round_trip)("d")
        window = CpuWindow(server)
        with profiled(args.profile, server, args.output.parent / f"docsize-{size}-{past}.stacks.txt") as profile:
            await type_and_wait(client, rng, args.keystrokes)
        figures = window.figures()
        head, content = document_state(database, [document["id"]])[document["id"]]
        converged = client.text == content and client.rev == head and not client.errors
        errors = len(client.errors)
        memory = server.memory_kb()
        await client.close()
    direct = django_call(
        database,
        "commit_timing",
        pin=True,
        document_id=document["id"],
        user_id=user["id"],
        count=args.keystrokes,
        seed=args.seed + 1,
    )
    stage_means = {name: round(1000 * sum(v) / len(v), 3) for name, v in direct["stages"].items() if v}
    stage_means["commit_and_rest"] = round(
        1000 * sum(direct["seconds"]) / len(direct["seconds"]) - sum(stage_means.values()), 3
    )
    return {
        "chars": size,
        "past_ops": past,
        "start_revision": document["revision"],
        "history_replays_to_text": document.get("replays_to_text"),
        "round_trip_ms": percentiles(recorder.round_trip),
        "server_cpu_ms_per_keystroke": round(1000 * figures["server_cpu_seconds"] / args.keystrokes, 3),
        "window": figures,
        "direct_ms": percentiles(direct["seconds"]),
        "direct_stage_mean_ms": stage_means,
        "server": {**memory, **server.log_summary(args.output.parent / f"docsize-{size}-{past}.daphne.log")},
        "converged": converged,
        "errors": errors,
        "profile": profile or None,
    }


async def type_and_wait(client: TimedClient, rng: random.Random, count: int) -> None:
    """Type ``count`` characters, each once the previous one was acked."""
    for _ in range(count):
        client.type(rng.randint(0, client.length), rng.choice(ALPHABET))
        await client.wait_synced(timeout=60)


if __name__ == "__main__":
    main()
