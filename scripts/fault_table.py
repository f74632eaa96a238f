#!/usr/bin/env python3
"""Render the fault suite's report (JSON) as a Markdown table.

    python scripts/fault_table.py /tmp/pytest-of-$USER/pytest-N/fault-report.json
    python scripts/fault_table.py "$COLLAB_FAULT_REPORT"

The suite writes the report at the end of its run (tests/faults/conftest.py) and prints
its path; standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("scenario", "injected", "checked", "result", "seconds")


def cell(value: object) -> str:
    """A table cell: pipes escaped, on one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(report: dict) -> str:
    """The Markdown table of a report's rows, with what each scenario measured."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in report["rows"]:
        cells = dict(row)
        if row.get("measured"):
            cells["checked"] = f"{row['checked']}; measured: {row['measured']}"
        lines.append("| " + " | ".join(cell(cells.get(column, "")) for column in COLUMNS) + " |")
    total = sum(row.get("seconds", 0) for row in report["rows"])
    lines.append("")
    lines.append(f"{len(report['rows'])} scenarios, {total:.0f} s in all.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    sys.stdout.write(render(json.loads(Path(argv[1]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
