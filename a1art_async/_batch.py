"""
Batches: many generations with bounded concurrency, a journal, a credit budget, and
results saved as they finish.

::

    async with client.batch(concurrency=8, journal="run.sqlite", download_to="out/") as batch:
        for row in rows:
            batch.add(app_id, image=row.image, prompt=row.prompt, key=row.id)
        async for outcome in batch:      # completion order; each job exactly once
            ...

``concurrency`` bounds the jobs being checked, uploaded and submitted at once; waiting
for submitted tasks goes through the client's polling scheduler and takes no slot.
Every step that spends or could spend credits is written to the journal first (see
``_journal.py``), so re-running the same batch with the same journal skips what is done,
polls what was submitted, and never pays for a job twice.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, Unpack

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._download import download, safe_stem
from ._events import Event, EventKind, Listener, Listeners
from ._exceptions import (
    A1ArtError,
    DownloadError,
    GenerationOutcomeUnknown,
    RateLimitError,
    ResultExpiredError,
    ServerError,
    TaskFailedError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
)
from ._generation import GenerateArgs, GenerateOptions, submit_checked, upload_all
from ._journal import JobRecord, JobState, Journal, JournalStore, MemoryJournal, SQLiteJournal
from ._limiter import Priority, request_priority
from ._logging import logger
from ._models import App, Language, Size, Task, Upload
from ._retry import spend_guard

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._handles import TaskHandle


class BudgetExceededError(A1ArtError):
    """
    A job was not submitted because it could take the batch over its credit budget.
    """


@attrs.frozen
class BatchOutcome:
    """
    How one batch job ended.

    Attributes:
        key: The job's key.
        state: ``DONE``, ``FAILED`` or ``UNKNOWN`` (a generate may have been charged
            without an answer; it was not resent).
        task_id: The taskId, once submitted.
        task: The finished task, when it completed in this run.
        files: Saved result files, or the result URLs when nothing is downloaded.
        error: What ended a failed or unknown job.
        cost: The most the job can have been charged (the estimate's ``high``, by the
            documented rules), which the budget reserved for it.
        from_journal: The job had ended in an earlier run; nothing was sent for it now.
    """

    key: str
    state: JobState
    task_id: str | None = None
    task: Task | None = None
    files: tuple[str, ...] = ()
    error: BaseException | None = None
    cost: int = 0
    from_journal: bool = False

    @property
    def ok(self) -> bool:
        """
        Whether the job is done.
        """
        return self.state is JobState.DONE


@attrs.frozen
class BatchSummary:
    """
    Counts for a batch run: ``skipped`` jobs had ended in an earlier run.

    ``credits_spent`` is the most this run's submissions can have been charged (what
    the budget reserved for them), ``credits_low`` the least: they differ only for apps
    whose charge the docs leave open (see :class:`~a1art_async.CostEstimate`).
    """

    done: int
    failed: int
    unknown: int
    skipped: int
    credits_spent: int
    wall_time: float
    credits_low: int = 0


@attrs.frozen
class _Job:
    key: str
    app: App | str
    args: GenerateArgs


def derive_key(app_id: str, args: GenerateArgs) -> str:
    """
    A stable key for a job from what it asks for (image paths and URLs by name, bytes by
    content).

    Raises:
        ValidationError: An image given as a file object; pass ``key=`` for those.
    """

    def describe(value: Any) -> Any:
        if isinstance(value, Upload):
            return ["upload", value.path, value.image_url]
        if isinstance(value, bytes | bytearray | memoryview):
            return ["sha256", hashlib.sha256(bytes(value)).hexdigest()]
        if isinstance(value, str | os.PathLike):
            return os.fspath(value)
        if isinstance(value, Size):
            return value.value
        if isinstance(value, Mapping):
            return {str(k): describe(v) for k, v in sorted(value.items())}
        if isinstance(value, Sequence):
            return [describe(v) for v in value]
        if isinstance(value, io.IOBase) or hasattr(value, "read"):
            raise ValidationError("key", "jobs with file-object images need an explicit key=")
        return value

    payload = {
        "app": app_id,
        **{k: describe(v) for k, v in attrs.asdict(args, recurse=False).items()},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class Batch:
    """
    A batch of generations; create it with :meth:`AsyncClient.batch`.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        concurrency: int = 8,
        journal: str | os.PathLike[str] | JournalStore | None = None,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        language: str | Language | None = None,
        on_event: Listener | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError("concurrency", f"must be a positive integer, got {concurrency!r}")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or budget < 0
        ):
            raise ValidationError("budget", f"must be a non-negative integer, got {budget!r}")
        if journal is None:
            store: JournalStore = MemoryJournal()
        elif isinstance(journal, str | os.PathLike):
            store = SQLiteJournal(journal)
        else:
            store = journal
        self._client = client
        self._concurrency = concurrency
        self._journal = Journal(store)
        self._download_to = None if download_to is None else Path(download_to)
        self._budget = budget
        self._resubmit_unknown = resubmit_unknown
        self._language = language
        self._listeners = Listeners()
        if on_event is not None:
            self._listeners.add(on_event)
        # The jobs' tasks, so that the client's events about them carry the job's key.
        self._keys_of: dict[str, str] = {}
        self._stop_listening: Callable[[], None] | None = None
        self._keys: set[str] = set()
        self._unfinished = 0
        self._committed = 0
        self._counts = {
            "done": 0,
            "failed": 0,
            "unknown": 0,
            "skipped": 0,
            "spent": 0,
            "spent_low": 0,
        }
        self._started = 0.0
        self._group: TaskGroup | None = None
        self._jobs_send: MemoryObjectSendStream[_Job]
        self._jobs_receive: MemoryObjectReceiveStream[_Job]
        self._jobs_send, self._jobs_receive = anyio.create_memory_object_stream[_Job](math.inf)
        self._out_send: MemoryObjectSendStream[BatchOutcome]
        self._out_receive: MemoryObjectReceiveStream[BatchOutcome]
        self._out_send, self._out_receive = anyio.create_memory_object_stream[BatchOutcome](
            math.inf
        )

    # Lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._journal.open()
        except BaseException:
            # Cancelled (or the journal unreadable) before the batch began: __aexit__
            # will not run, so nothing may be left open.
            for stream in (self._jobs_send, self._jobs_receive, self._out_send):
                stream.close()
            self._out_receive.close()
            with anyio.CancelScope(shield=True):
                await self._journal.close()
            raise
        # Credits recorded by earlier runs count against the budget too.
        self._committed = sum(
            record.cost
            for record in self._journal.records().values()
            if record.state is not JobState.PENDING
            and (record.task_id or record.state is not JobState.FAILED)
        )
        self._started = time.monotonic()
        self._stop_listening = self._client._listeners.add(self._relay)
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        # A batch is bulk work: a web request or a single wait on the same client goes
        # first at the rate limiter (the workers' tasks, and theirs, inherit this).
        with request_priority(Priority.BULK):
            for _ in range(self._concurrency):
                group.start_soon(self._worker)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        self._jobs_send.close()
        if exc is not None:
            # Leaving early: stop here; the journal says where every job stands.
            self._group.cancel_scope.cancel()
        try:
            return await self._group.__aexit__(exc_type, exc, tb)
        finally:
            if self._stop_listening is not None:
                self._stop_listening()
            self._out_send.close()
            self._jobs_receive.close()
            self._out_receive.close()
            with anyio.CancelScope(shield=True):
                await self._journal.close()

    # Adding and iterating ------------------------------------------------------------

    def add(
        self, app: App | str, *, key: str | None = None, **options: Unpack[GenerateOptions]
    ) -> str:
        """
        Queue one generation; images are read only when the job's turn comes.

        Args:
            app: The app, or its id.
            key: The job's key in the journal; derived from the arguments if left out.
            **options: As for :meth:`AsyncClient.generate` (see :class:`GenerateOptions`).

        Returns:
            The job's key.

        Raises:
            ValidationError: A key used twice in this batch.
        """
        if self._group is None:
            raise RuntimeError("add jobs inside `async with client.batch(...) as batch:`")
        args = GenerateArgs(**options)
        app_id = app.id if isinstance(app, App) else app
        job_key = key if key is not None else derive_key(app_id, args)
        if not isinstance(job_key, str) or not job_key:
            raise ValidationError("key", f"must be a non-empty string, got {job_key!r}")
        if job_key in self._keys:
            raise ValidationError("key", f"job key {job_key!r} was added twice")
        self._keys.add(job_key)
        self._unfinished += 1
        self._jobs_send.send_nowait(_Job(job_key, app, args))
        return job_key

    async def __aiter__(self) -> AsyncIterator[BatchOutcome]:
        while self._unfinished > 0:
            outcome = await self._out_receive.receive()
            self._unfinished -= 1
            yield outcome

    @property
    def summary(self) -> BatchSummary:
        """
        What has ended so far, the credits spent in this run, and the wall time.
        """
        return BatchSummary(
            done=self._counts["done"],
            failed=self._counts["failed"],
            unknown=self._counts["unknown"],
            skipped=self._counts["skipped"],
            credits_spent=self._counts["spent"],
            wall_time=time.monotonic() - self._started,
            credits_low=self._counts["spent_low"],
        )

    # One job -------------------------------------------------------------------------

    def listening(self, listener: Listener) -> AbstractContextManager[None]:
        """
        Call *listener* with every :class:`Event` of this batch while the block runs
        (as ``on_event=`` does for the whole batch).

        A batch's events carry the job's ``key``: ``SUBMITTED`` when a job's task was
        created (or picked up from the journal), ``QUEUED`` and ``RUNNING`` as its polls
        see them, ``RETRYING`` when a request fails and will be tried again (without a
        key when it was not a poll: the API may be unreachable), and one final
        ``DONE``, ``FAILED`` or ``UNKNOWN`` per job, with the error, as the job's
        :class:`BatchOutcome` is yielded.
        """
        return self._listeners.listening(listener)

    def _relay(self, event: Event) -> None:
        """
        The client's events that concern this batch, relabelled with the job's key.
        """
        if not self._listeners or event.kind.is_final:
            return  # finals are the jobs' outcomes, emitted with them
        if event.task_id is None:
            if event.kind is EventKind.RETRYING:
                self._listeners.emit(event)
            return
        key = self._keys_of.get(event.task_id)
        if key is not None:
            self._listeners.emit(attrs.evolve(event, key=key))

    def _submitted(self, key: str, task_id: str) -> None:
        self._keys_of[task_id] = key
        if self._listeners:
            self._listeners.emit(Event(EventKind.SUBMITTED, task_id, key=key))

    def _emit(self, outcome: BatchOutcome) -> None:
        if outcome.from_journal and outcome.state is not JobState.UNKNOWN:
            self._counts["skipped"] += 1
        else:
            self._counts[outcome.state.value if outcome.state.is_final else "failed"] += 1
        if outcome.task_id is not None:
            self._keys_of.pop(outcome.task_id, None)
        if self._listeners:
            kind = _FINAL_EVENT.get(outcome.state, EventKind.FAILED)
            self._listeners.emit(
                Event(
                    kind, outcome.task_id, task=outcome.task, error=outcome.error, key=outcome.key
                )
            )
        self._out_send.send_nowait(outcome)

    async def _record(self, key: str, state: JobState, **fields: Any) -> JobRecord:
        record = JobRecord(key=key, state=state, **fields)
        await self._journal.write(record)
        return record

    async def _worker(self) -> None:
        async for job in self._jobs_receive:
            try:
                await self._run(job)
            except Exception as error:  # a bug must not lose the job: report it
                logger.exception("batch job %s failed unexpectedly", job.key)
                self._emit(BatchOutcome(job.key, JobState.FAILED, error=error))

    async def _run(self, job: _Job) -> None:
        record = self._journal.get(job.key)
        if record is not None and record.state in (JobState.DONE, JobState.FAILED):
            self._emit(
                BatchOutcome(
                    job.key,
                    record.state,
                    task_id=record.task_id,
                    files=record.files,
                    error=A1ArtError(record.error) if record.error else None,
                    cost=record.cost,
                    from_journal=True,
                )
            )
            return
        if record is not None and record.state is JobState.SUBMITTED and record.task_id:
            handle = self._client.tasks.track(record.task_id)
            self._submitted(job.key, handle.task_id)
            assert self._group is not None
            self._group.start_soon(self._finish, job, handle, record.cost)
            return
        unanswered = (JobState.SUBMITTING, JobState.UNKNOWN)
        if record is not None and record.state in unanswered and not self._resubmit_unknown:
            if record.state is JobState.SUBMITTING:
                record = await self._record(
                    job.key,
                    JobState.UNKNOWN,
                    cost=record.cost,
                    error="the process stopped after sending the generate request",
                )
            self._emit(
                BatchOutcome(
                    job.key,
                    JobState.UNKNOWN,
                    error=GenerationOutcomeUnknownFromJournal(record.error or ""),
                    cost=record.cost,
                    from_journal=True,
                )
            )
            return
        await self._submit(job)

    async def _submit(self, job: _Job) -> None:
        client = self._client
        try:
            app = (
                job.app
                if isinstance(job.app, App)
                else await client.app_cache.get(client, job.app, self._language)
            )
            checked = job.args.plan(app)
        except A1ArtError as error:  # nothing was sent that could spend credits
            await self._unpaid_failure(job, error)
            return
        estimate = checked.cost
        # The budget reserves the most the job can be charged (see CostEstimate).
        cost = estimate.high
        if self._budget is not None and self._committed + cost > self._budget:
            over = BudgetExceededError(
                f"job {job.key} costs {cost} credits; the budget of {self._budget} has "
                f"{self._budget - self._committed} left"
            )
            self._emit(BatchOutcome(job.key, JobState.FAILED, error=over))
            return
        self._committed += cost
        try:
            uploads = await upload_all(client, checked)
            marker = spend_guard.set(_JournalGuard(self, job.key, cost))
            try:
                handle = await submit_checked(
                    client, app, job.args, checked, uploads, self._language
                )
            finally:
                spend_guard.reset(marker)
        except GenerationOutcomeUnknown as error:
            self._counts["spent"] += cost
            self._counts["spent_low"] += estimate.low
            await self._record(job.key, JobState.UNKNOWN, cost=cost, error=_describe(error))
            self._emit(BatchOutcome(job.key, JobState.UNKNOWN, error=error, cost=cost))
            return
        except A1ArtError as error:
            # A failed upload, a definitive rejection, a redirect, or a request that never
            # left: nothing was charged (a charge that may have happened is the
            # GenerationOutcomeUnknown above).
            self._committed -= cost
            await self._unpaid_failure(job, error)
            return
        self._counts["spent"] += cost
        self._counts["spent_low"] += estimate.low
        await self._record(job.key, JobState.SUBMITTED, task_id=handle.task_id, cost=cost)
        self._submitted(job.key, handle.task_id)
        assert self._group is not None
        self._group.start_soon(self._finish, job, handle, cost)

    async def _unpaid_failure(self, job: _Job, error: A1ArtError) -> None:
        """
        End a job that failed before anything could be charged.  A failure that says
        nothing about the job (the API unreachable, rate limited or failing) leaves it
        pending in the journal, so running the batch again submits it; any other is final.
        """
        state = JobState.PENDING if isinstance(error, _TRANSIENT) else JobState.FAILED
        await self._record(job.key, state, error=_describe(error))
        self._emit(BatchOutcome(job.key, JobState.FAILED, error=error))

    async def _finish(self, job: _Job, handle: TaskHandle, cost: int) -> None:
        try:
            task = await handle.result()
        except TaskFailedError as error:
            await self._record(
                job.key, JobState.FAILED, task_id=handle.task_id, cost=cost, error=_describe(error)
            )
            self._emit(
                BatchOutcome(job.key, JobState.FAILED, handle.task_id, error=error, cost=cost)
            )
            return
        except A1ArtError as error:
            # Timed out, or a poll ended with an error: still submitted, a later run
            # polls it again.
            self._emit(
                BatchOutcome(job.key, JobState.FAILED, handle.task_id, error=error, cost=cost)
            )
            return
        files: tuple[str, ...] = task.images
        if self._download_to is not None:
            try:
                files = await self._save(job.key, task)
            except ResultExpiredError as error:
                await self._record(
                    job.key,
                    JobState.FAILED,
                    task_id=task.task_id,
                    cost=cost,
                    error=_describe(error),
                )
                self._emit(
                    BatchOutcome(
                        job.key, JobState.FAILED, task.task_id, task, error=error, cost=cost
                    )
                )
                return
            except DownloadError as error:
                self._emit(
                    BatchOutcome(
                        job.key, JobState.FAILED, task.task_id, task, error=error, cost=cost
                    )
                )
                return
        await self._record(job.key, JobState.DONE, task_id=task.task_id, files=files, cost=cost)
        self._emit(BatchOutcome(job.key, JobState.DONE, task.task_id, task, files, cost=cost))

    async def _save(self, key: str, task: Task) -> tuple[str, ...]:
        assert self._download_to is not None
        saved: list[str] = []
        for index, url in enumerate(task.images):
            path = await download(
                self._client.http,
                url,
                self._download_to,
                f"{safe_stem(key)}-{index}",
                retry=self._client.retry,
            )
            saved.append(str(path))
        return tuple(saved)


class _JournalGuard:
    """
    Journals a job as ``submitting`` right before its generate leaves, and back to
    ``pending`` when an attempt provably was not charged.
    """

    __slots__ = ("batch", "cost", "key")

    def __init__(self, batch: Batch, key: str, cost: int) -> None:
        self.batch = batch
        self.key = key
        self.cost = cost

    async def sending(self) -> None:
        await self.batch._record(self.key, JobState.SUBMITTING, cost=self.cost)

    async def unpaid(self) -> None:
        await self.batch._record(self.key, JobState.PENDING)


#: The event that announces a job's outcome.
_FINAL_EVENT: Final = {
    JobState.DONE: EventKind.DONE,
    JobState.FAILED: EventKind.FAILED,
    JobState.UNKNOWN: EventKind.UNKNOWN,
}

#: Failures that say nothing about a job itself: it stays pending for a later run.
_TRANSIENT: Final = (TransportError, RateLimitError, ServerError, UnexpectedResponseError)


class GenerationOutcomeUnknownFromJournal(A1ArtError):
    """
    An earlier run sent this job's generate request and stopped before recording the
    answer; it may have been charged, so it is not resent.
    """


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
