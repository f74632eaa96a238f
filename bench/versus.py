"""Side by side: this project and ShareDB 7 (MemoryDB), same workloads, alternating runs.

Each round runs the saturation workload on ours then on the peer, then the typists
workload on ours then on the peer, each on a fresh server pinned to the server core
with its load generator on the other core (see :mod:`bench.common`). One Node load
generator (``bench/sharedb/load.js``) drives both servers, speaking each one's
protocol, so neither is measured through a slower instrument than the other
(``--generator python`` drives ours with the project's own client instead). Printed: every
figure of both, and the ratio ours / peer per metric and round; the worse ratio over
the rounds (the one less favourable to this project) is marked with ``*`` and is the
one that counts.

    python -m bench.versus [--seconds 15] [--rounds 2] [--clients 8] [--typists 50]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import peer
from .common import RESULTS, ROOT, base_parser, begin, write_results


def _switches(window: dict) -> int:
    """The server's context switches over a measuring window."""
    return window["server_voluntary_switches"] + window["server_involuntary_switches"]


def switches_per_op(result: dict) -> float | None:
    """Saturation: the server's context switches per committed op (None when none was)."""
    committed = result["committed_ops"]
    return round(_switches(result["window"]) / committed, 2) if committed else None


def switches_per_keystroke(result: dict) -> float | None:
    """Typists: the server's context switches per keystroke committed while typing
    (None when none was)."""
    keystrokes = result["committed_keystrokes_per_second"] * result["typing"]["seconds"]
    return round(_switches(result["typing"]) / keystrokes, 2) if keystrokes else None


# (key, label, which way is better for ours, workload, where the figure is in its
# result: a path of keys, or a function of the result). The rows after the targets'
# say where the CPU goes: user (the servers' own code) or system (the kernel's work
# for them: sockets, the disk, waking threads), and how often a thread was switched.
METRICS: list[tuple[str, str, str, str, tuple[str, ...] | Callable[[dict], Any]]] = [
    ("saturation_ops", "saturation: committed ops/s", "higher", "saturation", ("committed_ops_per_second",)),
    ("saturation_rt50", "saturation: round trip p50 ms", "lower", "saturation", ("round_trip_ms", "p50")),
    ("saturation_rt99", "saturation: round trip p99 ms", "lower", "saturation", ("round_trip_ms", "p99")),
    ("saturation_cpu_per_op", "saturation: server CPU ms/op", "lower", "saturation", ("server_cpu_ms_per_op",)),
    ("typists_bc50", "typists: broadcast p50 ms", "lower", "typists", ("broadcast_ms", "p50")),
    ("typists_bc99", "typists: broadcast p99 ms", "lower", "typists", ("broadcast_ms", "p99")),
    ("typists_cpu", "typists: server CPU %", "lower", "typists", ("typing", "server_cpu_percent")),
    ("typists_committed", "typists: keys/s committed", "higher", "typists", ("committed_keystrokes_per_second",)),
    ("saturation_switches", "saturation: context switches/op", "lower", "saturation", switches_per_op),
    ("typists_user_cpu", "typists: server user CPU %", "lower", "typists", ("typing", "server_user_cpu_percent")),
    ("typists_system_cpu", "typists: server system CPU %", "lower", "typists", ("typing", "server_system_cpu_percent")),
    ("typists_switches", "typists: context switches/keystroke", "lower", "typists", switches_per_keystroke),
]


def figure(result: dict, path: tuple[str, ...] | Callable[[dict], Any]) -> Any:
    """The figure at ``path`` in ``result``, or what the function ``path`` makes of
    it; a missing key is an error either way."""
    if callable(path):
        return path(result)
    found: Any = result
    for key in path:
        found = found[key]
    return found


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("versus", __doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time of every run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (ours, peer) per workload")
    parser.add_argument("--clients", type=int, default=8, help="saturation clients")
    parser.add_argument("--typists", type=int, default=50, help="typists")
    parser.add_argument(
        "--full-clients",
        type=int,
        default=None,
        help="our typists that keep the whole text (default: every one with the node generator, as "
        "every ShareDB client does; 5 with the python one, which cannot keep up with more)",
    )
    parser.add_argument(
        "--generator",
        choices=["node", "python"],
        default="node",
        help="what drives our server: node (default), the generator that drives ShareDB, speaking our "
        "protocol, so both are measured alike; python, the project's own client (bench.saturation's default)",
    )
    args = parser.parse_args(argv)

    info = begin(args)
    peer.install()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="collab-versus-") as folder:
        for number in range(1, args.rounds + 1):
            rounds.append(one_round(number, args, Path(folder)))
    payload: dict[str, Any] = {
        "workload": "versus",
        "machine": info,
        "parameters": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
            if key != "output"
        },
        "rounds": rounds,
        "ratios": ratios(rounds),
    }
    path = write_results(args.output, payload)
    print_comparison(rounds, payload["ratios"])
    print(f"\nwritten to {path}")
    return payload


def one_round(number: int, args, folder: Path) -> dict[str, dict]:
    """Saturation on ours then the peer, then typists on ours then the peer."""
    found: dict[str, dict] = {}
    pin = ["--no-pin"] if args.no_pin else []
    for workload in ("saturation", "typists"):
        print(f"round {number}: {workload} on ours ...", file=sys.stderr)
        # Profiled runs keep their JSON and the server's stacks in bench/results.
        output = (RESULTS if args.profile else folder) / f"versus-{workload}-{number}.json"
        if workload == "saturation":
            extra = ["--clients", str(args.clients)]
        else:
            full = args.full_clients if args.full_clients is not None else full_clients_default(args)
            extra = ["--clients", str(args.typists), "--full-clients", str(full)]
        extra += ["--generator", args.generator]
        if args.redis_url:
            extra += ["--redis-url", args.redis_url]
        if args.profile:
            extra += ["--profile"]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                f"bench.{workload}",
                "--seconds",
                str(args.seconds),
                "--output",
                str(output),
                *pin,
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=args.seconds + 600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.{workload} failed:\n{done.stderr[-4000:]}")
        data = json.loads(output.read_text())
        found[f"ours_{workload}"] = data["result"] if workload == "saturation" else data["runs"][0]

        print(f"round {number}: {workload} on ShareDB ...", file=sys.stderr)
        clients = args.clients if workload == "saturation" else args.typists
        found[f"peer_{workload}"] = peer.run(workload, clients=clients, seconds=args.seconds)
    return found


def full_clients_default(args) -> int:
    """Every typist keeps the whole text with the Node generator, as ShareDB's do; 5 with Python's."""
    return args.typists if args.generator == "node" else 5


def ratios(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    """Per metric: ours, peer and ours / peer per round, and the worse ratio over rounds."""
    table = {}
    for key, label, better, workload, path in METRICS:
        per_round = []
        for found in rounds:
            ours = figure(found[f"ours_{workload}"], path)
            theirs = figure(found[f"peer_{workload}"], path)
            ratio = round(ours / theirs, 3) if ours is not None and theirs else None
            per_round.append({"ours": ours, "peer": theirs, "ratio": ratio})
        known = [r["ratio"] for r in per_round if r["ratio"] is not None]
        # Higher is better for ours: the worse ratio is the lowest; lower is better: the highest.
        worse = (min(known) if better == "higher" else max(known)) if known else None
        table[key] = {"label": label, "better": better, "rounds": per_round, "worse_ratio": worse}
    return table


def print_comparison(rounds: list[dict], table: dict[str, dict]) -> None:
    """One line per metric: ours, peer and the ratio for each round, then the worse ratio."""
    header = ["metric", "better"]
    for number in range(1, len(rounds) + 1):
        header += [f"ours #{number}", f"ShareDB #{number}", f"ratio #{number}"]
    header.append("worse ratio")
    lines = [header]
    for entry in table.values():
        line = [entry["label"], entry["better"]]
        for cell in entry["rounds"]:
            ratio = cell["ratio"]
            marked = len(rounds) > 1 and ratio is not None and ratio == entry["worse_ratio"]
            line += [_number(cell["ours"]), _number(cell["peer"]), _ratio(cell["ratio"]) + ("*" if marked else " ")]
        line.append(_ratio(entry["worse_ratio"]))
        lines.append(line)
    # Not compared: what other programs on a shared machine took from the server's core.
    for workload, window in (("saturation", "window"), ("typists", "typing")):
        line = [f"{workload}: others on server core %", "-"]
        for found in rounds:
            others = [
                found[f"{side}_{workload}"][window].get("others_on_server_core_percent") for side in ("ours", "peer")
            ]
            line += [_number(value) for value in others] + [""]
        lines.append(line + [""])
    converged = all(
        found[f"{side}_{w}"]["converged"]
        for found in rounds
        for side in ("ours", "peer")
        for w in ("saturation", "typists")
    )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])]
        print("  ".join(cells))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print("\nratio = ours / ShareDB; * marks the worse of the rounds (the one that counts).")
    print(f"every run converged: {'yes' if converged else 'NO'}")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


if __name__ == "__main__":
    main()
