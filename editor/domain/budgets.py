"""Each person's inserted-text budget (``COLLAB_INSERT_CHARS_*``) on this server process.

One budget per user, shared by their sockets (:mod:`editor.realtime.consumers`) and by
the whole-text writes of the pages (an upload, a restore; :mod:`editor.domain.edits`),
so that no way of adding text goes around it. Sockets run on the event loop, pages on
threads: the budgets are kept under a lock.
"""

from __future__ import annotations

import threading

from django.conf import settings

from ..core.buckets import TokenBucket
from .errors import RateLimited

_lock = threading.Lock()
_insert_budgets: dict[int, TokenBucket] = {}


def _budget(user_id: int) -> TokenBucket:
    budget = _insert_budgets.get(user_id)
    if budget is None:
        burst = max(settings.COLLAB_INSERT_CHARS_BURST, settings.COLLAB_MAX_INSERT_CHARS)
        budget = _insert_budgets[user_id] = TokenBucket(rate=settings.COLLAB_INSERT_CHARS_PER_SECOND, burst=burst)
    return budget


def spend_typed(*, user_id: int, chars: int, seq: int | None = None) -> None:
    """Spend ``chars`` inserted code points of one op, or refuse it (``rate_limited``
    with the wait its size needs), spending nothing."""
    if not chars:
        return
    with _lock:
        budget = _budget(user_id)
        if not budget.take(chars):
            raise RateLimited("too much text inserted; slow down", seq=seq, retry_after=budget.wait(chars))


def spend_whole_text(*, user_id: int, chars: int) -> None:
    """Spend ``chars`` code points that a whole-text write (an upload, a restore) inserts,
    or refuse it (``rate_limited``, saying how long to wait), spending nothing.

    A text larger than the burst is taken from a full budget, which then owes the rest:
    a whole document can always be uploaded or restored, but not faster than typing it
    in pieces would allow.
    """
    if not chars:
        return
    with _lock:
        budget = _budget(user_id)
        if not budget.take_owing(chars):
            wait = budget.wait(min(chars, budget.burst))
            raise RateLimited(
                f"you have inserted a lot of text lately: this adds {chars:,} characters; "
                f"try again in {max(1, round(wait)):,} seconds",
                retry_after=wait,
            )


def refund(*, user_id: int, chars: int) -> None:
    """Give back what a whole-text write spent when it was refused after all."""
    with _lock:
        budget = _budget(user_id)
        budget.tokens = min(budget.burst, budget.tokens + chars)


def forget_if_full(user_id: int) -> None:
    """Drop a user's budget once it has refilled (a new one would be the same)."""
    with _lock:
        budget = _insert_budgets.get(user_id)
        if budget is not None and budget.full:
            del _insert_budgets[user_id]


def forget_all() -> None:
    """Drop every budget (for tests: users' ids are reused between them)."""
    with _lock:
        _insert_budgets.clear()
