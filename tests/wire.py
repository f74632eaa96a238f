"""A bare protocol connection for tests that speak the wire format message by message."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .waiting import TIMEOUT


class Wire:
    """One raw socket: send dicts or raw frames, receive messages (array frames flattened)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.pending: list[dict] = []

    async def __aenter__(self) -> Wire:
        self.ws = await connect(self.url, additional_headers=self.headers, max_size=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def send(self, message) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def recv(self, timeout: float = TIMEOUT) -> dict:
        while not self.pending:
            data = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            self.pending.extend(data if isinstance(data, list) else [data])
        return self.pending.pop(0)

    async def recv_until(self, kind: str, timeout: float = TIMEOUT) -> list[dict]:
        """Messages up to and including the first of type ``kind``."""
        seen = []
        while True:
            message = await self.recv(timeout)
            seen.append(message)
            if message["type"] == kind:
                return seen

    async def recv_until_any(self, kinds: tuple[str, ...], timeout: float = 5) -> list[dict]:
        """Messages up to and including the first whose type is one of ``kinds``."""
        seen = []
        while True:
            message = await self.recv(timeout)
            seen.append(message)
            if message["type"] in kinds:
                return seen

    async def join(self, client: str = "tab1", since=None) -> list[dict]:
        await self.send({"type": "join", "client": client, "since": since})
        return await self.recv_until("ready")

    async def expect_nothing(self, wait: float = 0.3) -> None:
        """Fail if a message arrives within ``wait`` seconds."""
        try:
            message = await self.recv(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")


async def closed_with(wire: Wire, timeout: float = TIMEOUT) -> int | None:
    """Read until the server closes the socket; the close code, None if it just hung up.
    ``timeout`` bounds the wait for each message, as for :meth:`Wire.recv`."""
    try:
        while True:
            await wire.recv(timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
