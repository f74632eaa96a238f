"""The token bucket behind every rate limit (standard library only)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` events a second on average and bursts of up to ``burst``."""

    # A joined socket keeps one (its join budget): slots, not a dict per bucket.
    __slots__ = ("rate", "burst", "clock", "tokens", "stamp")

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self, cost: float = 1) -> bool:
        """Spend ``cost`` tokens; False (spending nothing) when fewer are left."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def take_owing(self, cost: float) -> bool:
        """Spend ``cost`` tokens when ``min(cost, burst)`` are there, False (spending
        nothing) otherwise: a cost above the burst is taken from a full bucket, which is
        left owing the rest (below zero) and refills from there."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < min(cost, self.burst):
            return False
        self.tokens -= cost
        return True

    def wait(self, cost: float = 1) -> float:
        """Seconds until ``cost`` tokens will be there (0 when they are now); spends nothing."""
        now = self.clock()
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        return 0.0 if tokens >= cost else (cost - tokens) / self.rate

    @property
    def full(self) -> bool:
        """Whether the bucket has refilled to its burst (as good as a new one)."""
        return self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst
