from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a1art_async._engine._retry import (
    Decision,
    Failure,
    RequestKind,
    RetryPolicy,
    classify,
    compute_backoff,
    parse_retry_after,
)

POLICY = RetryPolicy(max_retries=5, initial=0.5, cap=8.0, retry_after_cap=30.0)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (99, 8.0)]
)
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    """
    With the largest jitter draw the delay is initial * 2**attempt, capped.
    """
    assert ceiling == compute_backoff(POLICY, attempt, jitter=1.0)


def test_backoff_is_full_jitter() -> None:
    """
    The jitter draw scales the ceiling linearly from zero.
    """
    assert 0.0 == compute_backoff(POLICY, 3, jitter=0.0)
    assert 2.0 == compute_backoff(POLICY, 3, jitter=0.5)


def test_retry_after_is_honoured_below_its_cap() -> None:
    """
    A server's Retry-After replaces the backoff when it is within retry_after_cap.
    """
    assert 12.0 == compute_backoff(POLICY, 0, jitter=0.1, retry_after=12.0)
    assert 0.05 == compute_backoff(POLICY, 0, jitter=0.1, retry_after=31.0)


@given(
    attempt=st.integers(min_value=-10, max_value=10**9),
    jitter=st.floats(min_value=-1, max_value=2, allow_nan=False),
    retry_after=st.none() | st.floats(min_value=-100, max_value=1e12, allow_nan=False),
)
def test_backoff_stays_within_bounds(
    attempt: int, jitter: float, retry_after: float | None
) -> None:
    """
    For any attempt number, jitter and Retry-After the delay is finite and bounded.
    """
    delay = compute_backoff(POLICY, attempt, jitter=jitter, retry_after=retry_after)
    assert 0.0 <= delay <= max(POLICY.cap, POLICY.retry_after_cap)


def test_policy_rejects_nonsense() -> None:
    """
    A negative retry count is refused when the policy is built.
    """
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    ("kind", "failure", "decision"),
    [
        (RequestKind.QUERY, Failure.NOT_SENT, Decision.RETRY),
        (RequestKind.QUERY, Failure.NO_ANSWER, Decision.RETRY),
        (RequestKind.QUERY, Failure.RATE_LIMITED, Decision.RETRY),
        (RequestKind.QUERY, Failure.SERVER_FAILED, Decision.RETRY),
        (RequestKind.QUERY, Failure.REJECTED, Decision.RAISE),
        (RequestKind.UPLOAD, Failure.NO_ANSWER, Decision.RETRY),
        (RequestKind.UPLOAD, Failure.SERVER_FAILED, Decision.RETRY),
        (RequestKind.UPLOAD, Failure.REJECTED, Decision.RAISE),
        (RequestKind.SPEND, Failure.NOT_SENT, Decision.RETRY),
        (RequestKind.SPEND, Failure.RATE_LIMITED, Decision.RETRY),
        (RequestKind.SPEND, Failure.NO_ANSWER, Decision.OUTCOME_UNKNOWN),
        (RequestKind.SPEND, Failure.SERVER_FAILED, Decision.OUTCOME_UNKNOWN),
        (RequestKind.SPEND, Failure.REJECTED, Decision.RAISE),
    ],
)
def test_classify(kind: RequestKind, failure: Failure, decision: Decision) -> None:
    """
    Spending requests are resent only when they provably never reached the server or
    were turned away by the rate limiter; reads and uploads retry every transient failure.
    """
    assert decision == classify(kind, failure)


def test_parse_retry_after_forms() -> None:
    """
    Retry-After is read as seconds or as an HTTP date; garbage is ignored.
    """
    assert 3.0 == parse_retry_after("3")
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 0.0 == parse_retry_after("-5")
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert 10.0 == pytest.approx(parse_retry_after(date, now=1_000_000))
