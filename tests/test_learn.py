"""
Learned durations, the optimal schedule for them, and how the scheduler uses both: ages
counted from the last poll that found a task queued, learned schedules per family, and
polls held back while the request budget is saturated.  Virtual time, asyncio and trio.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Awaitable, Callable

import anyio
import attrs
import httpx
import pytest

import a1art_async as a1
from a1art_async._engine._learn import DurationModel, Durations
from a1art_async._engine._optimal import Lognormal, OptimalSchedule, keller_bound
from a1art_async._engine._scheduler import Scheduler, as_completed

from .conftest import scripted_poller

pytestmark = pytest.mark.anyio

#: Without jitter or grid, so that poll times can be predicted exactly.
EXACT = a1.PollPolicy(jitter=0.0, coalesce=0.0, learn_after=5)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@attrs.define
class Server:
    """
    Tasks that wait in a queue, then run, then finish, at set times; polls recorded as
    (time since the server was made, task id).
    """

    t0: float = attrs.Factory(anyio.current_time)
    starts: dict[str, float] = attrs.Factory(dict)
    finish: dict[str, float] = attrs.Factory(dict)
    polls: list[tuple[float, str]] = attrs.Factory(list)

    def add(self, task_id: str, duration: float, *, queued: float = 0.0) -> str:
        now = anyio.current_time()
        self.starts[task_id] = now + queued
        self.finish[task_id] = now + queued + duration
        return task_id

    async def fetch(self, task_id: str, region: str) -> a1.Task:
        now = anyio.current_time()
        self.polls.append((now - self.t0, task_id))
        await anyio.lowlevel.checkpoint()
        if now < self.starts[task_id]:
            return a1.Task(task_id, a1.TaskState.SUBMITTED)
        if now < self.finish[task_id]:
            return a1.Task(task_id, a1.TaskState.RUNNING)
        return a1.Task(task_id, a1.TaskState.COMPLETED)

    def times(self, task_id: str) -> list[float]:
        return [when for when, polled in self.polls if polled == task_id]


def _no_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.url}")


def _client() -> a1.AsyncClient:
    return a1.AsyncClient(api_key="test-key", transport=httpx.MockTransport(_no_requests))


def _app(process_time: float | None = 22.0, app_id: str = "app-1") -> a1.App:
    return a1.App(app_id, "v", process_time=process_time)


async def _run(
    server: Server,
    policy: a1.PollPolicy,
    body: Callable[[Scheduler, a1.AsyncClient], Awaitable[None]],
    *,
    busy: Callable[[a1.Priority], bool] | None = None,
) -> Scheduler:
    scheduler = Scheduler(scripted_poller(server.fetch), policy, rng=random.Random(7), busy=busy)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        await body(scheduler, _client())
        scheduler.stop()
    return scheduler


async def _wait_all(scheduler: Scheduler, handles: list[a1.TaskHandle]) -> None:
    async with as_completed(scheduler, handles) as results:
        async for outcome in results:
            assert outcome.ok, outcome.error


# The distribution and the bound ---------------------------------------------------------


def test_the_bound_for_median_15_sigma_03_is_about_four_seconds() -> None:
    """
    Keller's bound on E[polls] x E[lag] for a lognormal of median 15 s and sigma 0.3 is
    about 4.0 s, and it grows in proportion to the median.
    """
    bound = keller_bound(Lognormal.from_median(15.0, 0.3))
    doubled = keller_bound(Lognormal.from_median(30.0, 0.3))
    assert 4.0 == pytest.approx(bound, rel=0.01)
    assert 2 * bound == pytest.approx(doubled, rel=1e-6)


def test_quantile_inverts_the_cdf() -> None:
    """
    The quantile function is the inverse of the distribution function, in both tails.
    """
    dist = Lognormal.from_median(22.0, 0.25)
    for p in (1e-5, 0.01, 0.3, 0.5, 0.95, 0.9999):
        assert p == pytest.approx(dist.cdf(dist.quantile(p)), rel=1e-6)


def _evaluate(table: OptimalSchedule, durations: list[float]) -> tuple[float, float]:
    ages = list(table.ages())
    polls = lags = 0.0
    for duration in durations:
        # Past the horizon (one draw in 10,000) the last poll stands for the rest.
        k = min(bisect.bisect_left(ages, duration), len(ages) - 1)
        polls += k + 1
        lags += max(0.0, ages[k] - duration)
    return polls / len(durations), lags / len(durations)


def _brute_force(dist: Lognormal, cost: float, step: float) -> float:
    """
    The least E[lag] + cost * E[polls] over schedules on a grid, by O(n^2) dynamic
    programming, for comparison.
    """
    horizon = dist.quantile(1 - 1e-4)
    xs = [step * i for i in range(math.ceil(horizon / step) + 1)]
    f = [dist.cdf(x) for x in xs]
    m = [dist.partial_mean(x) for x in xs]
    value = [0.0] * len(xs)
    for i in range(len(xs) - 2, -1, -1):
        value[i] = min(
            cost * (1 - f[i]) + xs[j] * (f[j] - f[i]) - (m[j] - m[i]) + value[j]
            for j in range(i + 1, len(xs))
        )
    return value[0]


def test_the_optimal_schedule_reaches_the_brute_force_optimum() -> None:
    """
    The schedule's expected E[lag] + cost * E[polls] equals the brute-force optimum on
    a grid, within the grid's resolution.
    """
    dist = Lognormal.from_median(10.0, 0.3)
    rng = random.Random(3)
    draws = [math.exp(rng.gauss(dist.mu, dist.sigma)) for _ in range(40_000)]
    table = OptimalSchedule(dist, 1.0)
    polls, lag = _evaluate(table, draws)
    assert _brute_force(dist, 1.0, table.step) == pytest.approx(lag + polls, rel=0.02)


@pytest.mark.parametrize("cost", [0.3, 1.0, 3.0])
def test_optimal_schedules_come_near_the_bound(cost: float) -> None:
    """
    For the emulator's FORM durations (median 22 s, sigma 0.25) the optimal schedule's
    E[polls] x E[lag] is within 20 % of Keller's bound at any poll cost in 0.3-3 s.
    """
    dist = Lognormal.from_median(22.0, 0.25)
    rng = random.Random(5)
    draws = [math.exp(rng.gauss(dist.mu, dist.sigma)) for _ in range(20_000)]
    polls, lag = _evaluate(OptimalSchedule(dist, cost), draws)
    assert polls * lag <= 1.2 * keller_bound(dist)


def test_a_higher_poll_cost_polls_less_and_later() -> None:
    """
    A poll that costs more seconds of lag makes the schedule poll later and less often.
    """
    dist = Lognormal.from_median(22.0, 0.25)
    cheap, dear = list(OptimalSchedule(dist, 0.5).ages()), list(OptimalSchedule(dist, 5).ages())
    assert cheap[0] < dear[0]
    assert len(cheap) > len(dear)


def test_fitting_interval_observations_recovers_the_distribution() -> None:
    """
    Durations seen only between polls every 3 s (the first at 12 s) are fitted to the
    lognormal they were drawn from: median and sigma within 5 %.
    """
    rng = random.Random(1)
    model = DurationModel(None, 0.0, window=1000)
    for _ in range(800):
        duration = math.exp(rng.gauss(math.log(20.0), 0.3))
        seen = 12.0
        while seen < duration:
            seen += 3.0
        model.observe(0.0 if seen == 12.0 else seen - 3.0, seen)
    fit = model.fit()
    assert fit is not None
    assert 20.0 == pytest.approx(fit.median, rel=0.05)
    assert 0.3 == pytest.approx(fit.sigma, rel=0.05)


def test_a_family_is_learned_after_learn_after_observations() -> None:
    """
    A family has no learned schedule until it was seen finishing ``learn_after`` times.
    """
    durations = Durations(learn_after=3)
    for n in range(3):
        assert durations.schedule("app", 1.0) is None, n
        durations.observe("app", 10.0, 11.0, hint=10.0)
    assert durations.schedule("app", 1.0) is not None


def test_a_family_is_learned_from_whole_cohorts_only() -> None:
    """
    Tasks anchored together teach nothing until their slowest would have finished too
    (the 99.9th percentile of what is known): the first to finish of a burst are its
    quick ones, and learning from them alone would poll the rest too early.
    """
    durations = Durations(learn_after=5)
    for n in range(5):  # the five quick ones of a burst anchored at 0
        durations.observe("app", 3.0 + n * 0.1, 3.5 + n * 0.1, hint=10.0, anchor=0.0)
    early = durations.fitted("app", now=10.0)
    later = durations.fitted("app", now=100.0)
    assert early is None
    assert later is not None


def test_what_was_learned_exports_as_json_and_loads_warm() -> None:
    """
    An export is a small JSON-ready dict; loading it into a fresh store makes the
    family learned at once, with the same fit.
    """
    learned = Durations(learn_after=2)
    for duration in (9.0, 10.0, 11.0, 12.0):
        learned.observe("app", duration - 0.5, duration)
    exported = learned.export()
    fresh = Durations(learn_after=2)
    fresh.load(exported)
    fit, loaded = learned.fitted("app"), fresh.fitted("app")
    assert fit is not None
    assert loaded is not None
    assert {"v", "families"} == set(exported)
    assert fit.mu == pytest.approx(loaded.mu, abs=1e-5)
    assert fit.sigma == pytest.approx(loaded.sigma, abs=1e-5)


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"v": 2, "families": {}},
        {"v": 1, "families": {"a": {"mu": 1.0, "sigma": -1.0, "weight": 1}}},
    ],
)
def test_loading_something_else_raises_value_error(state: dict[str, object]) -> None:
    """
    Loading what is not an export of this version, or has a non-positive sigma, raises
    ``ValueError`` and changes nothing.
    """
    durations = Durations()
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the caller's to show
        durations.load(state)
    assert "a" not in durations


# The scheduler ----------------------------------------------------------------------


async def test_a_task_that_waited_in_the_queue_is_polled_at_a_fresh_pace() -> None:
    """
    A task queued for 200 s and then running 22 s is seen finished within one interval:
    its age counts from the last poll that found it queued, not from its submission.
    """
    server = Server()
    policy = attrs.evolve(EXACT, learn_after=None)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        task_id = server.add("t", 22.0, queued=200.0)
        await _wait_all(scheduler, [client.tasks.track(task_id, app=_app())])

    await _run(server, policy, body)
    lag = server.times("t")[-1] - 222.0
    assert 0 <= lag <= policy.interval


async def test_polls_of_a_queued_task_restart_the_schedule() -> None:
    """
    Each poll that finds the task queued is followed by the first delay again (the
    hinted one), not by the backoff of an old task.
    """
    server = Server()
    policy = attrs.evolve(EXACT, learn_after=None)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        task_id = server.add("t", 22.0, queued=100.0)
        await _wait_all(scheduler, [client.tasks.track(task_id, app=_app())])

    await _run(server, policy, body)
    times = server.times("t")
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    queued_gaps = [gap for gap, at in zip(gaps, times, strict=False) if at < 100.0]
    assert [22.0 * 0.875] * len(queued_gaps) == pytest.approx(queued_gaps)


async def test_a_learned_family_is_polled_by_its_optimal_schedule() -> None:
    """
    Once ``learn_after`` tasks of an app finished, the next task of that app is polled
    at exactly the ages of the optimal schedule for the fitted durations.
    """
    server = Server()
    rng = random.Random(2)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        first = [
            client.tasks.track(server.add(f"w{n}", 22 * math.exp(rng.gauss(0, 0.25))), app=_app())
            for n in range(EXACT.learn_after or 0)
        ]
        await _wait_all(scheduler, first)
        table = scheduler.durations.schedule("app-1", EXACT.poll_cost)
        assert table is not None
        start = anyio.current_time() - server.t0
        await _wait_all(scheduler, [client.tasks.track(server.add("t", 60.0), app=_app())])
        expected = [start + age for age in table.ages() if age <= 60.0]
        expected.append(start + next(age for age in table.ages() if age > 60.0))
        assert expected == pytest.approx(server.times("t"))

    await _run(server, EXACT, body)


async def test_a_learned_schedule_never_polls_before_the_first_delay() -> None:
    """
    A family learned to take 1 s is still first polled 5 s after submission.
    """
    server = Server()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        scheduler.durations.load(
            {"v": 1, "families": {"app-1": {"mu": 0.0, "sigma": 0.2, "weight": 50}}}
        )
        await _wait_all(scheduler, [client.tasks.track(server.add("t", 1.0), app=_app())])

    await _run(server, EXACT, body)
    assert [5.0] == pytest.approx(server.times("t"))


async def test_tasks_without_a_family_teach_nothing() -> None:
    """
    Tasks tracked without an app are polled by the policy's rules and learn nothing.
    """
    server = Server()

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        handles = [client.tasks.track(server.add(f"t{n}", 10.0)) for n in range(10)]
        await _wait_all(scheduler, handles)
        assert {"v": 1, "families": {}} == scheduler.durations.export()

    await _run(server, EXACT, body)


async def test_a_saturated_budget_holds_polls_back_until_it_frees() -> None:
    """
    While the budget is saturated, a learned family's poll waits for the schedule of
    ``busy_poll_cost``; once the budget frees, it goes within a quarter interval.
    """
    server = Server()
    busy = [False]
    policy = attrs.evolve(EXACT, busy_poll_cost=1000.0)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        scheduler.durations.load(
            {"v": 1, "families": {"app-1": {"mu": math.log(20.0), "sigma": 0.25, "weight": 50}}}
        )
        busy[0] = True
        handle = client.tasks.track(server.add("t", 10.0), app=_app())
        async with anyio.create_task_group() as tg:
            tg.start_soon(_wait_all, scheduler, [handle])
            await anyio.sleep(30.0)
            held = list(server.times("t"))
            busy[0] = False
        assert [] == held  # the plain schedule's first poll (about 17 s) was held back

    await _run(server, policy, body, busy=lambda level: busy[0])
    assert 30.0 <= server.times("t")[0] <= 30.0 + policy.interval / 4


async def test_the_first_result_of_a_family_is_not_held_back() -> None:
    """
    Before any task of a family was seen finishing, a saturated budget holds back none
    of its polls: the first result comes as planned.
    """
    server = Server()
    policy = attrs.evolve(EXACT, busy_poll_cost=1000.0)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        await _wait_all(scheduler, [client.tasks.track(server.add("t", 10.0), app=_app(10.0))])

    await _run(server, policy, body, busy=lambda level: True)
    # The rules' schedule for a 10 s hint: 8.75 s, then every 4.75 s.
    assert [8.75, 13.5] == pytest.approx(server.times("t"))


async def test_the_client_learns_per_app_and_exports_it(
    emulator: a1.testing.Emulator,
) -> None:
    """
    Tasks generated through the client teach its scheduler their app's durations, keyed
    by app id; enhances are a family of their own.
    """
    from a1art_async.testing import apps

    async with a1.AsyncClient(
        api_key="test-key-0123456789abcdef", transport=emulator.transport()
    ) as client:
        handles = [
            await client.generate(apps.TEXT, prompt="hills", style="Summer Meadow", aspect="1:1")
            for _ in range(3)
        ]
        for handle in handles:
            await handle.result()
        model = client.durations.model(apps.TEXT)
    assert [apps.TEXT] * 3 == [handle.family for handle in handles]
    assert 3 == model.observed


def test_a_batch_job_resumed_from_its_journal_keeps_its_app_family() -> None:
    """
    A batch job picked up from its journal (submitted in an earlier run) is polled as
    its app's family, like one submitted now.
    """
    from a1art_async._batch import A1ArtJob
    from a1art_async._engine._journal import JobRecord, JobState
    from a1art_async._generation import GenerateArgs

    client = _client()
    job = A1ArtJob(
        "k",
        "app-7",
        GenerateArgs(),
        generator=client._generator,
        tasks=client.tasks,
        language=None,
    )
    record = JobRecord(key="k", state=JobState.SUBMITTED, task_id="t-1", hint=22.0)
    handle = job.resume(record)
    assert ("app-7", "app-7", 22.0) == (handle.family, handle.app_id, handle.hint)


async def test_a_single_wait_is_not_held_back_by_a_saturated_batch() -> None:
    """
    A poll for an interactive wait (``handle.result()``) goes as planned while only bulk
    requests wait for the budget: holding it back would not speed the batch up.
    """
    server = Server()
    policy = attrs.evolve(EXACT, busy_poll_cost=1000.0)

    async def body(scheduler: Scheduler, client: a1.AsyncClient) -> None:
        scheduler.durations.load(
            {"v": 1, "families": {"app-1": {"mu": math.log(20.0), "sigma": 0.25, "weight": 50}}}
        )
        handle = client.tasks.track(server.add("t", 25.0), app=_app())
        await scheduler.wait(handle)

    await _run(server, policy, body, busy=lambda level: level >= a1.Priority.BULK)
    table = OptimalSchedule(Lognormal(math.log(20.0), 0.25), policy.poll_cost)
    assert table.next_age(0.0) == pytest.approx(server.times("t")[0])


async def test_the_limiter_is_busy_for_a_level_when_others_wait_at_or_above_it() -> None:
    """
    A bulk submission waiting for a token makes the budget busy for bulk polls only.
    """
    limiter = a1.AsyncClient(api_key="k", rate_limit=1.0)._session.limiter
    first = await limiter.acquire()  # the only token
    with a1.request_priority(a1.Priority.BULK):
        async with anyio.create_task_group() as tg:
            tg.start_soon(limiter.acquire)
            await anyio.sleep(0.1)
            busy = (limiter.busy(a1.Priority.BULK), limiter.busy(a1.Priority.INTERACTIVE))
            tg.cancel_scope.cancel()
    limiter.accepted(first)
    assert (True, False) == busy
