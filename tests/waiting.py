"""Waiting for a condition in tests: one helper, in a plain and an asyncio flavour.

A test waits for something another thread, process or task does by checking it again
and again until it holds. The timeout only keeps a broken test from hanging: it is a
hang guard, never a speed assertion, so it is generous (the suite runs on loaded
machines with few cores).

``check`` is either a predicate or an assertion:

* a predicate returns a value; the wait ends when it is truthy, and that value is
  returned (``eventually(lambda: frames)`` returns the frames once there are some);
* an assertion raises ``AssertionError`` until it holds and returns None when it does.

So a predicate must not return None to mean "not yet" (write ``proc.poll() is not
None``, not ``proc.poll()``). On timeout the last ``AssertionError`` is raised again,
or an ``AssertionError`` naming the condition.
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


def _held(result: Any) -> bool:
    return result is None or bool(result)


def _expired(check: Callable, timeout: float, error: AssertionError | None) -> AssertionError:
    if error is not None:
        error.add_note(f"(still failing after {timeout:g} s)")
        return error
    name = getattr(check, "__qualname__", repr(check))
    return AssertionError(f"{name} did not hold within {timeout:g} s")


def eventually(check: Callable[[], Any], *, timeout: float = TIMEOUT, interval: float = INTERVAL) -> Any:
    """Call ``check`` until it holds (see the module); return its last result."""
    deadline = time.monotonic() + timeout
    while True:
        error = None
        try:
            result = check()
            if _held(result):
                return result
        except AssertionError as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise _expired(check, timeout, error)
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Any], *, timeout: float = TIMEOUT, interval: float = INTERVAL
) -> Any:
    """:func:`eventually` on an event loop: ``check`` may be a coroutine function,
    and the loop runs other tasks between checks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        error = None
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if _held(result):
                return result
        except AssertionError as exc:
            error = exc
        if loop.time() >= deadline:
            raise _expired(check, timeout, error)
        await asyncio.sleep(interval)


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
