"""
When to poll a job: one frozen :class:`PollPolicy` and the pure functions that turn it
into a schedule (:func:`first_delay`, :func:`next_delay`, :func:`poll_times`).

A job's *age* counts from its *anchor*: its submission, or the last poll that found it
still waiting in the API's queue (a job that waited long in the queue is polled at the
pace of a fresh one once it runs).  A provider may give a *hint*, the duration it
expects (a1.art's ``processTime``), which times the first poll.  Once a family of jobs
(a1.art's app) has been seen finishing ``learn_after`` times, the scheduler polls it by
the optimal schedule for the durations it learned (``_learn.py``) instead of these rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import attrs


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None (got {value!r})")


def _count_or_none(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{attribute.name} must be a positive integer or None (got {value!r})")


@attrs.frozen
class PollPolicy:
    """
    When to poll a task, for how long, and how many polls may run at once.

    Until a family of tasks is learned, the schedule, in seconds after the task's anchor
    (its submission, or the last poll that found it queued: its *age*)::

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
    ``coalesce`` bounds how late a poll sees a finished task.  A poll that finds the
    task still queued starts the schedule afresh from that poll.

    Learned schedules.  Once the scheduler has seen ``learn_after`` tasks of a family
    finish, it fits their durations (lognormal, by maximum likelihood over the intervals
    its polls saw them finish in) and polls by the schedule that minimises ``E[lag] +
    poll_cost * E[polls]`` for that fit: ``poll_cost`` is the exchange rate, what one
    poll is worth in seconds of detection lag.  ``first_delay`` stays a floor, and
    jitter and the grid apply as above; past the schedule's horizon (the 99.99th
    percentile) the backoff rule takes over.

    A saturated budget.  While requests other than polls wait for a permit, a poll
    delays one of them, so it costs ``busy_poll_cost``: a due poll is held back to
    where the schedule for that cost puts it (for a family not learned yet, the
    lognormal of its hint), re-checked every quarter ``interval``, and goes as soon as
    the budget frees up.  Until a family's first task is seen finishing, its polls go
    as planned, so that a batch's first result comes within seconds.

    ``poll_cost=1.0`` and ``busy_poll_cost=200`` come from ``python -m
    benchmarks.polling --sweep-costs``.  For the emulator's FORM app (lognormal, median
    22 s, sigma 0.25) the optimum at 1.0 s a poll, with this jitter and grid, polls 2.75
    times per task with a mean lag of 1.9 s (1.07x Keller's bound on ``E[polls] *
    E[lag]``) at a p95 lag of 4.5 s, under the fixed 5 s poller's 4.8 s; at 1.2 s it
    passes that p95.  In B6 (200 TEXT jobs, 16 at a time, against 3 requests/s) the
    batch ends 4.7 % later than one that polls only after submitting at 15 s a poll,
    0.6 % later at 100 s, and as early at 200 s.

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
        poll_cost: For learned schedules: seconds of detection lag one poll is worth.
        busy_poll_cost: The same while the request budget is saturated.
        learn_after: Finished tasks of a family seen before its learned schedule is
            used; ``None`` never learns.
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
    poll_cost: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    busy_poll_cost: float = attrs.field(default=200.0, validator=attrs.validators.gt(0))
    learn_after: int | None = attrs.field(default=20, validator=_count_or_none)

    def expected(self, process_time: float | None) -> float:
        """
        The duration the schedule expects: the hint when there is one, else
        ``first_delay``.
        """
        if process_time is None or not math.isfinite(process_time) or process_time <= 0:
            return self.first_delay
        return process_time


def shorten(seconds: float, policy: PollPolicy, jitter: float) -> float:
    """
    *seconds* shortened by the policy's jitter (a number in ``[0, 1]`` picks how much).
    """
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
    return max(policy.first_delay, shorten(hinted, policy, jitter))


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
    return shorten(gap, policy, jitter)


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
