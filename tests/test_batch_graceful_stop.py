"""
``Batch.stop()`` and ``Batch.abandon()``: stopping a batch without losing what was paid
for, against engine-level jobs in virtual time, on asyncio and trio.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async._engine._batch import Batch, BatchOutcome, ResultFile
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._errors import TaskFailedError
from a1art_async._engine._events import Listeners
from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._journal import JobRecord, JobState, MemoryJournal
from a1art_async._engine._retry import RetryPolicy, SpendGuard
from a1art_async._engine._schedule import PollPolicy
from a1art_async._engine._scheduler import Scheduler

pytestmark = pytest.mark.anyio

#: Seconds a synchronous answer takes (the request is in flight all that time).
ANSWER = 30.0
#: Seconds an upload takes before a job's paid request.
UPLOAD = 20.0


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


class Tasks:
    """
    A poller: a task id starting with ``never`` never ends; others succeed when polled.
    """

    async def fetch(self, handle: JobHandle[str]) -> str:
        return "running" if handle.task_id.startswith("never") else "done"

    def status(self, result: str) -> JobStatus:
        return JobStatus.RUNNING if result == "running" else JobStatus.SUCCEEDED

    def state(self, result: str) -> object:
        return result

    def failure(self, handle: JobHandle[str], result: str) -> Exception:
        return TaskFailedError(result, task_id=handle.task_id)


@attrs.define
class Api:
    """
    What the jobs' paid requests did: the keys of those that reached the server.
    """

    paid: list[str] = attrs.Factory(list)


@attrs.define
class Job:
    """
    A job whose paid request answers with the result after *answer* seconds (a
    synchronous model) or with a task at once, after an upload of *upload* seconds.
    """

    key: str
    scheduler: Scheduler[str]
    api: Api
    answer: float | None = None
    upload: float = 0.0
    task: str | None = None

    async def check(self) -> CostEstimate:
        return CostEstimate.exactly(1)

    async def prepare(self) -> None:
        await anyio.sleep(self.upload)

    async def submit(self, guard: SpendGuard) -> JobHandle[str]:
        await guard.sending()
        self.api.paid.append(self.key)
        if self.answer is None:
            return JobHandle(self.scheduler, self.task or f"id-{self.key}")
        await anyio.sleep(self.answer)
        return JobHandle(self.scheduler, f"id-{self.key}", result="done")

    def resume(self, record: JobRecord) -> JobHandle[str]:
        assert record.task_id is not None
        return JobHandle(self.scheduler, record.task_id)

    def files(self, result: Any) -> Sequence[ResultFile]:
        return [ResultFile(data=self.key.encode(), content_type="image/png")]


@attrs.define
class Run:
    outcomes: list[BatchOutcome]
    took: float


async def _run(
    jobs: Any,
    journal: MemoryJournal,
    *,
    concurrency: int = 3,
    stop_at: float | None = None,
    abandon_at: float | None = None,
    cancel_at: float | None = None,
) -> Run:
    """
    Run the jobs *jobs(scheduler)* makes as one batch; stop, abandon or cancel it at
    the given times.
    """
    scheduler: Scheduler[str] = Scheduler(Tasks(), PollPolicy(), rng=random.Random(0))
    outcomes: list[BatchOutcome] = []
    start = anyio.current_time()
    async with httpx.AsyncClient() as http, anyio.create_task_group() as group:
        await group.start(scheduler.run)
        batch = Batch(
            http=http,
            retry=RetryPolicy(),
            listeners=Listeners(),
            concurrency=concurrency,
            journal=journal,
        )

        async def at(when: float | None, act: Any) -> None:
            if when is not None:
                await anyio.sleep(when)
                act()

        with anyio.fail_after(600), anyio.CancelScope() as scope:
            async with batch, anyio.create_task_group() as timers:
                for job in jobs(scheduler):
                    batch.add_job(job)
                timers.start_soon(at, stop_at, batch.stop)
                timers.start_soon(at, abandon_at, batch.abandon)
                timers.start_soon(at, cancel_at, scope.cancel)
                outcomes = [outcome async for outcome in batch]
                timers.cancel_scope.cancel()
        scheduler.stop()
    return Run(outcomes, anyio.current_time() - start)


def _states(journal: MemoryJournal) -> dict[str, JobState]:
    return {key: record.state for key, record in journal.load().items()}


async def test_stop_waits_for_a_paid_answer_and_sends_nothing_more() -> None:
    """
    Stopped while one job's synchronous answer is on its way, one job uploads and one
    waits for a worker, the batch journals the answer when it comes and sends nothing
    more; the next run pays only for the two jobs that were never sent.
    """
    api = Api()
    journal = MemoryJournal()

    def jobs(scheduler: Scheduler[str], upload: float = UPLOAD) -> list[Job]:
        return [
            Job("answer", scheduler, api, answer=ANSWER),
            Job("upload", scheduler, api, upload=upload),
            Job("queued", scheduler, api),
        ]

    stopped = await _run(jobs, journal, concurrency=2, stop_at=5.0)
    assert (["answer"], []) == (api.paid, stopped.outcomes)
    assert ANSWER == pytest.approx(stopped.took, abs=1.0)
    assert {"answer": JobState.ANSWERED} == _states(journal)
    assert ("data:image/png;base64,YW5zd2Vy",) == journal.load()["answer"].files

    again = await _run(lambda scheduler: jobs(scheduler, 0.0), journal, concurrency=2)
    assert ["answer", "upload", "queued"] == api.paid
    assert {"answer", "upload", "queued"} == {outcome.key for outcome in again.outcomes}
    assert {JobState.DONE} == set(_states(journal).values())


async def test_abandon_gives_up_a_paid_answer_and_the_next_run_says_unknown() -> None:
    """
    Abandoning a stopping batch ends it at once; the job whose answer was on its way
    stays submitting, and the next run reports it unknown without paying again.
    """
    api = Api()
    journal = MemoryJournal()

    def jobs(scheduler: Scheduler[str]) -> list[Job]:
        return [Job("answer", scheduler, api, answer=ANSWER)]

    abandoned = await _run(jobs, journal, stop_at=5.0, abandon_at=10.0)
    assert 10.0 == pytest.approx(abandoned.took, abs=1.0)
    assert {"answer": JobState.SUBMITTING} == _states(journal)
    again = await _run(jobs, journal)
    assert [("answer", JobState.UNKNOWN)] == [(o.key, o.state) for o in again.outcomes]
    assert ["answer"] == api.paid


async def test_a_cancelled_batch_does_not_wait_for_a_paid_answer() -> None:
    """
    Cancelling the batch's scope (without stop) ends it at once: the answer on its way
    is cut off and the job stays submitting, as before stop existed.
    """
    api = Api()
    journal = MemoryJournal()

    def jobs(scheduler: Scheduler[str]) -> list[Job]:
        return [Job("answer", scheduler, api, answer=ANSWER)]

    cancelled = await _run(jobs, journal, cancel_at=5.0)
    assert 5.0 == pytest.approx(cancelled.took, abs=1.0)
    assert {"answer": JobState.SUBMITTING} == _states(journal)


async def test_outcomes_before_a_stop_are_still_yielded() -> None:
    """
    Jobs that ended before the stop are yielded; the iteration then ends without the
    job whose task is still running (it stays submitted), and no job is added after.
    """
    api = Api()
    journal = MemoryJournal()
    scheduler: Scheduler[str] = Scheduler(Tasks(), PollPolicy(), rng=random.Random(0))
    keys: list[str] = []
    async with httpx.AsyncClient() as http, anyio.create_task_group() as group:
        await group.start(scheduler.run)
        batch = Batch(http=http, retry=RetryPolicy(), listeners=Listeners(), journal=journal)
        with anyio.fail_after(600):
            async with batch:
                batch.add_job(Job("quick", scheduler, api))
                batch.add_job(Job("slow", scheduler, api, task="never-2"))
                async for outcome in batch:
                    keys.append(outcome.key)
                    batch.stop()
                with pytest.raises(RuntimeError, match="stopped"):
                    batch.add_job(Job("late", scheduler, api))
        scheduler.stop()
    assert (["quick"], True) == (keys, batch.stopping)
    assert {"quick": JobState.DONE, "slow": JobState.SUBMITTED} == _states(journal)
