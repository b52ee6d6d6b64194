"""
When a failed request may be sent again, and how long to wait first.

Two pure functions carry the rules, so they can be tested without a network:

- :func:`compute_backoff` is capped exponential backoff with full jitter; a server's
  ``Retry-After`` is honoured when it is below a cap.
- :func:`classify` decides, from what went wrong and what kind of request it was,
  whether to retry, to raise, or (for requests that spend credits) to report that the
  outcome is unknown.  Generate and enhance have no idempotency key, so they are only
  resent when the first attempt provably never reached the server or was explicitly
  rejected by the rate limiter before anything was done.
"""

from __future__ import annotations

import email.utils
import enum
import time
from typing import Protocol

import attrs

# 2.0 ** 1024 overflows a float; no sane backoff needs more doublings than this.
_MAX_EXPONENT = 64


class RequestKind(enum.Enum):
    """
    How a request may be repeated.
    """

    #: Reads: app details, task status.  Always safe to repeat.
    QUERY = "query"
    #: Uploads: a repeat may store the image twice, which costs nothing.
    UPLOAD = "upload"
    #: Generate and enhance: a repeat may be charged twice.
    SPEND = "spend"


class SpendGuard(Protocol):
    """
    Told, around each attempt of a request that spends credits, whether it may have
    been charged; a batch journals the job from it.  It rides on the request
    (``Session.request(..., guard=...)``), so a provider's submit path passes on what
    its caller gave it and needs to know nothing else.
    """

    async def sending(self) -> None:
        """
        The request is about to leave this process (after any wait for the rate
        limiter): from now on it may be charged.
        """

    async def unpaid(self) -> None:
        """
        The attempt provably was not charged: the server refused it for the rate or
        rejected it outright, or the connection was never made.  Called (shielded from
        cancellation) before any retry wait, so a job cancelled while it waits to be
        sent again is not mistaken for one whose outcome is unknown.
        """


class Failure(enum.Enum):
    """
    What went wrong with one attempt, as far as retrying is concerned.
    """

    #: The connection was never established (or no pooled connection was free): the
    #: request did not leave this process.
    NOT_SENT = "not_sent"
    #: Sent, but the answer never came whole: read timeout, dropped connection.
    NO_ANSWER = "no_answer"
    #: The server said "too many requests" (code 20000 or HTTP 429): rejected unread.
    RATE_LIMITED = "rate_limited"
    #: The server failed (20002, 20003, HTTP 5xx) or answered with a body that is not
    #: the documented envelope.
    SERVER_FAILED = "server_failed"
    #: A definitive answer such as invalid params or insufficient balance.
    REJECTED = "rejected"


class Decision(enum.Enum):
    """
    What to do about a failed attempt.
    """

    RETRY = "retry"
    RAISE = "raise"
    #: Raise :class:`~a1art_async.GenerationOutcomeUnknown`: credits may have been spent.
    OUTCOME_UNKNOWN = "outcome_unknown"


def classify(kind: RequestKind, failure: Failure) -> Decision:
    """
    Decide whether an attempt that failed this way may be repeated.

    Args:
        kind: The request's kind.
        failure: What went wrong.

    Returns:
        ``RETRY`` when repeating is safe, ``RAISE`` when the error is final, and
        ``OUTCOME_UNKNOWN`` when a request that spends credits may have been acted on.
    """
    if failure is Failure.REJECTED:
        return Decision.RAISE
    if failure in (Failure.NOT_SENT, Failure.RATE_LIMITED):
        return Decision.RETRY
    if kind is RequestKind.SPEND:
        return Decision.OUTCOME_UNKNOWN
    return Decision.RETRY


@attrs.frozen
class RetryPolicy:
    """
    How often and how patiently to retry a request.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        initial: The first backoff ceiling, in seconds; it doubles per attempt.
        cap: The largest backoff ceiling, in seconds.
        retry_after_cap: A server's ``Retry-After`` is honoured up to this many seconds;
            longer asks fall back to the computed backoff.
    """

    max_retries: int = attrs.field(default=4, validator=attrs.validators.ge(0))
    initial: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    cap: float = attrs.field(default=8.0, validator=attrs.validators.gt(0))
    retry_after_cap: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))


def compute_backoff(
    policy: RetryPolicy, attempt: int, *, jitter: float, retry_after: float | None = None
) -> float:
    """
    Seconds to wait before retry number *attempt* (0 for the first retry).

    Full jitter: a uniform draw below ``min(cap, initial * 2**attempt)``; a server's
    ``Retry-After`` within ``retry_after_cap`` replaces it.

    Args:
        policy: The retry policy.
        attempt: How many retries came before this one.
        jitter: A number in ``[0, 1]``, normally ``random.random()``.
        retry_after: The server's ``Retry-After`` in seconds, if it sent one.

    Returns:
        A delay in ``[0, max(cap, retry_after_cap)]``.
    """
    if retry_after is not None and 0 <= retry_after <= policy.retry_after_cap:
        return retry_after
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    ceiling = min(policy.cap, policy.initial * 2.0**exponent)
    return min(max(jitter, 0.0), 1.0) * ceiling


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """
    Read a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns:
        Seconds to wait (never negative), or ``None`` if absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)
