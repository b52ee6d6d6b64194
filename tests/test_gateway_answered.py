"""
The engine's batch, for jobs whose paid answer is the result itself (a synchronous model
of the gateway): the result's files are journaled ``answered`` before they are saved,
whether they are URLs or bytes that came inline, so a process that dies before saving
them loses nothing it paid for, and a later run saves them without a request.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from a1art_async._engine._batch import Batch, ResultFile
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._errors import TaskFailedError
from a1art_async._engine._events import Listeners
from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._journal import JobRecord, JobState, MemoryJournal
from a1art_async._engine._retry import RetryPolicy, SpendGuard
from a1art_async._engine._schedule import PollPolicy
from a1art_async._engine._scheduler import Scheduler
from a1art_async.testing import png_bytes

pytestmark = pytest.mark.anyio

PICTURE = png_bytes(3, 2)
SERVED = png_bytes(5, 4)
FILE_URL = "https://files.example/result/0.png"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


class _Poller:
    """
    The scheduler's seam for answers that are already the result: nothing to poll.
    """

    async def fetch(self, handle: JobHandle[Any]) -> Any:
        raise AssertionError("a synchronous answer is never polled")

    def status(self, result: Any) -> JobStatus:
        return JobStatus.SUCCEEDED

    def state(self, result: Any) -> object:
        return "answered"

    def failure(self, handle: JobHandle[Any], result: Any) -> Exception:
        return TaskFailedError(result, task_id=handle.task_id)


class _Answered:
    """
    A job whose paid request answers with its files.
    """

    def __init__(self, key: str, scheduler: Scheduler[Any], files: Sequence[ResultFile]):
        self.key = key
        self._scheduler = scheduler
        self._files = list(files)
        self.sent = 0

    async def check(self) -> CostEstimate:
        return CostEstimate.exactly(1)

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: SpendGuard) -> JobHandle[Any]:
        await guard.sending()
        self.sent += 1
        return JobHandle(self._scheduler, f"sync-{self.key}", result={"answer": self.key})

    def resume(self, record: JobRecord) -> JobHandle[Any]:
        raise AssertionError("an answered job is never polled")

    def files(self, result: Any) -> Sequence[ResultFile]:
        return self._files


class _Recording(MemoryJournal):
    """
    A journal that remembers every record it stored, in order.
    """

    def __init__(self, records: Sequence[JobRecord] = ()) -> None:
        super().__init__()
        self.puts: list[JobRecord] = []
        for record in records:
            MemoryJournal.put(self, record)

    def put(self, record: JobRecord) -> None:
        self.puts.append(record)
        super().put(record)


def _file_host(request: httpx.Request) -> httpx.Response:
    assert str(request.url) == FILE_URL
    assert "authorization" not in request.headers
    return httpx.Response(200, headers={"content-type": "image/png"}, content=SERVED)


async def _run(
    journal: _Recording,
    make: Any,
    *,
    download_to: Path | None,
) -> tuple[list[Any], list[_Answered]]:
    scheduler: Scheduler[Any] = Scheduler(_Poller(), PollPolicy())
    jobs: list[_Answered] = []
    outcomes: list[Any] = []
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(_file_host)) as http,
        anyio.create_task_group() as group,
    ):
        await group.start(scheduler.run)
        batch = Batch(
            http=http,
            retry=RetryPolicy(max_retries=0),
            listeners=Listeners(),
            journal=journal,
            download_to=download_to,
        )
        async with batch:
            for job in make(scheduler):
                jobs.append(job)
                batch.add_job(job)
            outcomes = [outcome async for outcome in _each(batch)]
        scheduler.stop()
    return outcomes, jobs


async def _each(batch: Batch) -> AsyncIterator[Any]:
    async for outcome in batch:
        yield outcome


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


async def test_inline_bytes_are_journaled_answered_before_they_are_saved(tmp_path: Path) -> None:
    """
    A result that came as bytes is journaled ``answered`` (as a data: URL) between the
    paid request and the saved file, as a URL result is.
    """
    journal = _Recording()
    files = [ResultFile(data=PICTURE, content_type="image/png"), ResultFile(url=FILE_URL)]
    outcomes, jobs = await _run(journal, lambda s: [_Answered("a", s, files)], download_to=tmp_path)
    assert [JobState.SUBMITTING, JobState.ANSWERED, JobState.DONE] == [
        record.state for record in journal.puts
    ]
    assert (_data_url(PICTURE), FILE_URL) == journal.puts[1].files
    saved = [Path(path) for path in journal.puts[2].files]
    assert [PICTURE, SERVED] == [path.read_bytes() for path in saved]
    assert [JobState.DONE] == [outcome.state for outcome in outcomes]
    assert 1 == jobs[0].sent


async def test_a_run_that_died_after_the_answer_saves_it_without_a_request(
    tmp_path: Path,
) -> None:
    """
    A job journaled ``answered`` is saved by the next run from the journal alone, bytes
    and URLs alike, and its paid request is not sent again.
    """
    answered = JobRecord(
        "a", JobState.ANSWERED, task_id="sync-a", files=(_data_url(PICTURE), FILE_URL), cost=1
    )
    journal = _Recording([answered])
    outcomes, jobs = await _run(journal, lambda s: [_Answered("a", s, [])], download_to=tmp_path)
    assert 0 == jobs[0].sent
    assert [JobState.DONE] == [outcome.state for outcome in outcomes]
    assert [PICTURE, SERVED] == [Path(path).read_bytes() for path in outcomes[0].files]
    assert "sync-a" == outcomes[0].task_id


async def test_without_downloads_inline_results_stay_in_the_journal(tmp_path: Path) -> None:
    """
    Without ``download_to`` a done job's files are its URLs, inline bytes as data: URLs,
    so that the journal still holds a result that was paid for.
    """
    journal = _Recording()
    files = [ResultFile(data=PICTURE, content_type="image/png")]
    outcomes, _ = await _run(journal, lambda s: [_Answered("a", s, files)], download_to=None)
    assert (_data_url(PICTURE),) == outcomes[0].files
    assert (JobState.DONE, (_data_url(PICTURE),)) == (
        journal.puts[-1].state,
        journal.puts[-1].files,
    )
