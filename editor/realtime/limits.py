"""Rate limiting: token buckets, per connection and per person (the bucket is in
:mod:`editor.core.buckets`, so the domain budgets whole-text writes with it too)."""

from ..core.buckets import TokenBucket

__all__ = ["TokenBucket"]
