"""An asyncio client of the collaborative editor's wire protocol, version 1: the connection.

It imports only the standard library, ``websockets`` and :mod:`editor.core`, so tests,
benchmarks and scripts can use it without Django. :class:`CollabClient` opens the socket,
joins, reads and writes frames, reconnects after network faults (with backoff) and
lets callers wait for a state; what each message means and how the text follows is the
state machine of :mod:`editor.client.editing`, which it extends.

The first connection of :meth:`CollabClient.connect` failing to open raises at once;
later failures are retried, except an HTTP 4xx refusal of the handshake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import Callable
from typing import Any, TypeGuard

from websockets.asyncio.client import ClientConnection, connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from editor.core import ot

from .editing import Editing, ProtocolViolation

__all__ = ["ClosedByServer", "CollabClient", "is_final_close"]

logger = logging.getLogger(__name__)


def is_final_close(code: int | None) -> TypeGuard[int]:
    """Whether a close code means "do not come back": the protocol's ``44xx`` range,
    so that codes this client does not know are handled too."""
    return code is not None and 4400 <= code <= 4499


class ClosedByServer(Exception):
    """The server closed the connection with a ``44xx`` code: the client does not reconnect."""

    def __init__(self, code: int, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"server closed the connection with code {code}{detail}")
        self.code = code
        self.reason = reason


class CollabClient(Editing):
    """One participant in one document, reconnecting by itself after network faults.

    Attributes (besides the state of :class:`editor.client.editing.Editing`):
        closed_code: the close code once the client stopped for good.
    """

    def __init__(
        self,
        url: str,
        *,
        client_id: str | None = None,
        headers: dict[str, str] | None = None,
        reconnect: bool = True,
        max_backoff: float = 5.0,
        on_ack: Callable[[int, int], None] | None = None,
        on_ready: Callable[[dict], None] | None = None,
        on_send: Callable[[int, ot.Op], None] | None = None,
        on_op: Callable[[dict], None] | None = None,
    ) -> None:
        super().__init__(
            client_id or secrets.token_urlsafe(16), on_ack=on_ack, on_ready=on_ready, on_send=on_send, on_op=on_op
        )
        self.url = url
        self.headers = dict(headers or {})
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.closed_code: int | None = None
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._stopped = True
        self._waiters: set[asyncio.Future[None]] = set()

    # --- lifecycle -----------------------------------------------------------------

    async def connect(self, *, timeout: float = 10) -> None:
        """Open the socket, join (``since`` = :attr:`rev`), and wait for ``ready``."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("the client is already running")
        self._failure, self.closed_code, self._stopped = None, None, False
        readies = self._readies
        self._task = asyncio.create_task(self._run(), name=f"collab-client-{self.client_id}")
        try:
            await self._wait(lambda: self._readies > readies, timeout, "ready")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop for good: close the socket and make waiters raise."""
        self._stopped = True
        task, ws, self._task = self._task, self._ws, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if ws is not None:
            await ws.close()
            if self.closed_code is None:
                self.closed_code = ws.close_code
        self._notify()

    async def drop_connection(self) -> None:
        """Abort the socket as a network fault would; the client reconnects by itself."""
        if self._ws is not None:
            self._joined, self._outbox = False, None
            self._ws.transport.abort()
            self._notify()

    async def __aenter__(self) -> CollabClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- editing ---------------------------------------------------------------------

    def submit(self, ops: list[dict]) -> None:
        """Apply a local edit made against :attr:`text` now, and send or buffer it."""
        if self._stopped:
            raise RuntimeError("the client is not connected")
        super().submit(ops)

    # --- waiting ---------------------------------------------------------------------

    async def wait_synced(self, timeout: float = 10) -> None:
        """Wait until :attr:`synced`."""
        await self._wait(lambda: self.synced, timeout, "sync")

    async def wait_for_rev(self, rev: int, timeout: float = 10) -> None:
        """Wait until the client holds revision ``rev`` or a later one."""

        def holds() -> bool:
            return self.rev is not None and self.rev >= rev

        await self._wait(holds, timeout, f"revision {rev}")

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            if self._failure is not None:
                raise self._failure
            if self._stopped:
                raise ConnectionError("the client is closed")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, deadline - loop.time())
            except TimeoutError:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}") from None
            finally:
                self._waiters.discard(waiter)

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._stopped = True
        self._notify()

    # --- connection ------------------------------------------------------------------

    async def _run(self) -> None:
        readies_at_start, attempt = self._readies, 0
        try:
            while not self._stopped:
                try:
                    ws = await ws_connect(self.url, additional_headers=self.headers, max_size=None)
                except Exception as exc:
                    status = exc.response.status_code if isinstance(exc, InvalidStatus) else 0
                    refused = 400 <= status < 500
                    if refused or self._readies == readies_at_start:
                        self._fail(exc)
                        return
                    attempt = await self._backoff(attempt)
                    continue
                readies = self._readies
                self._ws = ws
                try:
                    await self._session(ws)
                except ProtocolViolation as exc:
                    logger.error("%s: %s", self.client_id, exc)
                    self._fail(exc)
                finally:
                    self._ws, self._outbox, self._joined, self._joining = None, None, False, False
                    self._cancel_retry()
                    self._notify()
                    await ws.close()
                if self._stopped:
                    return
                code = ws.close_code
                if is_final_close(code):
                    self.closed_code = code
                    self._fail(ClosedByServer(code, ws.close_reason or ""))
                elif not self.reconnect:
                    self.closed_code = code
                    self._fail(ConnectionError(f"connection lost (close code {code})"))
                else:
                    attempt = await self._backoff(0 if self._readies > readies else attempt)
        except Exception as exc:  # a bug here must not leave waiters hanging until their timeout
            logger.exception("collab client %s crashed", self.client_id)
            self._fail(exc)

    async def _backoff(self, attempt: int) -> int:
        delay = min(self.max_backoff, 0.1 * 2 ** min(attempt, 30))
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        return attempt + 1

    async def _session(self, ws: ClientConnection) -> None:
        self._outbox = outbox = asyncio.Queue[str]()
        writer = asyncio.create_task(self._write(ws, outbox))
        self.socket_opened()
        try:
            async for frame in ws:
                self.receive(frame)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()

    @staticmethod
    async def _write(ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        # One writer per socket keeps frames in the order they were queued.
        try:
            while True:
                await ws.send(await outbox.get())
        except ConnectionClosed:
            pass

    def _send(self, message: dict[str, Any]) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
