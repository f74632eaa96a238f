"""The thread on which the real-time path talks to the database.

Every database call of the WebSocket side (who the user is at connect, commits, catch-up
reads, the periodic session and presence checks) runs here, one at a time, on one thread
that keeps its connection open. Channels' ``database_sync_to_async`` closes the
connection after each call when ``CONN_MAX_AGE`` is 0, and on SQLite closing the last
connection also checkpoints the write-ahead log: reconnecting and checkpointing on every
keystroke cost more than the commit itself. ``CONN_MAX_AGE`` stays 0 for HTTP requests,
whose threads come and go under ASGI (persistent connections would leak there), so this
one thread manages its connection itself: it is kept while healthy, closed after an
error that left it unusable, and reopened by Django on the next query.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections

log = logging.getLogger(__name__)

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collab-db")
        return _executor


async def run(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``function(*args, **kwargs)`` on the database thread and return its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_get_executor(), functools.partial(_call, function, args, kwargs))


def _call(function: Callable[..., T], args: tuple, kwargs: dict) -> T:
    try:
        return function(*args, **kwargs)
    finally:
        _tidy()


def _tidy() -> None:
    """Keep a healthy connection; drop one that is broken or left inside a transaction."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        if connection.in_atomic_block:  # pragma: no cover - every caller uses `with atomic()`
            log.error("a database call left a transaction open; closing its connection")
            connection.close()
        elif connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()


def close() -> None:
    """Close the thread's connections and stop it (tests, shutdown); it restarts on use."""
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.submit(connections.close_all).result()
        executor.shutdown(wait=True)
