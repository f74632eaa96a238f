"""The database thread: one call at a time, in order, each result back on its loop."""

import asyncio
import gc
import threading
import weakref

import pytest

from editor.realtime import dbthread


@pytest.fixture(autouse=True)
async def fresh_thread():
    await asyncio.to_thread(dbthread.close)
    yield
    await asyncio.to_thread(dbthread.close)


class Boom(BaseException):
    """Not an Exception: handed back all the same, as an executor hands it."""


async def test_calls_run_one_at_a_time_in_order_on_one_thread():
    seen: list[tuple[int, str]] = []

    def record(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * 10

    results = await asyncio.gather(*(dbthread.run(record, n) for n in range(20)))
    assert results == [n * 10 for n in range(20)]
    assert [n for n, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"collab-db"}


async def test_errors_come_back_to_the_caller_and_the_thread_goes_on():
    def fail(error: BaseException):
        raise error

    with pytest.raises(ValueError, match="bad"):
        await dbthread.run(fail, ValueError("bad"))
    with pytest.raises(Boom):
        await dbthread.run(fail, Boom())
    assert await dbthread.run(lambda *, x: x + 1, x=1) == 2


async def test_a_call_cancelled_before_it_starts_is_skipped():
    gate, ran = threading.Event(), []
    blocker = asyncio.ensure_future(dbthread.run(gate.wait, 10))
    waiting = asyncio.ensure_future(dbthread.run(ran.append, "ran"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    gate.set()
    assert await blocker is True
    assert await dbthread.run(lambda: "after") == "after"
    assert ran == [] and waiting.cancelled()


async def test_nothing_of_the_last_call_is_kept_while_the_thread_waits():
    class Payload:
        pass

    refs: list[weakref.ref] = []

    def make(argument: Payload) -> Payload:
        made = Payload()
        refs.extend([weakref.ref(argument), weakref.ref(made)])
        return made

    result = await dbthread.run(make, Payload())
    assert isinstance(result, Payload)
    del result
    await asyncio.sleep(0.05)  # the thread is back waiting for work
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


async def test_a_result_for_a_closed_loop_does_not_stop_the_thread():
    gate = threading.Event()

    def on_another_loop() -> None:
        async def give_up():
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(dbthread.run(gate.wait, 10), 0.05)

        asyncio.run(give_up())  # the loop is closed when the call ends

    await asyncio.to_thread(on_another_loop)
    gate.set()  # its result now has no loop to go to
    assert await dbthread.run(lambda: "still serving") == "still serving"


async def test_close_runs_what_was_given_then_the_thread_restarts_on_use():
    gate, done = threading.Event(), []
    pending = asyncio.ensure_future(dbthread.run(lambda: (gate.wait(10), done.append(1))))
    await asyncio.sleep(0.02)
    closing = asyncio.ensure_future(asyncio.to_thread(dbthread.close))
    await asyncio.sleep(0.05)
    assert not closing.done()  # waits for the call it runs
    gate.set()
    await closing
    await pending
    assert done == [1]
    assert await dbthread.run(threading.current_thread) is not threading.current_thread()


def test_a_stopped_thread_refuses_new_calls():
    thread = dbthread._Thread()
    thread.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        thread.submit(lambda: None, lambda result, error: None)


async def test_the_database_thread_cannot_close_itself():
    with pytest.raises(RuntimeError, match="cannot close itself"):
        await dbthread.run(dbthread.close)
    assert await dbthread.run(lambda: "still serving") == "still serving"


async def test_close_reports_an_error_closing_the_connections(monkeypatch):
    await dbthread.run(lambda: None)

    def refuse() -> None:
        raise OSError("the disk went away")

    monkeypatch.setattr(dbthread.connections, "close_all", refuse)
    with pytest.raises(OSError, match="went away"):
        await asyncio.to_thread(dbthread.close)


def test_a_failing_hand_back_does_not_stop_the_thread(caplog):
    thread = dbthread._Thread()
    try:

        def cannot_hand_back(result, error) -> None:
            raise ValueError("nowhere to go")

        handed: list = []
        done = threading.Event()
        thread.submit(lambda: 1, cannot_hand_back)
        thread.submit(lambda: 2, lambda result, error: (handed.append(result), done.set()))
        assert done.wait(5) and handed == [2]
        assert "handing a database call's result back failed" in caplog.text
    finally:
        thread.stop()
