"""Carets: what drawing other people's carets costs the editor page, by text size.

Loads ``editor/static/editor/carets.js`` in headless Chromium over a text box holding
``--sizes`` UTF-16 units of text, with five peers' selections spread through it, then
inserts one character at a time in the middle (moving the peers as the page would) and
times each redraw, layout included: the work a tab does per animation frame while
someone types.

    python -m bench.carets [--sizes 10000 100000 250000 490000] [--redraws 20] [--output F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path

from .common import print_table

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]

MEASURE = """async ([url, n, redraws]) => {
    const { PeerCarets, MAX_DRAWN } = await import(url);
    if (n + redraws > MAX_DRAWN) return null; // not drawn at all at that size
    const box = document.querySelector("#text");
    document.querySelectorAll(".peer-layer").forEach((layer) => layer.remove());
    let value = "the quick brown fox jumps over the lazy dog\\n".repeat(Math.ceil(n / 44)).slice(0, n);
    let peers = [1, 2, 3, 4, 5].map((i) => {
        const at = Math.floor((n * i) / 6);
        return { client: `c${i}`, name: `p${i}`, color: "#d9480f", anchor: at, head: at + 5, moved: Date.now() };
    });
    box.value = value;
    const carets = new PeerCarets(box, () => ({ value, peers }));
    const timed = () => {
        const started = performance.now();
        carets._draw();
        carets.layer.getBoundingClientRect(); // the layout it caused
        return performance.now() - started;
    };
    const first = timed();
    const times = [];
    for (let k = 0; k < redraws; k++) {
        const at = Math.floor(n / 2) + k;
        value = value.slice(0, at) + "x" + value.slice(at);
        const move = (i) => i + (i > at ? 1 : 0);
        peers = peers.map((p) => ({ ...p, anchor: move(p.anchor), head: move(p.head) }));
        times.push(timed());
    }
    return { first, times };
}"""


async def measure(sizes: list[int], redraws: int) -> list[dict]:
    from playwright.async_api import async_playwright

    style = (ROOT / "editor/static/editor/style.css").as_uri()
    module = (ROOT / "editor/static/editor/carets.js").as_uri()
    rows = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 900, "height": 640})
        await page.goto(style)  # a file: origin, from which the module can be imported
        await page.set_content(
            f'<link rel="stylesheet" href="{style}"><div class="editor"><textarea id="text"></textarea></div>'
        )
        for size in sizes:
            result = await page.evaluate(MEASURE, [module, size, redraws])
            if result is None:
                rows.append({"units": size, "drawn": False})
                continue
            times = sorted(result["times"])
            rows.append(
                {
                    "units": size,
                    "drawn": True,
                    "first_ms": result["first"],
                    "redraw_p50_ms": statistics.median(times),
                    "redraw_max_ms": times[-1],
                }
            )
        await browser.close()
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 250_000, 490_000])
    parser.add_argument("--redraws", type=int, default=20)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    rows = asyncio.run(measure(args.sizes, args.redraws))
    print_table(
        rows,
        [
            ("units", "UTF-16 units"),
            ("first_ms", "first draw ms"),
            ("redraw_p50_ms", "redraw p50 ms"),
            ("redraw_max_ms", "redraw max ms"),
        ],
    )
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
