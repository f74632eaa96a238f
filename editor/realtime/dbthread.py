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
import atexit
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Thread:
    """One thread running calls one at a time, in the order they came.

    A call's result reaches the event loop by one ``call_soon_threadsafe``: no
    ``concurrent.futures.Future`` (and its lock and condition), work item or
    future chaining, as ``run_in_executor`` would take. A hop costs about 35 µs of
    CPU against 55-60 through a one-thread ``ThreadPoolExecutor`` (measured on one
    core, a no-op each way), and every commit takes one.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        # A daemon, stopped by :func:`close` (at exit too): a thread waiting for work
        # would otherwise keep the interpreter from exiting.
        self._thread = threading.Thread(target=self._serve, name="collab-db", daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any], settle: Callable[[Any, BaseException | None], None]) -> None:
        """Run ``call()`` on the thread, then ``settle(result, error)`` there too."""
        self._calls.put((call, settle))

    def stop(self) -> None:
        """Let the calls already submitted run, then end the thread and wait for it."""
        self._calls.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, settle = item
            try:
                result = call()
            except BaseException as exc:  # handed to the caller, as an executor does
                settle(None, exc)
            else:
                settle(result, None)


_thread: _Thread | None = None
_lock = threading.Lock()


def _get_thread() -> _Thread:
    global _thread
    with _lock:
        if _thread is None:
            _thread = _Thread()
        return _thread


async def run(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``function(*args, **kwargs)`` on the database thread and return its result.

    Cancelling the caller before the call starts skips it; once started, it runs to
    its end (as with ``run_in_executor``).
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def call() -> T:
        if future.cancelled():
            raise asyncio.CancelledError
        return _call(function, args, kwargs)

    def settle(result: Any, error: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(_resolve, future, result, error)
        except RuntimeError:  # the loop was closed meanwhile: no one is waiting
            pass

    _get_thread().submit(call, settle)
    return await future


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
    """Close the thread's connections and stop it (tests, shutdown); it restarts on use.

    Blocks until the thread has run what it was given, so call it off the event loop.
    """
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        closed = threading.Event()
        thread.submit(connections.close_all, lambda _result, _error: closed.set())
        thread.stop()
        closed.wait()


atexit.register(close)
