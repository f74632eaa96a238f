"""Plot latency percentiles against the number of typists, from bench/results/typists.json.

    python -m bench.plot [--input bench/results/typists.json] [--output docs/typists.png]
    python -m bench.plot --input before.json --input after.json   # compare runs

The first input is drawn in full (broadcast p50/p95/p99, ack p50/p99); each further
one adds its broadcast p99, labelled with its commit. Runs that did not converge are
marked with a cross. Needs matplotlib: ``pip install -r requirements-bench.txt``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import RESULTS, ROOT
from .typists import TARGETS_MS

SERIES = [
    ("broadcast_ms", "p50", "broadcast p50", "-", "o"),
    ("broadcast_ms", "p95", "broadcast p95", "-", "s"),
    ("broadcast_ms", "p99", "broadcast p99", "-", "^"),
    ("ack_ms", "p50", "ack p50", ":", "o"),
    ("ack_ms", "p99", "ack p99", ":", "^"),
]


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input",
        type=Path,
        action="append",
        help=f"a typists JSON; repeat to compare (default: {RESULTS / 'typists.json'})",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "typists.png")
    args = parser.parse_args(argv)
    inputs = args.input or [RESULTS / "typists.json"]

    import matplotlib

    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8.5, 5.5), dpi=120)
    ticks: set[int] = set()
    for index, path in enumerate(inputs):
        data = json.loads(path.read_text())
        runs = sorted(data["runs"], key=lambda r: r["clients"])
        clients = [r["clients"] for r in runs]
        ticks.update(clients)
        machine = data["machine"]
        tag = f"{machine.get('commit')}, {machine['date'][:16].replace('T', ' ')}"
        series = SERIES if index == 0 else [s for s in SERIES if s[2] == "broadcast p99"]
        for key, point, label, style, marker in series:
            values = [r[key][point] for r in runs]
            (line,) = axes.plot(
                clients, values, linestyle=style if index == 0 else "--", marker=marker, label=f"{label} ({tag})"
            )
            failed = [(c, v) for c, v, r in zip(clients, values, runs) if not r["converged"]]
            if failed:
                axes.plot(*zip(*failed), marker="x", markersize=12, color=line.get_color(), linestyle="none")
    for n, limit in TARGETS_MS.items():
        axes.plot([n], [limit], marker="*", markersize=14, color="black", linestyle="none")
        axes.annotate(f"target p99 {limit:g} ms", (n, limit), textcoords="offset points", xytext=(6, -12), fontsize=8)
    axes.set_yscale("log")
    axes.set_xlabel("typists in one document (each types 5 characters/s); x: did not converge")
    axes.set_ylabel("latency from keystroke, ms (log scale)")
    axes.set_title("Keystroke latency by number of typists", fontsize=11)
    axes.set_xticks(sorted(ticks))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output)
    print(f"written to {args.output}")
    return args.output


if __name__ == "__main__":
    main()
