"""
A batch stopped (cancelled, as Ctrl-C stops ``a1art batch``) at the moment a job's
submission is being journaled, on asyncio and trio.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.from_thread
import attrs
import httpx
import pytest

from a1art_async._engine._batch import Batch, ResultFile
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._events import Listeners
from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._journal import JobRecord, JobState
from a1art_async._engine._retry import RetryPolicy, SpendGuard
from a1art_async._engine._schedule import PollPolicy
from a1art_async._engine._scheduler import Scheduler

pytestmark = pytest.mark.anyio


class Running:
    """
    A poller whose tasks never end.
    """

    async def fetch(self, handle: JobHandle[str]) -> str:
        return "running"

    def status(self, result: str) -> JobStatus:
        return JobStatus.RUNNING

    def state(self, result: str) -> object:
        return result

    def failure(self, handle: JobHandle[str], result: str) -> Exception:
        raise AssertionError("never fails")


@attrs.define
class TaskJob:
    """
    A job whose paid request creates a task to wait for.
    """

    key: str
    scheduler: Scheduler[str]

    async def check(self) -> CostEstimate:
        return CostEstimate.exactly(1)

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: SpendGuard) -> JobHandle[str]:
        await guard.sending()
        return JobHandle(self.scheduler, f"id-{self.key}")

    def resume(self, record: JobRecord) -> JobHandle[str]:
        raise AssertionError("nothing to resume")

    def files(self, result: Any) -> Sequence[ResultFile]:
        return []


class StoppingJournal:
    """
    A journal written in a worker thread, as SQLite is, that stops the batch's caller
    once it has recorded a job as submitted (the write itself completes).
    """

    def __init__(self, scope: anyio.CancelScope) -> None:
        self.scope = scope
        self.records: dict[str, JobRecord] = {}

    def load(self) -> dict[str, JobRecord]:
        return dict(self.records)

    def put(self, record: JobRecord) -> None:
        self.records[record.key] = record
        if record.state is JobState.SUBMITTED:
            anyio.from_thread.run_sync(self.scope.cancel)

    def close(self) -> None:
        pass


async def test_a_batch_stopped_while_journaling_a_submission_stops_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """
    Stopping a batch while it journals a job as submitted leaves the job submitted in
    the journal (the next run polls it) and logs no error.
    """
    scheduler: Scheduler[str] = Scheduler(Running(), PollPolicy(), rng=random.Random(0))
    # Everything is stopped at once, the scheduler too, as Ctrl-C stops the command.
    with anyio.CancelScope() as scope, anyio.fail_after(10):
        async with httpx.AsyncClient() as http, anyio.create_task_group() as group:
            await group.start(scheduler.run)
            journal = StoppingJournal(scope)
            batch = Batch(http=http, retry=RetryPolicy(), listeners=Listeners(), journal=journal)
            async with batch:
                batch.add_job(TaskJob("one", scheduler))
                async for _ in batch:
                    raise AssertionError("the task never ends")
            scheduler.stop()
    assert scope.cancelled_caught
    assert JobState.SUBMITTED == journal.records["one"].state
    assert [] == [
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    ]
