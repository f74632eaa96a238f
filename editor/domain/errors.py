"""Every refusal the server can answer with, each with the protocol's stable code."""

from __future__ import annotations


class CollabError(Exception):
    """A message was refused; nothing was changed by it."""

    code = "bad_message"

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.seq = seq

    def as_message(self) -> dict:
        """The protocol's ``error`` envelope for this refusal."""
        body: dict = {"type": "error", "code": self.code, "message": self.message}
        if self.seq is not None:
            body["seq"] = self.seq
        return body


class BadJson(CollabError):
    code = "bad_json"


class BadMessage(CollabError):
    code = "bad_message"


class BadOp(CollabError):
    code = "bad_op"


class BadBase(CollabError):
    code = "bad_base"


class NotJoined(CollabError):
    code = "not_joined"


class TooLarge(CollabError):
    code = "too_large"


class RateLimited(CollabError):
    """Retryable: nothing was recorded, and the client sends the same message again
    after ``retry_after`` milliseconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, seq: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, seq=seq)
        self.retry_after = retry_after  # seconds

    def as_message(self) -> dict:
        body = super().as_message()
        if self.retry_after is not None:
            body["retry_after"] = max(1, round(self.retry_after * 1000))
        return body


class ReadOnly(CollabError):
    code = "read_only"
