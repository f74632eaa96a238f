"""Graceful shutdown of a daphne process on SIGTERM.

daphne stops its reactor on SIGTERM: every application is cancelled and every socket
dropped without a close frame, so browsers see 1006 and wait out their backoff. This
hook, installed when the ASGI application is imported (so a plain
``daphne collab.asgi:application`` has it), takes SIGTERM over once the reactor runs:

1. stop listening, so new connections go to the other processes;
2. close every open WebSocket with 1012 (service restart): clients reconnect at once,
   to another process, and resend what was not acknowledged (exactly-once makes a
   resend of an op committed here an ``ack``, never a second revision);
3. wait until no commit is in flight and the sockets' applications have finished;
4. stop the reactor as daphne would, and exit.

Every commit is one database transaction, so even an exit in the middle of one (the
grace period ran out, a second SIGTERM, SIGKILL) leaves no half-written revision: the
database rolls it back. A second SIGTERM stops at once; a watchdog ends the process if
stopping itself hangs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time

from editor.domain.errors import close_code

log = logging.getLogger(__name__)

# Close code sent to every WebSocket: 1012, "service restart" (RFC 6455 registry).
CLOSE_RESTART = close_code("restart")
# Seconds after the reactor was asked to stop before the process exits regardless.
STOP_SECONDS = 5

_servers: list = []  # daphne Server instances of this process
_state = {"draining": False, "grace": 10.0}


def install(grace: float) -> bool:
    """Take SIGTERM over once daphne's reactor runs; False when not under daphne."""
    try:
        from daphne.server import Server
        from twisted.internet import reactor
    except ImportError:
        return False
    _state["grace"] = grace
    if getattr(Server, "_collab_graceful", False):
        return True
    original_run, original_listen_success = Server.run, Server.listen_success

    def run(self):
        _servers.append(self)
        return original_run(self)

    def listen_success(self, port):
        # daphne keeps the Deferreds of its listeners, not the ports they became.
        self._collab_ports = [*getattr(self, "_collab_ports", []), port]
        return original_listen_success(self, port)

    Server.run = run
    Server.listen_success = listen_success
    Server._collab_graceful = True
    # After daphne's reactor installed its own handlers, so this one replaces them.
    reactor.callWhenRunning(_take_signal)
    return True


def _take_signal() -> None:
    if not _servers or not _servers[-1].signal_handlers:
        return  # embedded with signal handling off: its owner decides how to stop
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum, frame) -> None:
    from twisted.internet import reactor

    # A signal handler runs between two bytecodes of the loop's thread: hand over.
    reactor.callFromThread(_begin)


def _begin() -> None:
    from twisted.internet import reactor

    if _state["draining"]:
        log.warning("second SIGTERM: stopping now")
        _watchdog(STOP_SECONDS)
        _stop(reactor)
        return
    _state["draining"] = True
    grace = _state["grace"]
    log.warning("SIGTERM: closing sockets with %d and finishing commits (at most %.0f s)", CLOSE_RESTART, grace)
    _watchdog(grace + STOP_SECONDS)
    loop = asyncio.get_event_loop()
    task = loop.create_task(_drain(grace))
    task.add_done_callback(lambda _: _stop(reactor))


async def _drain(grace: float) -> None:
    deadline = time.monotonic() + grace
    try:
        for server in _servers:
            _stop_listening(server)
        while True:
            # Again on every round: a proxy may still bring a handshake over a
            # connection it opened before this process stopped listening.
            for server in _servers:
                _close_websockets(server)
            if time.monotonic() >= deadline or not _busy():
                break
            await asyncio.sleep(0.05)
        if _busy():
            log.warning("shutting down with work in flight after %.0f s", grace)
        from editor.realtime import dbthread

        # Closing the database thread waits for the call it runs, if any.
        await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(None, dbthread.close),
            max(0.1, deadline - time.monotonic()),
        )
    except Exception:  # whatever happened, the process still stops
        log.warning("graceful shutdown did not finish cleanly", exc_info=True)


def _stop_listening(server) -> None:
    for port in getattr(server, "_collab_ports", []):
        port.stopListening()


def _close_websockets(server) -> None:
    from daphne.ws_protocol import WebSocketProtocol

    for protocol in list(server.connections):
        if isinstance(protocol, WebSocketProtocol) and protocol.state == WebSocketProtocol.STATE_OPEN:
            # sendClose refuses codes below 3000 other than 1000; the frame is the same.
            protocol.sendCloseFrame(code=CLOSE_RESTART, reasonUtf8=b"server restarting", isReply=False)


def _busy() -> bool:
    """Whether a commit is in flight or a socket's application still runs."""
    from editor.realtime.hubs import hubs

    if hubs.busy:
        return True
    for server in _servers:
        for details in list(server.connections.values()):
            instance = details.get("application_instance")
            if instance is not None and not instance.done():
                return True
    return False


def _stop(reactor) -> None:
    if reactor.running:
        reactor.stop()


def _watchdog(seconds: float) -> None:
    """End the process after ``seconds`` even if stopping hangs."""

    def expire() -> None:
        log.error("shutdown took longer than %.0f s: exiting", seconds)
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
