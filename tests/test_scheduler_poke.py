"""
``Scheduler.poke``: a task polled out of turn (a webhook said it changed), in virtual time
on asyncio and trio, against a scripted engine-level poller.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import anyio
import attrs
import pytest

from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._schedule import PollPolicy
from a1art_async._engine._scheduler import Scheduler

pytestmark = pytest.mark.anyio

#: Unjittered and off the grid: polls at 5, 15, 25, ... s after submission.
POLICY = PollPolicy(jitter=0.0, coalesce=0.0, first_delay=5.0, interval=10.0, steady_for=100.0)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@attrs.define
class Jobs:
    """
    Jobs that finish at set times; every poll recorded as (seconds since start, id).
    """

    t0: float = attrs.Factory(anyio.current_time)
    finish: dict[str, float] = attrs.Factory(dict)
    polls: list[tuple[float, str]] = attrs.Factory(list)
    latency: float = 0.0

    def now(self) -> float:
        return anyio.current_time() - self.t0

    async def fetch(self, handle: JobHandle[str]) -> str:
        # The answer is what the server saw when the poll arrived, however late it returns.
        self.polls.append((round(self.now(), 6), handle.task_id))
        answer = "done" if self.now() >= self.finish[handle.task_id] else "running"
        await anyio.sleep(self.latency)
        return answer

    def status(self, result: str) -> JobStatus:
        return JobStatus.SUCCEEDED if result == "done" else JobStatus.RUNNING

    def state(self, result: str) -> object:
        return result

    def failure(self, handle: JobHandle[str], result: str) -> Exception:
        return RuntimeError(result)

    def times(self, task_id: str) -> list[float]:
        return [when for when, polled in self.polls if polled == task_id]


async def _run(jobs: Jobs, body: Callable[[Scheduler[str]], Awaitable[None]]) -> None:
    scheduler: Scheduler[str] = Scheduler(jobs, POLICY, rng=random.Random(1))
    async with anyio.create_task_group() as group:
        await group.start(scheduler.run)
        await body(scheduler)
        scheduler.stop()


async def test_a_poke_polls_the_task_now_and_keeps_its_schedule() -> None:
    """
    A poke at 8 s polls at once and ends the wait if the task is done; a poke of a task
    still running polls at once and leaves its scheduled polls as they were.
    """
    jobs = Jobs()
    jobs.finish = {"a": 7.0, "b": 100.0}

    async def body(scheduler: Scheduler[str]) -> None:
        a, b = JobHandle(scheduler, "a"), JobHandle(scheduler, "b")
        ended: list[float] = []

        async def wait_a() -> None:
            await a.wait()
            ended.append(jobs.now())

        async with anyio.create_task_group() as group:
            group.start_soon(wait_a)
            group.start_soon(b.wait)
            await anyio.sleep(8.0)
            scheduler.poke("a")
            scheduler.poke("b")
            await anyio.sleep(20.0)
            group.cancel_scope.cancel()
        assert [8.0] == ended

    await _run(jobs, body)
    assert [5.0, 8.0] == jobs.times("a")
    assert [5.0, 8.0, 15.0, 25.0] == jobs.times("b")


async def test_a_poke_of_an_unknown_or_unwatched_task_sends_nothing() -> None:
    """
    Poking an id nobody waits for is a no-op: no poll, no error.
    """
    jobs = Jobs()
    jobs.finish = {"a": 3.0}

    async def body(scheduler: Scheduler[str]) -> None:
        scheduler.poke("nobody")
        handle = JobHandle(scheduler, "a")
        assert "done" == await handle.wait()
        scheduler.poke("a")  # ended: nobody waits any more
        await anyio.sleep(30.0)

    await _run(jobs, body)
    assert [(5.0, "a")] == jobs.polls


async def test_a_poke_during_a_poll_brings_one_more_poll_right_after_it() -> None:
    """
    A poke that arrives while the task's poll is in flight (whose answer may predate the
    news) polls again as soon as that poll is answered; repeated pokes merge into one.
    """
    jobs = Jobs(latency=1.0)
    jobs.finish = {"a": 5.5}

    async def body(scheduler: Scheduler[str]) -> None:
        handle = JobHandle(scheduler, "a")
        async with anyio.create_task_group() as group:
            group.start_soon(handle.wait)
            await anyio.sleep(5.5)  # the 5 s poll is out until 6 s
            for _ in range(3):
                scheduler.poke("a")
            await anyio.sleep(10.0)
            assert handle.done

    await _run(jobs, body)
    assert [5.0, 6.0] == jobs.times("a")


async def test_a_task_ended_by_a_poke_can_be_waited_for_again() -> None:
    """
    After a poked poll ends a task whose scheduled poll was still queued, a new wait for
    the same id is served by a fresh schedule, not dropped with the stale one.
    """
    jobs = Jobs()
    jobs.finish = {"a": 2.0}

    async def body(scheduler: Scheduler[str]) -> None:
        first = JobHandle(scheduler, "a")
        async with anyio.create_task_group() as group:
            group.start_soon(first.wait)
            await anyio.sleep(3.0)
            scheduler.poke("a")
        second = JobHandle(scheduler, "a")
        assert "done" == await second.wait()

    await _run(jobs, body)
    assert [3.0, 8.0] == jobs.times("a")
