"""Waiting for a condition in tests: one helper, in a plain and an asyncio flavour.

A test waits for something another thread, process or task does by checking it again
and again until it holds. The timeout only keeps a broken test from hanging: it is a
hang guard, never a speed assertion, so it is generous (the suite runs on loaded
machines with few cores).

``check`` returns a value; the wait ends when that value is truthy, and returns it
(``eventually(lambda: frames)`` returns the frames once there are some). Anything
falsy, None included, means "not yet": write ``proc.poll() is not None``, not
``proc.poll()``. A check may also raise ``AssertionError`` to say "not yet" with a
reason; a check written with asserts ends with ``return True``.

On timeout an ``AssertionError`` names what was awaited (``what``, else the check's
name) and carries the last ``AssertionError`` the check raised, if any. Any other
exception from the check ends the wait at once: a server that died will not start.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

# Long enough for a loaded two-core machine; a test that needs longer says so.
TIMEOUT = 30.0
INTERVAL = 0.02


def _expired(check: Callable, timeout: float, what: str | None, error: AssertionError | None) -> AssertionError:
    name = what or getattr(check, "__qualname__", repr(check))
    expired = AssertionError(f"{name} did not hold within {timeout:g} s")
    if error is not None:
        expired.add_note(f"last failure: {error}")
        expired.__cause__ = error
    return expired


def eventually(
    check: Callable[[], Any], *, timeout: float = TIMEOUT, interval: float = INTERVAL, what: str | None = None
) -> Any:
    """Call ``check`` until it returns a truthy value (see the module); return that value."""
    deadline = time.monotonic() + timeout
    while True:
        error = None
        try:
            result = check()
            if result:
                return result
        except AssertionError as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise _expired(check, timeout, what, error)
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Any], *, timeout: float = TIMEOUT, interval: float = INTERVAL, what: str | None = None
) -> Any:
    """:func:`eventually` on an event loop: ``check`` may return an awaitable (a
    coroutine function, or ``asyncio.to_thread`` for a blocking check), and the loop
    runs other tasks between checks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        error = None
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
        except AssertionError as exc:
            error = exc
        if loop.time() >= deadline:
            raise _expired(check, timeout, what, error)
        await asyncio.sleep(interval)


def threaded(check: Callable[[], Any]) -> Callable[[], Any]:
    """``check`` made fit for :func:`eventually_async` when it blocks (a network call):
    each call runs it in a worker thread, so the event loop goes on meanwhile."""
    return lambda: asyncio.to_thread(check)


class Clock:
    """A wall clock a test moves by hand: ``clock()`` is now, ``clock.advance(s)`` moves it.

    For code that reads ``time.time()`` (the in-memory channel layer's group expiry):
    patch it in, and let days pass without waiting for them.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
