"""
A token bucket per API key, for the ``rate_limit`` fault knob.
"""

from __future__ import annotations

import math

import attrs


@attrs.define
class _Bucket:
    tokens: float
    updated: float


@attrs.define
class RateLimiter:
    """
    Token buckets keyed by API key, refilled at the current rate on every call.

    The rate is passed on each call rather than fixed, because the knob may change while
    requests are in flight; a bucket simply refills at whatever rate is set now.
    """

    _buckets: dict[str, _Bucket] = attrs.Factory(dict)

    def acquire(self, key: str, rate: float, now: float) -> int | None:
        """
        Take a token for *key* if one is available.

        Args:
            key: Whose bucket.
            rate: Tokens per second; the burst (bucket size) is ``max(1, rate)``.
            now: Clock time.

        Returns:
            None when the request may pass, else whole seconds (at least 1) until a
            token will be available, for a ``Retry-After`` header.
        """
        burst = max(1.0, rate)
        bucket = self._buckets.setdefault(key, _Bucket(burst, now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))
