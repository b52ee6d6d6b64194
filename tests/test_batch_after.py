"""
Batch jobs that run after another job of the batch (``after`` / ``follow``), against
engine-level jobs whose answers are their results, on asyncio and trio.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async._engine._batch import (
    Batch,
    BatchOutcome,
    PrerequisiteFailedError,
    PrerequisitePendingError,
    ResultFile,
)
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._events import Listeners
from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._journal import JobRecord, JobState, MemoryJournal
from a1art_async._engine._retry import RetryPolicy, SpendGuard
from a1art_async._engine._schedule import PollPolicy
from a1art_async._engine._scheduler import Scheduler

pytestmark = pytest.mark.anyio


class Done:
    """
    A poller for records that are final when they are made.
    """

    async def fetch(self, handle: JobHandle[str]) -> str:
        raise AssertionError("never polled")

    def status(self, result: str) -> JobStatus:
        return JobStatus.FAILED if result.startswith("failed") else JobStatus.SUCCEEDED

    def state(self, result: str) -> object:
        return result

    def failure(self, handle: JobHandle[str], result: str) -> Exception:
        from a1art_async._engine._errors import TaskFailedError

        return TaskFailedError(result, task_id=handle.task_id)


@attrs.define
class FakeJob:
    key: str
    scheduler: Scheduler[str]
    order: list[str]
    fail: bool = False
    after: str | None = None
    followed: BatchOutcome | None = None

    async def check(self) -> CostEstimate:
        return CostEstimate.exactly(1)

    async def prepare(self) -> None:
        await anyio.sleep(0.01)

    async def submit(self, guard: SpendGuard) -> JobHandle[str]:
        await guard.sending()
        self.order.append(self.key)
        parent = "" if self.followed is None else f"<{self.followed.task_id}"
        result = ("failed " if self.fail else "") + self.key + parent
        return JobHandle(self.scheduler, f"id-{self.key}", result=result)

    def resume(self, record: JobRecord) -> JobHandle[str]:
        raise AssertionError("nothing to resume")

    def files(self, result: Any) -> Sequence[ResultFile]:
        return []

    def follow(self, outcome: BatchOutcome) -> None:
        self.followed = outcome


async def _run(
    make: Any, *, concurrency: int = 1, journal: MemoryJournal | SharedMemory | None = None
) -> list[BatchOutcome]:
    scheduler: Scheduler[str] = Scheduler(Done(), PollPolicy(), rng=random.Random(0))
    outcomes: list[BatchOutcome] = []
    async with httpx.AsyncClient() as http, anyio.create_task_group() as group:
        await group.start(scheduler.run)
        batch = Batch(
            http=http,
            retry=RetryPolicy(),
            listeners=Listeners(),
            concurrency=concurrency,
            journal=journal,
        )
        with anyio.fail_after(10):
            async with batch:
                for job in make(scheduler):
                    batch.add_job(job)
                outcomes = [outcome async for outcome in batch]
        scheduler.stop()
    return outcomes


async def test_a_job_added_before_the_one_it_follows_still_runs_with_one_worker() -> None:
    """
    With one worker and the dependent job queued first, the other job runs first and the
    dependent one then runs with its outcome: it never holds the only slot while it waits.
    """
    order: list[str] = []
    jobs: dict[str, FakeJob] = {}

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        jobs["child"] = FakeJob("child", scheduler, order, after="parent")
        jobs["parent"] = FakeJob("parent", scheduler, order)
        return [jobs["child"], jobs["parent"]]

    outcomes = await _run(make)
    assert ["parent", "child"] == order
    assert [("parent", JobState.DONE), ("child", JobState.DONE)] == [
        (o.key, o.state) for o in outcomes
    ]
    followed = jobs["child"].followed
    assert followed is not None
    assert "id-parent" == followed.task_id
    assert "child<id-parent" == outcomes[1].task


async def test_a_job_after_a_failed_one_fails_unpaid_and_stays_pending() -> None:
    """
    When the job it runs after fails, the dependent job is not submitted: it ends failed
    with PrerequisiteFailedError and its journal record stays pending.
    """
    order: list[str] = []
    journal = MemoryJournal()

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        return [
            FakeJob("parent", scheduler, order, fail=True),
            FakeJob("child", scheduler, order, after="parent"),
        ]

    outcomes = {o.key: o for o in await _run(make, journal=journal)}
    assert ["parent"] == order
    assert JobState.FAILED == outcomes["child"].state
    assert isinstance(outcomes["child"].error, PrerequisiteFailedError)
    assert JobState.PENDING == journal.load()["child"].state


async def test_a_job_after_a_key_never_added_fails_instead_of_waiting_forever() -> None:
    """
    A job held for a key that no job of the batch has ends failed once nothing else can
    run, so iterating the batch ends.
    """
    order: list[str] = []

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        return [
            FakeJob("one", scheduler, order),
            FakeJob("child", scheduler, order, after="missing"),
        ]

    outcomes = {o.key: o for o in await _run(make, concurrency=2)}
    assert JobState.DONE == outcomes["one"].state
    error = outcomes["child"].error
    assert isinstance(error, PrerequisiteFailedError)
    assert "was never added" in str(error)


async def test_a_job_done_in_an_earlier_run_does_not_wait() -> None:
    """
    A dependent job whose journal says it is done is reported from the journal without
    waiting for the job it runs after.
    """
    order: list[str] = []
    journal = MemoryJournal()
    journal.put(JobRecord("child", JobState.DONE, task_id="id-child", cost=1))

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        return [FakeJob("child", scheduler, order, after="missing")]

    outcomes = await _run(make, journal=journal)
    assert [("child", JobState.DONE, True)] == [(o.key, o.state, o.from_journal) for o in outcomes]
    assert [] == order


class SharedMemory:
    """
    A journal shared by several processes, in memory: read by key, written by
    compare-and-set (the others' writes are made by the test).
    """

    def __init__(self, *records: JobRecord) -> None:
        self.records = {record.key: record for record in records}

    async def open(self) -> None:
        pass

    async def fetch(self, keys: Sequence[str]) -> dict[str, JobRecord]:
        return {key: self.records[key] for key in keys if key in self.records}

    async def transition(self, record: JobRecord, expect: Collection[JobState | None]) -> bool:
        current = self.records.get(record.key)
        if (None if current is None else current.state) not in expect:
            return False
        self.records[record.key] = record
        return True

    async def close(self) -> None:
        pass


async def test_a_job_alone_after_a_key_never_added_ends_while_the_batch_is_iterated() -> None:
    """
    A batch whose only job is held for a key no job has ends that job failed even when
    the caller was already waiting for an outcome as the job became held.
    """
    order: list[str] = []

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        return [FakeJob("child", scheduler, order, after="missing")]

    outcomes = await _run(make)
    assert [("child", JobState.FAILED)] == [(o.key, o.state) for o in outcomes]
    assert "was never added" in str(outcomes[0].error)
    assert [] == order


async def test_a_job_after_one_done_in_an_earlier_run_follows_its_journal_record() -> None:
    """
    A dependent job whose prerequisite is not in the batch but is done in the journal
    runs with that record's task id, as if the prerequisite had ended in this batch.
    """
    order: list[str] = []
    journal = MemoryJournal()
    journal.put(JobRecord("parent", JobState.DONE, task_id="id-parent", cost=1))
    jobs: dict[str, FakeJob] = {}

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        jobs["child"] = FakeJob("child", scheduler, order, after="parent")
        return [jobs["child"]]

    outcomes = await _run(make, journal=journal)
    assert [("child", JobState.DONE, "child<id-parent")] == [
        (o.key, o.state, o.task) for o in outcomes
    ]
    followed = jobs["child"].followed
    assert followed is not None
    assert (True, "id-parent") == (followed.from_journal, followed.task_id)


async def test_a_job_after_one_still_running_elsewhere_stays_pending_for_a_later_run() -> None:
    """
    With a shared journal in which another process has the prerequisite submitted, the
    dependent job sends nothing, ends PrerequisitePendingError, and stays pending.
    """
    order: list[str] = []
    shared = SharedMemory(JobRecord("parent", JobState.SUBMITTED, task_id="id-parent", cost=1))

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        return [FakeJob("child", scheduler, order, after="parent")]

    outcomes = await _run(make, journal=shared)
    assert [("child", JobState.FAILED)] == [(o.key, o.state) for o in outcomes]
    assert isinstance(outcomes[0].error, PrerequisitePendingError)
    assert "has not ended yet" in str(outcomes[0].error)
    assert JobState.PENDING == shared.records["child"].state
    assert [] == order


async def test_a_job_after_one_failed_in_an_earlier_run_fails_unpaid() -> None:
    """
    A dependent job whose prerequisite is not in the batch and failed in the journal is
    not submitted: it ends PrerequisiteFailedError (not pending elsewhere) and stays
    pending.
    """
    order: list[str] = []
    journal = MemoryJournal()
    journal.put(JobRecord("parent", JobState.FAILED, task_id="id-parent", error="boom"))

    def make(scheduler: Scheduler[str]) -> list[FakeJob]:
        return [FakeJob("child", scheduler, order, after="parent")]

    outcomes = await _run(make, journal=journal)
    error = outcomes[0].error
    assert (PrerequisiteFailedError, "ended failed") == (
        type(error),
        str(error).rsplit("which ", 1)[-1],
    )
    assert JobState.PENDING == journal.load()["child"].state
    assert [] == order
