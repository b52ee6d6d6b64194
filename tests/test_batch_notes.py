"""
What the scheduler learned of task durations, kept with a batch's journal: the next run
of the batch polls by it from the start.  Engine batches over engine-level jobs, and the
a1.art client's batch, in virtual time on asyncio and trio.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async import AsyncClient
from a1art_async._engine._batch import Batch, ResultFile
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._events import Listeners
from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._journal import JobRecord, MemoryJournal, SQLiteJournal
from a1art_async._engine._learn import Durations
from a1art_async._engine._retry import RetryPolicy, SpendGuard
from a1art_async._engine._schedule import PollPolicy
from a1art_async._engine._scheduler import Scheduler

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


def _learned(**families: tuple[float, float]) -> dict[str, Any]:
    return {
        "v": 1,
        "families": {
            name: {"mu": mu, "sigma": sigma, "weight": 50.0}
            for name, (mu, sigma) in families.items()
        },
    }


def _fits(durations: Durations) -> dict[str, tuple[float, float]]:
    return {
        name: (entry["mu"], entry["sigma"])
        for name, entry in durations.export()["families"].items()
    }


class Done:
    """
    A poller for records that are final when they are made.
    """

    async def fetch(self, handle: JobHandle[str]) -> str:
        raise AssertionError("never polled")

    def status(self, result: str) -> JobStatus:
        return JobStatus.SUCCEEDED

    def state(self, result: str) -> object:
        return result

    def failure(self, handle: JobHandle[str], result: str) -> Exception:
        raise AssertionError("never fails")


@attrs.define
class Job:
    """
    A job answered with its result *delay* seconds after it was sent.
    """

    key: str
    scheduler: Scheduler[str]
    delay: float = 0.0

    async def check(self) -> CostEstimate:
        return CostEstimate.exactly(1)

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: SpendGuard) -> JobHandle[str]:
        await guard.sending()
        await anyio.sleep(self.delay)
        return JobHandle(self.scheduler, f"id-{self.key}", result="done")

    def resume(self, record: JobRecord) -> JobHandle[str]:
        raise AssertionError("nothing to resume")

    def files(self, result: Any) -> Sequence[ResultFile]:
        return []


async def _run(
    store: Any, durations: Durations, jobs: Sequence[float] = (), *, watch: Any = None
) -> None:
    """
    A batch over *store* with one job per delay in *jobs*; *watch(outcome)* is called
    with each outcome, inside the batch.
    """
    scheduler: Scheduler[str] = Scheduler(Done(), PollPolicy(), rng=random.Random(0))
    async with httpx.AsyncClient() as http, anyio.create_task_group() as group:
        await group.start(scheduler.run)
        batch = Batch(
            http=http,
            retry=RetryPolicy(),
            listeners=Listeners(),
            durations={"api": durations},
            journal=store,
        )
        async with batch:
            for index, delay in enumerate(jobs):
                batch.add_job(Job(f"job-{index}", scheduler, delay))
            async for outcome in batch:
                if watch is not None:
                    watch(outcome)
        scheduler.stop()


async def test_the_next_run_starts_from_what_the_last_one_learned(tmp_path: Path) -> None:
    """
    What a run's client learned is noted in the SQLite journal, and a fresh client's
    next run of the batch knows it as soon as the batch opens.
    """
    path = tmp_path / "run.sqlite"
    first = Durations()
    first.load(_learned(app=(2.0, 0.4)))
    await _run(SQLiteJournal(path), first, [0.0])

    second = Durations()
    seen: dict[str, tuple[float, float]] = {}
    await _run(SQLiteJournal(path), second, [0.0], watch=lambda _: seen.update(_fits(second)))
    assert {"app": (2.0, 0.4)} == seen


async def test_notes_add_up_and_never_override_what_the_client_learned() -> None:
    """
    A family the client already learned keeps its own fit over the note's, and the note
    keeps the families a later run did not see.
    """
    store = MemoryJournal()
    first = Durations()
    first.load(_learned(a=(1.0, 0.3), b=(2.0, 0.3)))
    await _run(store, first)
    second = Durations()
    second.load(_learned(b=(3.0, 0.5), c=(4.0, 0.5)))
    await _run(store, second)
    noted = Durations()
    noted.load(json.loads(store.get_note("durations:api") or "{}"))
    # "a" came from the note; "b" stays the client's own, not the note's (2.0, 0.3).
    assert {"a": (1.0, 0.3), "b": (3.0, 0.5), "c": (4.0, 0.5)} == _fits(second)
    assert _fits(second) == _fits(noted)


@pytest.mark.parametrize(
    "note", ["not json", '{"v": 2, "families": {}}', '{"v": 1, "families": {"x": {}}}']
)
async def test_a_note_that_cannot_be_read_is_ignored(
    note: str, caplog: pytest.LogCaptureFixture
) -> None:
    """
    A journal note of learned durations that cannot be read is ignored with a warning;
    the batch runs, and its end notes what it learned.
    """
    store = MemoryJournal()
    store.put_note("durations:api", note)
    durations = Durations()
    durations.load(_learned(a=(1.0, 0.3)))
    ended: list[str] = []
    with caplog.at_level(logging.WARNING, logger="a1art_async"):
        await _run(store, durations, [0.0], watch=lambda outcome: ended.append(outcome.key))
    assert ["job-0"] == ended
    assert ["the journal's note of learned durations is ignored"] == [
        r.getMessage().split(":")[0] for r in caplog.records
    ]
    assert {"a"} == set(json.loads(store.get_note("durations:api") or "{}")["families"])


async def test_a_long_batch_notes_what_it_learned_while_it_runs() -> None:
    """
    A batch still running after a minute has already noted what was learned (a run
    killed before its end keeps it).
    """
    store = MemoryJournal()
    durations = Durations()
    durations.load(_learned(a=(1.0, 0.3)))
    during: list[str | None] = []
    await _run(
        store,
        durations,
        [10.0, 70.0, 80.0],
        watch=lambda outcome: during.append(store.get_note("durations:api")),
    )
    assert [None, None] == during[:2]
    assert {"a"} == set(json.loads(during[2] or "{}")["families"])


async def test_the_a1art_client_keeps_its_learning_with_its_batch(
    client: AsyncClient, emulator: Any
) -> None:
    """
    ``client.batch(journal=...)`` keeps what the a1.art client learned under its name,
    and another client's batch on that journal starts from it.
    """
    store = MemoryJournal()
    async with client:
        client.durations.load(_learned(app=(2.5, 0.4)))
        async with client.batch(journal=store):
            pass
    assert "app" in json.loads(store.get_note("durations:a1art") or "{}")["families"]
    other = AsyncClient(api_key="another-key-0123456789", transport=emulator.transport())
    async with other, other.batch(journal=store):
        assert {"app": (2.5, 0.4)} == _fits(other.durations)
