"""
When to poll a job: one frozen :class:`PollPolicy` and the pure functions that turn it
into a schedule (:func:`first_delay`, :func:`next_delay`, :func:`poll_times`).

A job's *age* counts from its submission; a provider may give a *hint*, the duration it
expects (a1.art's ``processTime``), which times the first poll.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import attrs


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None (got {value!r})")


@attrs.frozen
class PollPolicy:
    """
    When to poll a task, for how long, and how many polls may run at once.

    The schedule, in seconds after the task was submitted (its *age*)::

        first poll   max(first_delay, hint_fraction * processTime), capped at hint_cap
        then         every `interval` while age < steady_for * expected
        then         gap = min(max_interval, interval + backoff * (age - steady end))

    where *expected* is the app's ``processTime`` when known and ``first_delay``
    otherwise.  Past the steady phase the gap grows with the task's age, which is
    exponential backoff (each gap is about ``1 + backoff`` times the last) computed from
    age alone, so a wait that is resumed later picks up the right pace.  Every gap
    (and a hinted first delay) is shortened by a random fraction of up to ``jitter``,
    never lengthened; polls then go out on a grid of ``coalesce`` seconds (rounded up).
    So ``first_delay`` stays a floor, and ``interval`` (then ``max_interval``) plus
    ``coalesce`` bounds how late a poll sees a finished task.

    How the defaults were chosen.  ``hint_fraction=0.875``, ``interval=4.75`` and
    ``steady_for=2.0`` come from ``python -m benchmarks.polling --sweep``: it replays the
    durations the emulator draws for its FORM app (lognormal around the 22 s
    ``processTime``, sigma 0.25, clamped to 0.5x-2x; 1,000 tasks for each of five seeds)
    through 459 candidates with this module's own schedule functions, and keeps the one
    with the fewest polls per task whose p95 detection lag stays 2 % under the fixed 5 s
    poller's (the docs' advice) on every seed.  The winner polls 2.45 times per task
    against the fixed poller's 5.0; the best fixed schedule at that lag, found by exact
    search without jitter or grid, polls 2.26 times (``benchmarks/RESULTS-polling.md``).
    The other defaults are design choices the benchmark cannot see: ``jitter=0.1``
    spreads the polls of tasks submitted together; ``coalesce=0.1`` lets polls due within
    0.1 s share one event-loop wake-up (about a quarter less CPU per poll in B2);
    ``backoff=0.5`` and ``max_interval=45`` follow Google's long-running-operation policy
    (x1.5 per gap, 45 s cap) for tasks past twice their expected duration, which the
    emulator never draws; ``max_concurrent=32`` leaves half of the default connection
    pool to uploads and submissions; ``deadline=600`` is a safety net, 27 times the
    documented ``processTime``.

    Attributes:
        first_delay: The earliest first poll, in seconds after submission; the docs
            advise waiting 5 s.
        hint_fraction: With a ``processTime`` hint, the first poll comes at this
            fraction of it, when that is later than ``first_delay``.
        hint_cap: The longest first delay a hint may ask for, in seconds.
        interval: The gap between polls during the steady phase, in seconds.
        steady_for: The steady phase lasts until the task is this many times its
            expected duration old.
        backoff: After the steady phase each gap grows by this many seconds per second
            of age.
        max_interval: The longest gap between polls, in seconds.
        jitter: Each gap is shortened by a uniform random fraction in ``[0, jitter]``.
        deadline: Seconds a wait may last by default before it raises
            :class:`TaskTimeoutError` (``None``: wait forever).
        max_concurrent: Polls in flight at once, across all tasks.
        coalesce: Polls go out on a grid of this many seconds (due times are rounded
            up to it), so that polls due within the same instant share one wake-up of
            the event loop; 0 sends each poll at its exact time.
    """

    first_delay: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    hint_fraction: float = attrs.field(default=0.875, validator=attrs.validators.ge(0))
    hint_cap: float = attrs.field(default=300.0, validator=attrs.validators.ge(0))
    interval: float = attrs.field(default=4.75, validator=attrs.validators.gt(0))
    steady_for: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))
    backoff: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    max_interval: float = attrs.field(default=45.0, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(
        default=0.1, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )
    deadline: float | None = attrs.field(default=600.0, validator=_positive_or_none)
    max_concurrent: int = attrs.field(default=32, validator=attrs.validators.ge(1))
    coalesce: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))

    def expected(self, process_time: float | None) -> float:
        """
        The duration the schedule expects: the hint when there is one, else
        ``first_delay``.
        """
        if process_time is None or not math.isfinite(process_time) or process_time <= 0:
            return self.first_delay
        return process_time


def _shorten(seconds: float, policy: PollPolicy, jitter: float) -> float:
    return seconds * (1.0 - policy.jitter * min(max(jitter, 0.0), 1.0))


def first_delay(policy: PollPolicy, process_time: float | None, *, jitter: float) -> float:
    """
    Seconds from submission to the first poll.

    Args:
        policy: The policy.
        process_time: The app's ``processTime`` hint, if known.
        jitter: A number in ``[0, 1]``, normally ``random.random()``.

    Returns:
        At least ``policy.first_delay``.
    """
    if process_time is None or not math.isfinite(process_time) or process_time <= 0:
        return policy.first_delay
    hinted = min(policy.hint_fraction * process_time, policy.hint_cap)
    return max(policy.first_delay, _shorten(hinted, policy, jitter))


def next_delay(
    policy: PollPolicy, age: float, process_time: float | None, *, jitter: float
) -> float:
    """
    Seconds from a poll that found the task unfinished to the next one.

    Args:
        policy: The policy.
        age: Seconds since submission when the last poll was sent.
        process_time: The app's ``processTime`` hint, if known.
        jitter: A number in ``[0, 1]``, normally ``random.random()``.

    Returns:
        A gap in ``(0, policy.max_interval]``.
    """
    overdue = max(0.0, age - policy.steady_for * policy.expected(process_time))
    gap = min(policy.max_interval, policy.interval + policy.backoff * overdue)
    return _shorten(gap, policy, jitter)


def poll_times(policy: PollPolicy, process_time: float | None = None) -> Iterator[float]:
    """
    The ages at which a task is polled, without jitter, forever.

    This is the schedule the scheduler follows when ``policy.jitter`` is 0 and polls are
    answered at once; tests and benchmarks use it to predict poll counts.
    """
    age = first_delay(policy, process_time, jitter=0.0)
    while True:
        yield age
        age += next_delay(policy, age, process_time, jitter=0.0)


def polls_until(policy: PollPolicy, duration: float, process_time: float | None = None) -> int:
    """
    How many polls, on the unjittered schedule, find a task of this duration finished.
    """
    for count, age in enumerate(poll_times(policy, process_time), start=1):
        if age >= duration:
            return count
    raise AssertionError("unreachable")  # pragma: no cover
