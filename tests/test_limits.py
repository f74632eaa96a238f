"""The token bucket behind every rate limit, on a clock the test moves by hand."""

from __future__ import annotations

import pytest

from editor.realtime.limits import TokenBucket

from .waiting import Clock


def test_a_burst_is_allowed_then_the_bucket_refills_at_its_rate():
    clock = Clock(start=0)
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait() == pytest.approx(0.5)  # one token at 2 a second
    clock.advance(0.49)
    assert not bucket.take()  # a refused take spends nothing...
    clock.advance(0.01)
    assert bucket.take()  # ...so the token is there on time
    assert not bucket.full
    clock.advance(3600)
    assert bucket.full and bucket.wait() == 0.0
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_a_costly_event_waits_for_all_its_tokens():
    clock = Clock(start=0)
    bucket = TokenBucket(rate=10, burst=50, clock=clock)
    assert bucket.take(40)
    assert not bucket.take(20)
    assert bucket.wait(20) == pytest.approx(1.0)  # 10 left, 10 more at 10 a second
    clock.advance(1.0)
    assert bucket.take(20)
