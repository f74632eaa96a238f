"""When a test runs past its time limit (pytest-timeout), say where every task waits.

pytest-timeout fails the test with the stacks of the threads; in an async test those
show only the event loop waiting in ``select``. The coroutine stacks of the tasks still
pending show what the test was waiting for.
"""

from __future__ import annotations

import asyncio
import io

import pytest


def pending_task_stacks() -> str:
    """The stack of every asyncio task not yet done, in any event loop of this process."""
    out = io.StringIO()
    # asyncio.all_tasks() needs the running loop; a timeout may strike outside it.
    for task in list(asyncio.tasks._all_tasks):  # type: ignore[attr-defined]  # private, not in typeshed
        if not task.done():
            print(f"--- {task!r}", file=out)
            task.print_stack(file=out)
    return out.getvalue()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and call.excinfo is not None and "Timeout" in str(call.excinfo.value):
        report.sections.append(("pending asyncio tasks", pending_task_stacks() or "(none)"))
    return report
