"""The tests' one wait helper: what ends a wait, and what a timeout says."""

from __future__ import annotations

import itertools

import pytest

from .waiting import eventually, eventually_async


def test_a_wait_ends_with_the_first_truthy_result_and_returns_it():
    """Falsy results, None among them, mean "not yet"; the first truthy one is returned."""
    results = iter([None, 0, [], False, ["frame"], ["later"]])
    assert eventually(lambda: next(results), interval=0) == ["frame"]
    assert next(results) == ["later"]


def test_none_is_not_yet_so_a_check_that_forgets_to_return_times_out():
    def forgets() -> None:
        pass

    with pytest.raises(AssertionError, match="forgets did not hold within 0.05 s"):
        eventually(forgets, timeout=0.05, interval=0.01)


def test_an_assertion_is_not_yet_and_the_last_one_is_told_on_timeout():
    """A check may assert; the timeout names what was awaited and carries the last failure."""
    tries = itertools.count(1)

    def stubborn() -> bool:
        assert False, f"try {next(tries)}"  # noqa: B011 - a check that asserts, as checks may

    with pytest.raises(AssertionError, match="the server to agree did not hold") as failed:
        eventually(stubborn, timeout=0.05, interval=0.01, what="the server to agree")
    assert isinstance(failed.value.__cause__, AssertionError)
    assert "last failure: try" in "\n".join(failed.value.__notes__)


def test_any_other_error_ends_the_wait_at_once():
    calls = itertools.count()

    def dead() -> bool:
        next(calls)
        raise RuntimeError("the server exited")

    with pytest.raises(RuntimeError, match="exited"):
        eventually(dead, timeout=5)
    assert next(calls) == 1


async def test_the_async_wait_awaits_what_a_check_returns():
    """A coroutine's result counts, not the coroutine: one that returns False is "not yet"."""
    answers = iter([False, False, "ready"])

    async def check() -> str | bool:
        return next(answers)

    assert await eventually_async(check, interval=0) == "ready"
    with pytest.raises(AssertionError, match="never did not hold"):
        await eventually_async(lambda: None, timeout=0.05, what="never")
