"""An asyncio Python client of the editor's WebSocket protocol (tests, benchmarks, scripts).

Imports only the standard library, ``websockets`` and :mod:`editor.core`: no Django.
The protocol's state machine is :mod:`.editing`, the connection (socket, reconnects,
waiting) :mod:`.client`, logging in over HTTP :mod:`.login`.
"""

from .client import ClosedByServer, CollabClient, is_final_close
from .editing import Editing, ProtocolViolation
from .login import LoginFailed, login

__all__ = [
    "ClosedByServer",
    "CollabClient",
    "Editing",
    "LoginFailed",
    "ProtocolViolation",
    "is_final_close",
    "login",
]
