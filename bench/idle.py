"""Idle: many open connections that type nothing; what each costs the server.

Opens ``--connections`` sockets spread evenly over ``--documents`` documents, each
signed in as its own user, waits until the server is quiet, and measures the growth of
the server's resident memory per connection, the server's CPU while everyone sits
idle, and how long joining took.

    python -m bench.idle [--connections 2000] [--documents 100]

With ``--bare`` the server runs an app that only accepts sockets (``bench.bare_asgi``)
instead of the project: what daphne, autobahn and Twisted keep per connection, the
floor under the project's own cost.
"""

from __future__ import annotations

import asyncio
import sys
import time

from websockets.asyncio.client import ClientConnection, connect

from editor.client import CollabClient

from .common import (
    CpuWindow,
    Server,
    Workspace,
    base_parser,
    begin,
    django_call,
    gather_limited,
    percentiles,
    print_table,
    profiled,
    raise_fd_limit,
    write_results,
)

TARGET_KB_PER_CONNECTION = 16


def main(argv: list[str] | None = None) -> dict:
    parser = base_parser("idle", __doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--initial-chars", type=int, default=1000)
    parser.add_argument(
        "--idle-seconds", type=float, default=30.0, help="how long to watch the server's CPU with everyone connected"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--bare", action="store_true", help="serve an app that only accepts sockets: the floor of daphne itself"
    )
    args = parser.parse_args(argv)

    raise_fd_limit(args.connections + 512)
    info = begin(args)
    print(f"idle: {args.connections} connections over {args.documents} documents ...", file=sys.stderr)
    with Workspace(args.database_url) as workspace:
        result = asyncio.run(run(workspace, args))
    kb = result["kb_per_connection"]
    payload = {
        "workload": "idle",
        "machine": info,
        "parameters": {key: value for key, value in vars(args).items() if key != "output"},
        "result": result,
        "targets": {}
        if args.bare
        else {
            f"idle <= {TARGET_KB_PER_CONNECTION} KB per connection": {
                "measured_kb": kb,
                "met": kb is not None and kb <= TARGET_KB_PER_CONNECTION and result["failed"] == 0,
            }
        },
    }
    path = write_results(args.output, payload)
    print_table(
        [
            {
                "connections": result["connected"],
                "failed": result["failed"],
                "documents": args.documents,
                "baseline": result["rss_kb"]["baseline"] / 1024,
                "connected": result["rss_kb"]["connected"] / 1024,
                "kb": kb,
                "idle_cpu": result["idle"]["server_cpu_percent"],
                "join50": result["join_ms"]["p50"],
                "join99": result["join_ms"]["p99"],
            }
        ],
        [
            ("connections", "connections"),
            ("failed", "failed"),
            ("documents", "documents"),
            ("baseline", "RSS before MB"),
            ("connected", "RSS connected MB"),
            ("kb", "KB/connection"),
            ("idle_cpu", "idle server CPU %"),
            ("join50", "join p50 ms"),
            ("join99", "join p99 ms"),
        ],
    )
    print(f"\nwritten to {path}")
    return payload


class BareServer(Server):
    """daphne serving :mod:`bench.bare_asgi` instead of the project."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "bench.bare_asgi:application"]


class BareClient:
    """A socket that opens and then only waits: what ``--bare`` connects."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.socket: ClientConnection | None = None
        self.synced = False

    @property
    def closed_code(self) -> int | None:
        return None if self.socket is None or self.socket.close_code is None else self.socket.close_code

    async def connect(self, timeout: float) -> None:
        self.socket = await asyncio.wait_for(connect(self.url, max_size=None), timeout)
        self.synced = True

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


async def run(workspace: Workspace, args) -> dict:
    if args.bare:
        return await _measure(args, BareServer(workspace.database("bare")), None, [])
    database = workspace.database("idle")
    documents = args.documents
    # Connection i is user i on document i % documents; a document's users are its editors.
    members = [list(range(d, args.connections, documents)) for d in range(documents)]
    data = django_call(
        database,
        "populate",
        users=args.connections,
        seed=args.seed,
        documents=[{"owner": m[0], "members": m[1:], "chars": args.initial_chars} for m in members if m],
    )
    ids = [d["id"] for d in data["documents"]]
    return await _measure(args, Server(database, redis_url=args.redis_url), ids, data["users"])


async def _measure(args, server: Server, ids: list[str] | None, users: list[dict]) -> dict:
    """Warm up, connect everyone, watch them idle, and close them; the figures."""

    def client(index: int, *, reconnect: bool = False):
        if ids is None:
            return BareClient(server.ws("bare"))
        user = users[index]
        return CollabClient(
            server.ws(ids[index % len(ids)]), headers=server.headers(user["cookie"]), reconnect=reconnect
        )

    with server:
        # One connection first, so that imports and caches every connection needs are
        # not counted as the first connection's memory.
        warm = client(0, reconnect=True)
        await warm.connect(timeout=60)
        await warm.close()
        await server.settle()
        baseline = server.memory_kb()
        clients = [client(i) for i in range(args.connections)]
        joining = CpuWindow(server)
        join_times = await gather_limited((_timed_connect(c) for c in clients), limit=args.concurrency)
        join_figures = joining.figures()
        settled_after = await server.settle()
        connected = server.memory_kb()
        open_clients = [c for c, t in zip(clients, join_times) if t is not None]
        idle = CpuWindow(server)
        with profiled(args.profile, server, args.output.parent / "idle.stacks.txt") as profile:
            await asyncio.sleep(args.idle_seconds)
        idle_figures = idle.figures()
        still_open = sum(1 for c in open_clients if c.closed_code is None and c.synced)
        await gather_limited((c.close() for c in clients), limit=200)
        await server.settle()
        closed = server.memory_kb()
        log = server.log_summary(args.output.parent / "idle.daphne.log")
    joined = len(open_clients)
    growth = connected["rss_kb"] - baseline["rss_kb"]
    return {
        "connected": joined,
        "failed": len(clients) - joined,
        "still_open_after_idle": still_open,
        "rss_kb": {
            "baseline": baseline["rss_kb"],
            "connected": connected["rss_kb"],
            "after_close": closed["rss_kb"],
            "peak": closed["peak_rss_kb"],
        },
        "kb_per_connection": round(growth / joined, 2) if joined else None,
        "join_ms": percentiles(t for t in join_times if t is not None),
        "joining": join_figures,
        "settle_seconds": settled_after,
        "idle": idle_figures,
        "server": log,
        "profile": profile or None,
    }


async def _timed_connect(client: CollabClient) -> float | None:
    """Seconds from opening the socket to ``ready``; None when it failed."""
    started = time.perf_counter()
    try:
        await client.connect(timeout=120)
    except Exception as exc:  # counted as failed, with the reason printed
        print(f"connection failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
