"""An asyncio Python client of the editor's WebSocket protocol (tests, benchmarks, scripts).

Imports only the standard library, ``websockets`` and :mod:`editor.core`: no Django.
"""

from .client import (
    ClosedByServer,
    CollabClient,
    LoginFailed,
    ProtocolViolation,
    is_final_close,
    login,
)

__all__ = ["ClosedByServer", "CollabClient", "LoginFailed", "ProtocolViolation", "is_final_close", "login"]
