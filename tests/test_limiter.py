"""
The request budget on its own, in virtual time on asyncio and trio: pacing, in-flight
slots, slow start, AIMD, Retry-After, the ceiling, priorities and cancellation.
"""

from __future__ import annotations

import math

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async._engine._limiter import (
    MAX_ADAPTIVE_RATE,
    Limiter,
    Permit,
    Priority,
    RateLimit,
    polling,
    request_priority,
    waiting_priority,
)

pytestmark = pytest.mark.anyio

#: Virtual clocks may wake a sleeper within a nanosecond of its deadline.
EPS = 1e-6


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def _grant_times(limiter: Limiter, count: int) -> list[float]:
    """
    Start *count* requests at once; each is answered (accepted) as soon as granted.
    Returns when each was granted, from the start.
    """
    t0 = anyio.current_time()
    times: list[float] = []

    async def one() -> None:
        permit = await limiter.acquire()
        times.append(anyio.current_time() - t0)
        limiter.accepted(permit)

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one)
    return sorted(times)


# Configuration ----------------------------------------------------------------------


def test_a_number_is_a_ceiling() -> None:
    """
    ``rate_limit=5`` means "never more than 5 requests per second", adapting below it.
    """
    assert RateLimit(ceiling=5.0) == RateLimit.of(5)
    assert RateLimit() == RateLimit.of(None)
    assert RateLimit(ceiling=0.2, floor=0.2) == RateLimit.of(0.2)


@pytest.mark.parametrize("value", [0, -1, "5", True, math.inf, math.nan])
def test_a_client_refuses_a_rate_limit_that_is_not_a_positive_number(value: object) -> None:
    """
    A rate limit that is not a positive number is refused before anything is sent.
    """
    with pytest.raises(a1.ValidationError, match="rate_limit"):
        a1.AsyncClient(api_key="key", rate_limit=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"floor": 2.0, "ceiling": 1.0},
        {"decrease": 1.0},
        {"decrease": 0.0},
        {"initial": 0.0},
        {"burst": -1.0},
        {"increase": -0.1},
    ],
)
def test_invalid_budgets_are_refused(kwargs: dict[str, float]) -> None:
    """
    A budget whose parameters contradict each other or are out of range is refused.
    """
    with pytest.raises(ValueError):  # noqa: PT011 - attrs and our checks word it differently
        RateLimit(**kwargs)


def test_a_client_shares_one_budget_and_bounds_it_to_the_pool() -> None:
    """
    The client's limiter starts at the configured rate with as many slots as connections.
    """
    client = a1.AsyncClient(
        api_key="key", rate_limit=a1.RateLimit(initial=7.0), limits=httpx.Limits(max_connections=9)
    )
    assert (7.0, 9) == (client._session.limiter.rate, client._session.limiter.max_in_flight)


# Pacing and slots -------------------------------------------------------------------


async def test_a_burst_leaves_at_once_and_the_rest_is_paced_at_the_rate() -> None:
    """
    After a quiet spell ``burst`` seconds' worth of requests go at once, then one per
    ``1 / rate`` seconds.
    """
    limiter = Limiter(RateLimit(initial=10.0, burst=0.5, adaptive=False, ceiling=10.0), 100)
    await _grant_times(limiter, 1)
    await anyio.sleep(10)
    times = await _grant_times(limiter, 15)
    assert [0.0] * 5 == pytest.approx(times[:5])
    assert [0.1 * k for k in range(1, 11)] == pytest.approx(times[5:], abs=EPS)


async def test_no_more_requests_are_in_flight_than_slots() -> None:
    """
    With an unbounded rate, at most ``max_in_flight`` permits are out at once.
    """
    limiter = Limiter(RateLimit(adaptive=False), 3)
    peak = 0

    async def one() -> None:
        nonlocal peak
        permit = await limiter.acquire()
        peak = max(peak, limiter.in_flight)
        await anyio.sleep(1.0)
        limiter.release(permit)

    t0 = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert 3 == peak
    assert 4.0 == pytest.approx(anyio.current_time() - t0, abs=EPS)
    assert (0, 0) == (limiter.in_flight, limiter.waiting)


# Adapting ---------------------------------------------------------------------------


async def test_a_cold_budget_paces_from_the_first_request() -> None:
    """
    A new client sends at its initial rate from the start, not in a burst.
    """
    limiter = Limiter(RateLimit(initial=10.0, slow_start=0.0), 100)
    assert [0.1 * k for k in range(5)] == pytest.approx(await _grant_times(limiter, 5), abs=EPS)


async def test_slow_start_grows_the_rate_only_while_the_budget_is_the_bottleneck() -> None:
    """
    Answers to requests that waited for a token raise the rate; answers to requests
    that found one free (an idle client) leave it alone.
    """
    limiter = Limiter(RateLimit(initial=10.0, burst=1.0), 100)
    for _ in range(20):  # one request every half second never waits
        permit = await limiter.acquire()
        limiter.accepted(permit)
        await anyio.sleep(0.5)
    assert 10.0 == limiter.rate
    await anyio.sleep(1)
    await _grant_times(limiter, 60)  # 50 of them wait for tokens
    assert 60.0 == limiter.rate


async def test_past_the_pool_size_slow_start_doubles_with_every_pool_of_answers() -> None:
    """
    Once the rate is above the in-flight bound, each answer to a request that waited
    adds the rate over that bound: a budget with 10 slots at 100/s multiplies its rate
    by 1.1 per answer, so a fast server's ceiling is found within a second.
    """
    limiter = Limiter(RateLimit(initial=100.0, burst=0.01), 10)
    await anyio.sleep(1)
    await _grant_times(limiter, 11)  # the first finds its token; 10 wait for theirs
    assert 100.0 * 1.1**10 == pytest.approx(limiter.rate)


async def test_requests_back_to_back_on_a_clock_that_never_moves_do_not_spin() -> None:
    """
    Thousands of requests sent one after another in one virtual instant end, and the
    rate stops growing at its cap: a token's wait stays a time the clock can add.
    """
    limiter = Limiter(RateLimit(), 64)
    # Without the cap this loop never ends (the virtual clock does not move, so only
    # pytest's own timeout stops it).
    for _ in range(5_000):
        limiter.accepted(await limiter.acquire())
    assert limiter.rate <= MAX_ADAPTIVE_RATE


async def test_a_refusal_decreases_the_rate_once_per_round() -> None:
    """
    Refusals of requests sent before the last decrease say nothing new: a burst of
    them costs one decrease; a refusal of a request sent after it costs another.
    """
    limiter = Limiter(RateLimit(initial=20.0), 100)
    permits = [await limiter.acquire() for _ in range(5)]
    for permit in permits:
        limiter.refused(permit)
    assert (14.0, 1, 5) == (pytest.approx(limiter.rate), limiter.decreases, limiter.refusals)
    later = await limiter.acquire()
    limiter.refused(later)
    assert (9.8, 2) == (pytest.approx(limiter.rate), limiter.decreases)


async def test_additive_increase_after_the_first_refusal() -> None:
    """
    After a refusal, each answer to a request that waited adds ``increase`` requests/s.
    """
    limiter = Limiter(RateLimit(initial=10.0, increase=0.5, burst=1.0), 100)
    limiter.refused(await limiter.acquire())
    assert 7.0 == pytest.approx(limiter.rate)
    await anyio.sleep(5)  # the bucket refills to 7 tokens
    await _grant_times(limiter, 17)  # 7 from the bucket, then 10 that wait
    assert 7.0 + 10 * 0.5 == pytest.approx(limiter.rate, abs=0.51)


async def test_slow_start_resumes_after_a_long_spell_without_refusals() -> None:
    """
    ``probe_after`` seconds after the last decrease, answers to requests that waited
    grow the rate by ``slow_start`` again: the limit may have risen.
    """
    config = RateLimit(initial=10.0, increase=0.0, slow_start=1.0, probe_after=30.0)
    limiter = Limiter(config, 100)
    limiter.refused(await limiter.acquire())
    await _grant_times(limiter, 20)
    assert 7.0 == pytest.approx(limiter.rate)
    await anyio.sleep(30)
    await _grant_times(limiter, 20)  # 7 from the bucket, then 13 that wait
    assert 7.0 + 13 == pytest.approx(limiter.rate)


async def test_the_rate_stays_between_floor_and_ceiling() -> None:
    """
    Neither slow start nor refusals move the rate out of ``[floor, ceiling]``.
    """
    limiter = Limiter(RateLimit(initial=50.0, ceiling=8.0, floor=2.0), 100)
    assert 8.0 == limiter.rate
    await _grant_times(limiter, 40)
    assert 8.0 == limiter.rate
    for _ in range(10):
        limiter.refused(await limiter.acquire())
    assert 2.0 == limiter.rate


async def test_retry_after_holds_every_request_until_it_passes() -> None:
    """
    A refusal with ``Retry-After`` holds all permits for that long (at most
    ``max_pause``).
    """
    limiter = Limiter(RateLimit(initial=100.0, max_pause=3.0, increase=0.0), 100)
    limiter.refused(await limiter.acquire(), retry_after=2.0)
    times = await _grant_times(limiter, 3)
    # Then paced at the decreased rate: the bucket did not fill during the pause.
    assert [2.0 + 1 / 70, 2.0 + 2 / 70, 2.0 + 3 / 70] == pytest.approx(times, abs=EPS)
    limiter.refused(await limiter.acquire(), retry_after=3600.0)
    assert [3.0 + 1 / 49] == pytest.approx(await _grant_times(limiter, 1), abs=EPS)


async def test_a_fixed_budget_ignores_refusals() -> None:
    """
    ``adaptive=False`` keeps the rate at the ceiling (or unbounded) whatever the server
    says.
    """
    fixed = Limiter(RateLimit(ceiling=5.0, adaptive=False), 10)
    unbounded = Limiter(RateLimit(adaptive=False), 10)
    for limiter in (fixed, unbounded):
        limiter.refused(await limiter.acquire(), retry_after=10.0)
        await _grant_times(limiter, 20)
    assert (5.0, math.inf) == (fixed.rate, unbounded.rate)
    assert [0.0] * 20 == await _grant_times(unbounded, 20)


# Priorities -------------------------------------------------------------------------


async def test_waiting_requests_are_served_by_priority_then_submissions_first() -> None:
    """
    Interactive waits go before submissions, submissions before bulk work; within a
    level a submission goes before a poll, but while both wait they take turns (the
    default poll share is a half), and each kind is served first come first served.
    """
    limiter = Limiter(RateLimit(ceiling=10.0, burst=0.1, adaptive=False), 100)
    limiter.accepted(await limiter.acquire())  # the bucket is empty now
    order: list[str] = []

    async def one(name: str, level: Priority, poll: bool) -> None:
        if poll:
            with polling([level]):
                permit = await limiter.acquire()
        else:
            with request_priority(level):
                permit = await limiter.acquire()
        order.append(name)
        limiter.accepted(permit)

    arrivals = [
        ("bulk poll 1", Priority.BULK, True),
        ("bulk submit", Priority.BULK, False),
        ("normal poll", Priority.NORMAL, True),
        ("bulk poll 2", Priority.BULK, True),
        ("submit 1", Priority.NORMAL, False),
        ("interactive poll", Priority.INTERACTIVE, True),
        ("submit 2", Priority.NORMAL, False),
    ]
    async with anyio.create_task_group() as tg:
        for name, level, poll in arrivals:
            tg.start_soon(one, name, level, poll)
            await anyio.lowlevel.checkpoint()
    expected = [
        "interactive poll",
        "submit 1",
        "normal poll",
        "submit 2",
        "bulk submit",
        "bulk poll 1",
        "bulk poll 2",
    ]
    assert expected == order


async def test_an_interactive_request_overtakes_a_bulk_backlog() -> None:
    """
    A request arriving behind 100 waiting bulk polls is served with the next token.
    """
    limiter = Limiter(RateLimit(ceiling=10.0, burst=0.1, adaptive=False), 100)
    served: dict[str, float] = {}
    t0 = anyio.current_time()

    async def bulk(index: int) -> None:
        with polling([Priority.BULK]):
            permit = await limiter.acquire()
        served[f"bulk {index}"] = anyio.current_time() - t0
        limiter.accepted(permit)

    async with anyio.create_task_group() as tg:
        for index in range(100):
            tg.start_soon(bulk, index)
        await anyio.sleep(2.05)
        permit = await limiter.acquire()
        served["interactive"] = anyio.current_time() - t0
        limiter.accepted(permit)
    assert 2.1 == pytest.approx(served["interactive"], abs=EPS)
    assert 10.0 == pytest.approx(max(served.values()), abs=EPS)


def test_waits_are_interactive_unless_started_in_a_bulk_block() -> None:
    """
    Polls for a wait started in a bulk block are bulk; any other wait is interactive.
    """
    assert Priority.INTERACTIVE == waiting_priority()
    with request_priority(Priority.BULK):
        assert Priority.BULK == waiting_priority()
    with request_priority(Priority.NORMAL):
        assert Priority.INTERACTIVE == waiting_priority()


# Cancellation -----------------------------------------------------------------------


async def test_cancelled_waiters_give_up_their_place_and_nothing_else() -> None:
    """
    Cancelling waiters, the one timing the next token included, loses no slot or
    token: the others are served on schedule and the books balance.
    """
    limiter = Limiter(RateLimit(ceiling=10.0, burst=0.1, adaptive=False), 100)
    limiter.accepted(await limiter.acquire())
    t0 = anyio.current_time()
    times: list[float] = []

    async def one(level: Priority) -> None:
        with request_priority(level):
            permit = await limiter.acquire()
        times.append(anyio.current_time() - t0)
        limiter.accepted(permit)

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as doomed:
            async with anyio.create_task_group() as inner:
                inner.start_soon(one, Priority.INTERACTIVE)  # the head: times the token
                await anyio.lowlevel.checkpoint()
                for _ in range(3):
                    tg.start_soon(one, Priority.NORMAL)
                await anyio.lowlevel.checkpoint()
                doomed.cancel()
    assert [0.1, 0.2, 0.3] == pytest.approx(times, abs=EPS)
    assert (0, 0, 4) == (limiter.in_flight, limiter.waiting, limiter.granted)


async def test_permits_are_reported_once() -> None:
    """
    Reporting a permit twice (an answer, then the request path's final release) frees
    its slot once.
    """
    limiter = Limiter(RateLimit(), 2)
    permit: Permit = await limiter.acquire()
    limiter.refused(permit)
    limiter.release(permit)
    limiter.accepted(permit)
    assert (0, 1) == (limiter.in_flight, limiter.refusals)
