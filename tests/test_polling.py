"""
The polling scheduler, against a scripted fetch, in virtual time on asyncio and trio.

The fake server knows when each task finishes and records every poll; the scheduler
runs in a task group of the test, exactly as ``AsyncClient`` runs it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import anyio
import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import a1art_async as a1
from a1art_async._engine._schedule import first_delay, next_delay, poll_times, polls_until
from a1art_async._engine._scheduler import Scheduler, as_completed

from .conftest import scripted_poller

pytestmark = pytest.mark.anyio

# Unjittered, off the grid, and with the schedule's numbers spelled out.
# The rules alone (no learned schedule), so that poll counts follow `polls_until`.
EXACT = a1.PollPolicy(jitter=0.0, coalesce=0.0, hint_fraction=0.85, interval=4.5, learn_after=None)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@attrs.define
class FakeServer:
    """
    Tasks that finish at set clock times; every poll is recorded as (time, task id),
    the time counted from the server's creation (trio's mock clock starts anywhere).
    """

    t0: float = attrs.Factory(anyio.current_time)
    finish: dict[str, float] = attrs.Factory(dict)
    fails: set[str] = attrs.Factory(set)
    errors: dict[str, list[Exception]] = attrs.Factory(dict)
    latency: float = 0.0
    polls: list[tuple[float, str]] = attrs.Factory(list)
    in_flight: int = 0
    peak_in_flight: int = 0

    def add(self, task_id: str, duration: float, *, fail: bool = False) -> str:
        self.finish[task_id] = anyio.current_time() + duration
        if fail:
            self.fails.add(task_id)
        return task_id

    def now(self) -> float:
        return anyio.current_time() - self.t0

    async def fetch(self, task_id: str, region: str) -> a1.Task:
        now = anyio.current_time()
        self.polls.append((now - self.t0, task_id))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                await anyio.sleep(self.latency)
            else:
                await anyio.lowlevel.checkpoint()
        finally:
            self.in_flight -= 1
        pending = self.errors.get(task_id)
        if pending:
            raise pending.pop(0)
        if task_id not in self.finish:
            raise a1.InvalidParamsError(10001, "invalid params")
        if now < self.finish[task_id]:
            return a1.Task(task_id, a1.TaskState.RUNNING)
        if task_id in self.fails:
            return a1.Task(task_id, a1.TaskState.FAILED)
        return a1.Task(task_id, a1.TaskState.COMPLETED, images=(f"https://cdn/{task_id}.png",))

    def times(self, task_id: str) -> list[float]:
        return [when for when, polled in self.polls if polled == task_id]


def _client() -> a1.AsyncClient:
    # Handles are made by a client's ``tasks.track``; this one never sends a request.
    return a1.AsyncClient(api_key="test-key", transport=httpx.MockTransport(_no_requests))


def _no_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.url}")


async def _run(
    server: FakeServer,
    policy: a1.PollPolicy,
    body: Callable[[Scheduler, a1.AsyncClient], Awaitable[None]],
) -> Scheduler:
    scheduler = Scheduler(scripted_poller(server.fetch), policy, rng=random.Random(7))
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        await body(scheduler, _client())
        scheduler.stop()
    return scheduler


# The pure schedule ----------------------------------------------------------------------


def test_poll_times_follow_the_documented_formula() -> None:
    """
    Without jitter, polls come at the hinted first delay, then every interval, then with
    growing gaps once the task is overdue, up to the cap.
    """
    policy = a1.PollPolicy(
        jitter=0.0, hint_fraction=0.5, interval=4.0, steady_for=1.0, backoff=0.5, max_interval=10
    )
    times = poll_times(policy, 20.0)
    actual = [next(times) for _ in range(8)]
    assert [10.0, 14.0, 18.0, 22.0, 27.0, 34.5, 44.5, 54.5] == pytest.approx(actual)


def test_without_a_hint_the_first_poll_is_the_documented_five_seconds() -> None:
    """
    With no processTime the first poll comes 5 s after submission, then steady polls
    until twice that, then backoff.
    """
    times = poll_times(EXACT)
    assert [5.0, 9.5, 14.0, 20.5] == pytest.approx([next(times) for _ in range(4)])


@given(
    process_time=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    jitter=st.floats(0, 1),
    age=st.floats(0, 1e9),
)
def test_delays_stay_within_their_bounds(
    process_time: float | None, jitter: float, age: float
) -> None:
    """
    The first delay is never under 5 s nor over the hint cap; every later gap is positive
    and at most the cap; jitter only shortens.
    """
    policy = a1.PollPolicy()
    first = first_delay(policy, process_time, jitter=jitter)
    gap = next_delay(policy, age, process_time, jitter=jitter)
    assert 5.0 <= first <= max(5.0, policy.hint_cap)
    assert 0 < gap <= policy.max_interval
    assert gap <= next_delay(policy, age, process_time, jitter=0.0)
    assert first <= first_delay(policy, process_time, jitter=0.0)


def test_policy_is_frozen_and_checked() -> None:
    """
    The policy cannot be changed after it is made, and nonsense values are refused.
    """
    policy = a1.PollPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.interval = 1.0  # type: ignore[misc]
    for bad in ({"interval": 0}, {"jitter": 1.0}, {"deadline": -1}, {"max_concurrent": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            a1.PollPolicy(**bad)


def test_polls_until_counts_the_poll_that_sees_the_end() -> None:
    """
    A task that finishes exactly at a poll is seen by that poll.
    """
    assert 1 == polls_until(EXACT, 5.0)
    assert 2 == polls_until(EXACT, 5.1)
    assert 2 == polls_until(EXACT, 9.5)


# The scheduler --------------------------------------------------------------------------


async def test_first_poll_never_before_five_seconds() -> None:
    """
    Whatever the hint and the jitter, no task is polled sooner than 5 s after submission.
    """
    server = FakeServer()
    rng = random.Random(3)
    submitted: dict[str, float] = {}

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        async with anyio.create_task_group() as tg:
            for n in range(200):
                task_id = server.add(f"t{n}", rng.uniform(0.1, 60))
                submitted[task_id] = server.now()
                hint = rng.choice([None, 0.5, 3.0, 6.0, 22.0, 90.0])
                app = None if hint is None else a1.App("app", "v", process_time=hint)
                tg.start_soon(scheduler.wait, client.tasks.track(task_id, app=app))
                await anyio.sleep(rng.uniform(0, 0.5))

    await _run(server, a1.PollPolicy(jitter=0.5), body)
    firsts = {task_id: min(server.times(task_id)) for task_id in submitted}
    assert 200 == len(firsts)
    # Clock arithmetic in floats; a nanosecond is not "before".
    assert 5.0 - 1e-9 <= min(firsts[task_id] - submitted[task_id] for task_id in submitted)


async def test_schedule_follows_the_policy() -> None:
    """
    Without jitter, a task is polled exactly at the times poll_times predicts.
    """
    server = FakeServer()
    policy = a1.PollPolicy(jitter=0.0, coalesce=0.0, steady_for=1.0, max_interval=12.0)
    app = a1.App("app", "v", process_time=20.0)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("slow", 100.0)
        await scheduler.wait(client.tasks.track("slow", app=app))

    await _run(server, policy, body)
    expected = []
    for age in poll_times(policy, 20.0):
        expected.append(age)
        if age >= 100.0:
            break
    assert expected == pytest.approx(server.times("slow"))


async def test_jitter_only_shortens_the_gaps() -> None:
    """
    With jitter, every gap is within (1 - jitter) of the unjittered one and never longer.
    """
    server = FakeServer()
    policy = a1.PollPolicy(jitter=0.3, coalesce=0.0, steady_for=0.0, backoff=0.0, interval=10.0)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("t", 300.0)
        await scheduler.wait(client.tasks.track("t"))

    await _run(server, policy, body)
    times = server.times("t")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 5.0 == pytest.approx(times[0])
    assert all(7.0 - 1e-9 <= gap <= 10.0 + 1e-9 for gap in gaps)
    assert len(set(gaps)) > 1


async def test_polls_go_out_on_the_coalescing_grid() -> None:
    """
    Polls due within one tick of the grid go out together at its next mark, never before
    they are due.
    """
    server = FakeServer()
    policy = a1.PollPolicy(jitter=0.3, coalesce=1.0)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        handles = [client.tasks.track(server.add(f"t{n}", 30.0)) for n in range(100)]
        async with as_completed(scheduler, handles) as results:
            assert 100 == len([outcome async for outcome in results])

    await _run(server, policy, body)
    instants = {round(server.t0 + when, 6) for when, _ in server.polls}
    assert all(when == pytest.approx(round(when)) for when in instants)
    assert 5.0 - 1e-9 <= min(when for when, _ in server.polls)
    assert len(server.polls) >= 10 * len(instants)


@pytest.mark.parametrize(
    ("hint", "first"),
    [(None, 5.0), (2.0, 5.0), (22.0, 18.7), (100.0, 85.0), (10_000.0, 300.0)],
)
async def test_process_time_hint_sets_the_first_poll(hint: float | None, first: float) -> None:
    """
    The first poll waits for a fraction of processTime when that is longer than 5 s, up
    to the hint cap.
    """
    server = FakeServer()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("t", 0.0)
        app = None if hint is None else a1.App("app", "v", process_time=hint)
        await scheduler.wait(client.tasks.track("t", app=app))

    await _run(server, EXACT, body)
    assert [first] == pytest.approx(server.times("t"))


async def test_deadline_raises_timeout_with_the_task_id_and_stops_polling() -> None:
    """
    A wait past its deadline raises TaskTimeoutError naming the task and its last state,
    and the task is not polled afterwards.
    """
    server = FakeServer()
    caught: list[a1.TaskTimeoutError] = []

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("stuck", math.inf)
        with pytest.raises(a1.TaskTimeoutError) as info:
            await scheduler.wait(client.tasks.track("stuck"), timeout=30.0)
        caught.append(info.value)
        assert 30.0 == pytest.approx(server.now())
        await anyio.sleep(600)

    await _run(server, EXACT, body)
    assert "stuck" == caught[0].task_id
    assert a1.TaskState.RUNNING is caught[0].last_state
    assert 30.0 == pytest.approx(caught[0].waited)
    assert max(server.times("stuck")) <= 30.0


async def test_policy_deadline_applies_when_no_timeout_is_given() -> None:
    """
    The policy's deadline bounds a wait that names no timeout.
    """
    server = FakeServer()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("stuck", math.inf)
        with pytest.raises(a1.TaskTimeoutError):
            await scheduler.wait(client.tasks.track("stuck"))
        assert 120.0 == pytest.approx(server.now())

    await _run(server, a1.PollPolicy(jitter=0.0, coalesce=0.0, deadline=120.0), body)


async def test_failed_task_raises_task_failed_error() -> None:
    """
    A task that ends in state 20 raises TaskFailedError carrying the task.
    """
    server = FakeServer()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("bad", 7.0, fail=True)
        with pytest.raises(a1.TaskFailedError) as info:
            await scheduler.wait(client.tasks.track("bad"))
        assert "bad" == info.value.task_id
        assert a1.TaskState.FAILED is info.value.task.state

    await _run(server, EXACT, body)


async def test_permanent_poll_error_ends_the_wait() -> None:
    """
    A poll answered with a permanent error (an unknown task id) raises that error.
    """
    server = FakeServer()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        with pytest.raises(a1.InvalidParamsError):
            await scheduler.wait(client.tasks.track("nobody"))

    await _run(server, EXACT, body)
    assert [5.0] == pytest.approx(server.times("nobody"))


async def test_transient_poll_errors_are_polled_through() -> None:
    """
    Server errors and transport failures on a poll do not end the wait; a rate limit's
    Retry-After delays the next poll.
    """
    server = FakeServer()
    task: list[a1.Task] = []

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("t", 0.0)
        server.errors["t"] = [
            a1.ServerError(20002, "server error"),
            a1.ConnectError("refused"),
            a1.RateLimitError(20000, "too may request", retry_after=30.0),
        ]
        task.append(await scheduler.wait(client.tasks.track("t")))

    await _run(server, EXACT, body)
    assert a1.TaskState.COMPLETED is task[0].state
    assert [5.0, 9.5, 14.0, 44.0] == pytest.approx(server.times("t"))


async def test_duplicate_waiters_share_one_poll() -> None:
    """
    Five waiters on one task id, through one handle or several, cause the polls of one.
    """
    server = FakeServer()
    results: list[a1.Task] = []

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("t", 30.0)
        handle = client.tasks.track("t")

        async def wait(h: a1.TaskHandle) -> None:
            results.append(await scheduler.wait(h))

        async with anyio.create_task_group() as tg:
            for h in (handle, handle, client.tasks.track("t"), client.tasks.track("t")):
                tg.start_soon(wait, h)
            await anyio.sleep(12)
            tg.start_soon(wait, client.tasks.track("t"))

    await _run(server, EXACT, body)
    assert 5 == len(results)
    assert polls_until(EXACT, 30.0) == len(server.polls)


async def test_cancelling_one_waiter_keeps_polling_for_the_others() -> None:
    """
    Cancelling one of two waiters leaves the other's wait and polls untouched.
    """
    server = FakeServer()
    results: list[a1.Task] = []

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("t", 40.0)

        async def stays() -> None:
            results.append(await scheduler.wait(client.tasks.track("t")))

        async with anyio.create_task_group() as tg:
            tg.start_soon(stays)
            with anyio.move_on_after(11):
                await scheduler.wait(client.tasks.track("t"))

    await _run(server, EXACT, body)
    assert 1 == len(results)
    assert polls_until(EXACT, 40.0) == len(server.polls)


async def test_cancelling_the_only_waiter_stops_polling() -> None:
    """
    When the last waiter is cancelled the task is polled no more and the server job is
    left alone; a waiter that comes back before the next poll keeps the same schedule.
    """
    server = FakeServer()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        server.add("t", 100.0)
        handle = client.tasks.track("t")
        with anyio.move_on_after(11):
            await scheduler.wait(handle)
        with anyio.move_on_after(4):
            await scheduler.wait(handle)
        await anyio.sleep(200)
        assert 0 == scheduler.waiting
        await scheduler.wait(handle)

    await _run(server, EXACT, body)
    assert [5.0, 9.5, 14.0, 215.0] == pytest.approx(server.times("t"))


async def test_polls_in_flight_are_bounded() -> None:
    """
    No more than max_concurrent polls are ever in flight, however many tasks are due.
    """
    server = FakeServer(latency=0.5)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        handles = [client.tasks.track(server.add(f"t{n}", 20.0)) for n in range(300)]
        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(scheduler.wait, handle)

    await _run(server, a1.PollPolicy(max_concurrent=8), body)
    assert 8 == server.peak_in_flight


async def test_ten_thousand_tasks_take_the_predicted_number_of_polls() -> None:
    """
    10,000 tasks of varied durations and hints all complete through one stream, with
    exactly as many polls as the unjittered policy predicts for each.
    """
    server = FakeServer()
    rng = random.Random(11)
    expected: Counter[str] = Counter()
    seen: Counter[str] = Counter()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        handles = []
        for n in range(10_000):
            hint = rng.choice([None, 10.0, 22.0, 60.0])
            duration = (hint or 10.0) * math.exp(rng.gauss(0, 0.25))
            task_id = server.add(f"t{n}", duration)
            expected[task_id] = polls_until(EXACT, duration, hint)
            app = None if hint is None else a1.App("app", "v", process_time=hint)
            handles.append(client.tasks.track(task_id, app=app))
        async with as_completed(scheduler, handles) as results:
            async for outcome in results:
                assert outcome.ok
                seen[outcome.task_id] += 1

    scheduler = await _run(server, EXACT, body)
    assert 10_000 == len(seen)
    assert {1} == set(seen.values())
    assert expected == Counter(task_id for _, task_id in server.polls)
    assert sum(expected.values()) == scheduler.polls
