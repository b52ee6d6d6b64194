"""
The client's request budget against the emulator's rate limit (a token bucket per key,
code 20000 over it), in virtual time on asyncio and trio: it converges near the limit,
backs off when the limit drops, grows when it rises, and serves interactive work first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio
import pytest

import a1art_async as a1
from a1art_async._engine._schedule import first_delay
from a1art_async.testing import Emulator, JournalEntry, apps

pytestmark = pytest.mark.anyio

KEY = "limiter-key"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key=KEY, balance=100_000, seed=1)


def _client(emulator: Emulator, **kwargs: object) -> a1.AsyncClient:
    return a1.AsyncClient(
        api_key=KEY,
        transport=emulator.transport(),
        retry=a1.RetryPolicy(max_retries=3, initial=0.1, cap=1.0),
        **kwargs,  # type: ignore[arg-type]
    )


def _window(journal: list[JournalEntry], start: float, end: float) -> Iterator[JournalEntry]:
    return (entry for entry in journal if start <= entry.time < end)


def accepted_rate(journal: list[JournalEntry], start: float, end: float) -> float:
    """
    Requests per second the server processed in ``[start, end)``.
    """
    return sum(e.outcome == "ok" for e in _window(journal, start, end)) / (end - start)


def refused(journal: list[JournalEntry], start: float, end: float) -> int:
    return sum(e.outcome == "rate_limited" for e in _window(journal, start, end))


async def _saturate(client: a1.AsyncClient, workers: int = 40) -> None:
    """
    Workers that ask for app details back to back until cancelled: demand far above
    any limit in these tests.
    """

    async def worker() -> None:
        while True:
            with contextlib.suppress(a1.RateLimitError):  # retries used up: start afresh
                await client.apps.get(apps.FORM)

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)


@pytest.mark.parametrize("limit", [5.0, 20.0, 40.0])
async def test_the_client_converges_near_the_limit_and_stays_there(
    emulator: Emulator, limit: float
) -> None:
    """
    Against a limit of R requests/s, a saturated client runs at 0.9-1.1 R from 10 s on,
    with about 2 % of its requests refused at most (one per sawtooth cycle of ~12 s).
    """
    emulator.faults.rate_limit = limit
    t0 = anyio.current_time()
    async with _client(emulator) as client, anyio.create_task_group() as tg:
        tg.start_soon(_saturate, client)
        await anyio.sleep(60)
        tg.cancel_scope.cancel()
    journal = emulator.journal
    for start in (t0 + 10, t0 + 35):
        assert 0.9 * limit <= accepted_rate(journal, start, start + 25) <= 1.1 * limit
    total = sum(1 for _ in _window(journal, t0 + 10, t0 + 60))
    assert refused(journal, t0 + 10, t0 + 60) <= 0.025 * total


async def test_the_client_backs_off_within_a_few_round_trips_when_the_limit_drops(
    emulator: Emulator,
) -> None:
    """
    When the limit falls from 40 to 10 requests/s, at most a few requests are refused
    before the client's rate is below it, and it then runs near the new limit.
    """
    emulator.faults.rate_limit = 40.0
    t0 = anyio.current_time()
    async with _client(emulator) as client, anyio.create_task_group() as tg:
        tg.start_soon(_saturate, client)
        await anyio.sleep(30)
        emulator.faults.rate_limit = 10.0
        decreases = client._session.limiter.decreases
        for _ in range(500):  # 5 s at most
            if client._session.limiter.rate <= 10.0:
                break
            await anyio.sleep(0.01)
        assert client._session.limiter.rate <= 10.0
        # Each decrease is one round trip: 0.7 ** 4 * 40 < 10.
        assert client._session.limiter.decreases - decreases <= 5
        await anyio.sleep(30)
        tg.cancel_scope.cancel()
    journal = emulator.journal
    assert 0.9 * 10 <= accepted_rate(journal, t0 + 40, t0 + 60) <= 1.1 * 10
    assert refused(journal, t0 + 30, t0 + 32) <= 8


async def test_the_client_grows_again_when_the_limit_rises(emulator: Emulator) -> None:
    """
    When the limit rises from 10 to 40 requests/s, the client reaches 0.9 of the new
    limit within 30 s.
    """
    emulator.faults.rate_limit = 10.0
    t0 = anyio.current_time()
    async with _client(emulator) as client, anyio.create_task_group() as tg:
        tg.start_soon(_saturate, client)
        await anyio.sleep(30)
        emulator.faults.rate_limit = 40.0
        await anyio.sleep(60)
        tg.cancel_scope.cancel()
    assert 0.9 * 40 <= accepted_rate(emulator.journal, t0 + 60, t0 + 90) <= 1.1 * 40


async def test_http_429_retry_after_pauses_every_request(emulator: Emulator) -> None:
    """
    After an HTTP 429 with ``Retry-After``, no request of the client reaches the server
    until that time has passed.
    """
    emulator.faults.rate_limit = 10.0
    emulator.faults.rate_limit_http_429 = True
    t0 = anyio.current_time()
    async with _client(emulator) as client, anyio.create_task_group() as tg:
        tg.start_soon(_saturate, client)
        await anyio.sleep(20)
        tg.cancel_scope.cancel()
    journal = [entry for entry in emulator.journal if entry.time >= t0]
    limited = [entry for entry in journal if entry.status == 429]
    assert limited
    first = limited[0]
    after = [entry.time for entry in journal if entry.time > first.time]
    assert min(after) - first.time >= 1.0 - 1e-6
    # Few refusals: each one pauses the whole client, and the rate falls below the limit.
    assert len(limited) <= 0.05 * len(journal)


async def test_a_ceiling_is_never_exceeded(emulator: Emulator) -> None:
    """
    ``rate_limit=8`` keeps the client at or under 8 requests/s, with no refusals, where
    the server would allow 50.
    """
    emulator.faults.rate_limit = 50.0
    t0 = anyio.current_time()
    async with _client(emulator, rate_limit=8) as client, anyio.create_task_group() as tg:
        tg.start_soon(_saturate, client)
        await anyio.sleep(20)
        tg.cancel_scope.cancel()
    journal = emulator.journal
    assert 0 == refused(journal, t0, t0 + 20)
    assert 7.5 <= accepted_rate(journal, t0 + 2, t0 + 20) <= 8.0


async def test_an_interactive_wait_is_served_while_a_batch_of_polls_waits(
    emulator: Emulator,
) -> None:
    """
    With the client held to 5 requests/s and 300 tasks in an ``as_completed`` stream,
    a web request's submission and its ``wait`` each go before the stream's backlog:
    the wait ends within one poll of its task finishing.
    """
    # The scheduler may start every due poll (max_concurrent): the order is the limiter's.
    policy = a1.PollPolicy(first_delay=1.0, interval=1.0, jitter=0.0, max_concurrent=1000)
    budget = a1.RateLimit(ceiling=5.0, burst=0.2, adaptive=False)
    async with _client(emulator, rate_limit=budget, poll_policy=policy) as client:
        app = await client.apps.get(apps.TEXT)
        request = a1.GenerateRequest(
            app_id=app.id,
            version_id=app.version_id,
            description=[a1.DescriptionPart(app.forms_of(a1.FormType.DESCRIPTION)[0].id, "a")],
            style_id=app.styles[0].id,
            size=a1.Size.SQUARE_1_1,
        )
        handles = [await client.images.submit(request, app=app) for _ in range(300)]
        done: list[float] = []

        async def batch() -> None:
            async with client.tasks.as_completed(handles) as results:
                async for _ in results:
                    done.append(anyio.current_time())

        async with anyio.create_task_group() as tg:
            tg.start_soon(batch)
            await anyio.sleep(20)  # the stream's first polls now queue for the budget
            backlog = client._session.limiter.waiting
            started = anyio.current_time()
            mine = await client.images.submit(request, app=app)
            submitted = anyio.current_time()
            task = await client.tasks.wait(mine)
            finished = anyio.current_time()
            due = emulator.complete_at(mine.task_id)
            tg.cancel_scope.cancel()
    assert a1.TaskState.COMPLETED == task.state
    assert backlog >= 100
    assert submitted - started <= 0.2 + 1e-6  # the next token
    # Polled on schedule, each poll sent with the next token: at most one poll late.
    first = submitted + first_delay(policy, app.process_time, jitter=0.0)
    assert finished - max(first, due) <= policy.interval + 0.2 + 1e-6
    assert len(done) < len(handles)  # the stream was still waiting
