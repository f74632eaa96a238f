"""``GET /healthz``: whether this process can reach its database and its channel layer.

200 when a ``SELECT 1`` answers and a message sent to a fresh channel of the layer comes
back; 503 otherwise, naming the part that failed (never why: no addresses, no stack
traces; the reason goes to the log). Each check is bounded by
COLLAB_HEALTH_TIMEOUT_SECONDS, so the endpoint answers when PostgreSQL or Redis hangs.
Requests that arrive while a check runs share it, a database check still stuck from an
earlier request is waited for rather than started again, and the check keeps one
connection of its own, so polling every second costs one ``SELECT 1`` and one
channel-layer round trip, and never piles up threads or connections.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

log = logging.getLogger(__name__)

# The database check has a thread of its own: the real-time path's thread
# (editor.realtime.dbthread) may be busy committing, and a hung connect must not block it.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-health")
_database_check: asyncio.Future | None = None
_running: asyncio.Task | None = None


# A stuck connection attempt ends after this many seconds (checks meanwhile share it).
CONNECT_TIMEOUT_SECONDS = 10
# The health thread's own connection past the pool (PostgreSQL with a pool only).
_direct = None


def _select_one() -> None:
    """``SELECT 1`` on a connection the health thread keeps; once more on a fresh one
    if the kept one broke (the server restarted since the last check)."""
    try:
        _query()
    except Exception:
        _drop()
        _query()


def _query() -> None:
    global _direct
    connection = connections["default"]
    if connection.vendor == "postgresql" and connection.pool is not None:  # type: ignore[attr-defined]  # PostgreSQL's wrapper only
        # Past the pool: a full pool (busy requests) is not a database that is down,
        # and a pool waits for a connection instead of reporting a refused one.
        import psycopg

        if _direct is None:
            params = {**connection.get_connection_params(), "connect_timeout": CONNECT_TIMEOUT_SECONDS}
            _direct = psycopg.connect(**params, autocommit=True)
        _direct.execute("SELECT 1").fetchone()
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _drop() -> None:
    global _direct
    if _direct is not None:
        _direct.close()
        _direct = None
    connections["default"].close()


async def check_database(timeout: float) -> str:
    """``"ok"``, or ``"unreachable"`` / ``"timeout"``."""
    global _database_check
    loop = asyncio.get_running_loop()
    if _database_check is None or _database_check.done():
        _database_check = loop.run_in_executor(_executor, _select_one)
    try:
        await asyncio.wait_for(asyncio.shield(_database_check), timeout)
    except TimeoutError:
        log.warning("health: the database did not answer within %.1f s", timeout)
        return "timeout"
    except Exception as exc:
        log.warning("health: the database is unreachable: %s", type(exc).__name__)
        return "unreachable"
    return "ok"


async def check_channel_layer(timeout: float) -> str:
    """``"ok"`` after a message went through the layer and back, else why not."""
    layer = get_channel_layer()
    if layer is None:
        return "ok"  # none configured: nothing to reach
    token = uuid.uuid4().hex
    try:
        async with asyncio.timeout(timeout):
            # The default prefix: channels-redis serves all of a process's "specific."
            # channels from one receive loop, which the hubs' reader keeps running.
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "health.ping", "token": token})
            message = await layer.receive(channel)
    except TimeoutError:
        log.warning("health: the channel layer did not answer within %.1f s", timeout)
        return "timeout"
    except Exception as exc:
        log.warning("health: the channel layer is unreachable: %s", type(exc).__name__)
        return "unreachable"
    return "ok" if message.get("token") == token else "wrong answer"


async def _check() -> dict[str, str]:
    timeout = settings.COLLAB_HEALTH_TIMEOUT_SECONDS
    database, layer = await asyncio.gather(check_database(timeout), check_channel_layer(timeout))
    return {"database": database, "channel_layer": layer}


async def status() -> dict[str, str]:
    """The parts' states; concurrent callers share one run of the checks."""
    global _running
    if _running is None or _running.done():
        _running = asyncio.get_running_loop().create_task(_check())
    return await asyncio.shield(_running)


@never_cache
async def healthz(request):
    """200 ``{"status": "ok", ...}`` or 503 naming the part that failed."""
    parts = await status()
    healthy = all(state == "ok" for state in parts.values())
    body = {"status": "ok" if healthy else "unavailable", **parts}
    return JsonResponse(body, status=200 if healthy else 503)
