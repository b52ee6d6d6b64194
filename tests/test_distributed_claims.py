"""
The engine's claim against a shared journal store, on both backends: a cancellation
that lands while the claim is on its way leaves the job pending, never submitting.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import anyio
import httpx
import pytest

from a1art_async import JobRecord, JobState, RetryPolicy
from a1art_async._engine._batch import Batch
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._events import Listeners
from a1art_async._engine._handles import JobHandle


class SlowStore:
    """
    A shared store whose writes are stored at once but answered after a round trip.
    """

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        self.claiming = anyio.Event()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def fetch(self, keys: Sequence[str]) -> dict[str, JobRecord]:
        return {key: self.records[key] for key in keys if key in self.records}

    async def transition(self, record: JobRecord, expect: Collection[JobState | None]) -> bool:
        current = self.records.get(record.key)
        if (None if current is None else current.state) not in expect:
            return False
        self.records[record.key] = record
        if record.state is JobState.SUBMITTING:
            self.claiming.set()
            await anyio.sleep(0.05)  # the answer's way back
        return True


class PaidJob:
    key = "job"
    sent = 0

    async def check(self) -> CostEstimate:
        return CostEstimate.exactly(1)

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: Any) -> JobHandle[Any]:
        await guard.sending()
        self.sent += 1
        raise AssertionError("cancelled before sending; never here")

    def resume(self, record: JobRecord) -> JobHandle[Any]:
        raise NotImplementedError

    def files(self, result: Any) -> Sequence[Any]:
        return ()


@pytest.mark.anyio
async def test_a_claim_cancelled_on_its_way_leaves_the_job_pending() -> None:
    """
    Cancelling a batch while a job's claim is being stored puts the job back to
    pending, and its paid request is never sent.
    """
    store = SlowStore()
    job = PaidJob()
    async with httpx.AsyncClient() as http:
        with anyio.move_on_after(5):
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    batch = Batch(
                        http=http, retry=RetryPolicy(), listeners=Listeners(), journal=store
                    )
                    async with batch:
                        batch.add_job(job)
                        async for _ in batch:
                            pass

                group.start_soon(run)
                await store.claiming.wait()
                group.cancel_scope.cancel()
    assert (JobState.PENDING, 0) == (store.records["job"].state, job.sent)
