"""Stopping the per-process tasks ends them, even when the channel layer's client turns
the cancellation of a receive into an error of its own."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from editor.realtime import bus
from editor.realtime.watch import Watcher


class CancelledAsTimeout(InMemoryChannelLayer):
    """A layer whose receive reports its cancellation as a read timeout, as redis-py
    on Python 3.11 sometimes does with a cancelled BZPOPMIN."""

    async def receive(self, channel):
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            raise TimeoutError("Timeout reading from 127.0.0.1:6379") from None


class Socket:
    """What the watcher needs of a socket to start watching it."""

    user_id, session_key, document_id, role, joined, name = 1, "k", "d", "editor", True, ""


@pytest.mark.timeout(60)
async def test_a_watcher_stops_though_its_receive_reported_a_timeout(monkeypatch):
    """Before, the reader took the timeout for a hiccup and received again, forever."""
    monkeypatch.setattr("editor.realtime.bus.get_channel_layer", CancelledAsTimeout)
    watcher = Watcher()
    socket = Socket()
    await watcher.register(socket)
    await asyncio.sleep(0.05)  # the reader is waiting in receive
    await asyncio.wait_for(watcher.stop(), timeout=20)


async def test_stopping_is_false_in_a_task_not_asked_to_stop_and_true_after():
    """What the loops check before they carry on after an error."""
    seen = []
    gate = asyncio.Event()

    async def loop():
        seen.append(bus.stopping())
        try:
            await gate.wait()
        except asyncio.CancelledError:
            pass  # a client that swallowed it
        seen.append(bus.stopping())

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    await task
    assert seen == [False, True]
    assert bus.stopping() is False  # the test's own task was never asked to stop
