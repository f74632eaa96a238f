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
    future chaining, as ``run_in_executor`` would take. ``python -m bench.hop`` on
    one core: 47-49 µs per round trip against 62-68 through a one-thread
    ``ThreadPoolExecutor``, and every commit takes one.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = threading.Lock()  # held to submit or to stop, so none lands after the stop
        self._stopped = False
        # A daemon, stopped by :func:`close` (at exit too): a thread waiting for work
        # would otherwise keep the interpreter from exiting.
        self._thread = threading.Thread(target=self._serve, name="collab-db", daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any], settle: Callable[[Any, BaseException | None], None]) -> None:
        """Run ``call()`` on the thread, then ``settle(result, error)`` there too.

        Raises RuntimeError once the thread is stopped (as an executor shut down does).
        """
        with self._stopping:
            if self._stopped:
                raise RuntimeError("the database thread is stopped")
            self._calls.put((call, settle))

    def current(self) -> bool:
        """Whether the caller runs on this thread."""
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        """Let the calls already submitted run, then end the thread and wait for it."""
        if self.current():
            raise RuntimeError("the database thread cannot stop itself")
        with self._stopping:
            self._stopped = True
            self._calls.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            self._run(*item)
            item = None  # nothing of the last call is kept while waiting for the next

    @staticmethod
    def _run(call: Callable[[], Any], settle: Callable[[Any, BaseException | None], None]) -> None:
        try:
            result, error = call(), None
        except BaseException as exc:  # handed to the caller, as an executor does
            result, error = None, exc
        try:
            settle(result, error)
        except Exception:  # the thread must outlive a caller's failure
            log.exception("handing a database call's result back failed")


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

    Cancelling the caller before the call starts skips it (always: an executor skips
    it only if its worker has not taken it yet); once started, it runs to its end.
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

    Blocks until the thread has run what it was given, so call it off the event loop
    (and not on the database thread itself).
    """
    global _thread
    with _lock:
        thread = _thread
        if thread is not None and thread.current():
            raise RuntimeError("the database thread cannot close itself")
        _thread = None
    if thread is None:
        return
    errors: list[BaseException] = []

    def settle(_result: Any, error: BaseException | None) -> None:
        if error is not None:
            errors.append(error)

    thread.submit(connections.close_all, settle)
    thread.stop()  # after close_all has run
    if errors:
        raise errors[0]


atexit.register(close)
