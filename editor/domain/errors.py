"""Every refusal the server can make, in one hierarchy, each with its code from the table.

The table is ``editor/static/editor/codes.json``: the ``error`` codes the server answers
with (and which of them a client retries), and the close codes it closes a socket with
(whether a client reconnects after one, and what the editor page then tells its user).
The browser reads the same file, rendered into the editor page; the tests check that
both sides and ``docs/protocol.md`` agree with it.

- :class:`CollabError`: a message was refused with an ``error`` reply; the connection
  stays open.
- :class:`Closing`: the connection (or the page, or the request) may not go on at all:
  :class:`DocumentNotFound`, :class:`AccessDenied`.
- :class:`Invalid`: what a person typed or uploaded on a page cannot be taken
  (:class:`UploadError`, :class:`ManageError`); not a protocol refusal, no code.
"""

from __future__ import annotations

import json
from importlib import resources

#: The table, as the browser reads it too.
CODES: dict = json.loads(resources.files("editor").joinpath("static/editor/codes.json").read_text("utf-8"))


def close_code(name: str) -> int:
    """The close code the table names ``name`` (``"not_found"`` is 4404)."""
    for code, entry in CODES["closes"].items():
        if entry["name"] == name:
            return int(code)
    raise KeyError(f"no close code is named {name!r} in codes.json")


class Refusal(Exception):
    """Something the server refused, for a reason the protocol names."""


class CollabError(Refusal):
    """A message was refused; nothing was changed by it."""

    code = "bad_message"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code not in CODES["errors"]:  # a typo would reach clients as an unknown code
            raise TypeError(f"{cls.__name__}.code {cls.code!r} is not an error code of codes.json")

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.seq = seq

    @property
    def retryable(self) -> bool:
        """Whether a client sends the refused message again (after ``retry_after``)."""
        return CODES["errors"][self.code]["retryable"]

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


class HistoryFolded(BadBase):
    """A revision before the point a document's history was compacted to: its text
    can no longer be rebuilt, nor an op made against it rebased."""


class ReadOnly(CollabError):
    code = "read_only"


class Closing(Refusal):
    """The user may not go on with this document at all: a socket is closed with
    ``close``, a page answers 404."""

    close_name: str  # its name in the table
    close: int  # its close code, from the table

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.close = close_code(cls.close_name)  # a KeyError at import for a name not in the table


class DocumentNotFound(Closing):
    """No document has that id (or no longer: it was deleted)."""

    close_name = "not_found"


class AccessDenied(Closing):
    """The user may not open that document."""

    close_name = "forbidden"


class Invalid(Exception):
    """What a person typed or chose (a title, an uploaded file) cannot be taken; the
    message says why, in words for that person. A page shows it and lets them try again:
    it is not a protocol refusal and has no code."""


class UploadError(Invalid):
    """An uploaded file that cannot become a document."""


class ManageError(Invalid):
    """A rename the document cannot take."""
