"""
Batches: many paid jobs with bounded concurrency, a journal, a credit budget, events, and
results saved as they finish, whatever the API.

A provider supplies each job as a :class:`Job`: how to check and price it without
spending, how to prepare it (uploads), how to submit it (the paid request, which carries
the engine's :class:`~._retry.SpendGuard`), how to pick up its task again from the
journal, and which files its finished record names.  The engine owns the rest: the
journal's states, the budget, concurrency, waiting (through the provider's scheduler, via
the handle), downloads and events.

Every step that spends or could spend credits is written to the journal first (see
``_journal.py``): ``submitting`` right before the paid request leaves, back to
``pending`` when an attempt provably was not charged, ``submitted`` with the task's id
and route once it is known (or ``answered`` with its result files when the answer was
the result itself).  Running the same batch again with the same journal skips what
ended, polls what was submitted, saves what was answered, and never pays twice.

With a journal shared by several processes (a :class:`SharedJournalStore`), every one
of these writes is a compare-and-set transition from the states the step may leave:
``pending -> submitting`` happens only if the job is still pending (or unknown, when
resubmitting), so at most one process anywhere sends a job's paid request; a job whose
transition another process won ends here as held elsewhere (counted as skipped), and
the credit budget is the store's, reserved with the move into ``submitting``.

A job may run *after* another job of the batch (an akool button press on an image that
an earlier row generates): it names that job's key in an ``after`` attribute and is held,
without taking a worker slot, until that job's outcome is out; then ``follow(outcome)``
is called and it runs like any other.  If that job does not end done, the held job ends
failed (:class:`PrerequisiteFailedError`) and stays pending in the journal.  When that
job is not in the batch, its journal record decides: done in an earlier run (or by
another process sharing the journal, which may run it in another shard), it is followed
as if it had ended here; still on its way in a shared journal, the held job ends
:class:`PrerequisitePendingError` and stays pending, for a later run.

A batch can be stopped without losing what was paid for (:meth:`Batch.stop`, the
command line's first Ctrl-C): nothing more is sent, and each paid request already on
its way is given its answer, which is journaled, before the batch lets go.  A
cancellation of the batch's scope stops everything at once instead: a paid request cut
off on its way stays ``submitting``, and the next run reports it as outcome unknown.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self, TypedDict

import anyio
import anyio.lowlevel
import attrs
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._cost import CostEstimate
from ._download import download, safe_stem, save_bytes
from ._errors import (
    A1ArtError,
    BudgetExceededError,
    DownloadError,
    OutcomeUnknown,
    ResultExpiredError,
    TaskFailedError,
    ValidationError,
)
from ._events import Event, EventKind, Listener, Listeners
from ._group import OwnedGroup
from ._handles import JobHandle
from ._journal import (
    JobRecord,
    JobState,
    Journal,
    JournalStore,
    MemoryJournal,
    SharedJournalStore,
    SQLiteJournal,
)
from ._learn import Durations
from ._limiter import Priority, request_priority
from ._logging import logger
from ._retry import RetryPolicy, SpendGuard

#: Seconds between notes of what was learned, while a batch runs.
NOTE_EVERY: Final = 60.0


@attrs.frozen
class ResultFile:
    """
    One file a finished job produced: a URL to download, or bytes that came inline.

    Attributes:
        url: Where to download it.
        data: Its bytes, when the answer carried them (base64 in a JSON body).
        content_type: Its type, when known (it names the saved file's extension).
    """

    url: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None

    def as_url(self) -> str:
        """
        Its URL; bytes that came inline as a base64 ``data:`` URL (RFC 2397), so that a
        journal can hold a result that was paid for until it is saved.
        """
        if self.url is not None:
            return self.url
        kind = self.content_type or "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(self.data or b'').decode('ascii')}"

    @classmethod
    def from_url(cls, url: str) -> ResultFile:
        """
        The file a journaled URL names: bytes again for a base64 ``data:`` URL.
        """
        head, comma, body = url.partition(",")
        if not (url.startswith("data:") and comma and head.endswith(";base64")):
            return cls(url=url)
        kind = head.removeprefix("data:").removesuffix(";base64") or None
        return cls(data=base64.b64decode(body), content_type=kind)


class Job(Protocol):
    """
    One paid job of a batch, as a provider supplies it.
    """

    @property
    def key(self) -> str:
        """
        The job's key in the journal.
        """
        ...

    async def check(self) -> CostEstimate:
        """
        Check the job as the API would (free requests only, such as app details) and
        price it.

        Raises:
            ValidationError: It would be refused; nothing was spent.
            APIError: A free request was refused (an unknown app, say).
        """
        ...

    async def prepare(self) -> None:
        """
        Free work the paid request needs (uploads).
        """
        ...

    async def submit(self, guard: SpendGuard) -> JobHandle[Any]:
        """
        Send the paid request, passing *guard* to the session's request; return its
        handle (done already when the answer was the result itself).

        Raises:
            OutcomeUnknown: It may have been charged; it was not resent.
        """
        ...

    def resume(self, record: JobRecord) -> JobHandle[Any]:
        """
        A handle for the task a journal record names (its id, route, hint and time).
        """
        ...

    def files(self, result: Any) -> Sequence[ResultFile]:
        """
        The files a finished record names, in order.
        """
        ...


class DependentJob(Job, Protocol):
    """
    A job that runs after another job of its batch (see the module's docstring); the
    batch recognises one by its ``after`` attribute.
    """

    @property
    def after(self) -> str:
        """
        The key of the job whose outcome this one needs.
        """
        ...

    def follow(self, outcome: BatchOutcome) -> None:
        """
        That job's outcome (done), before this job is checked.
        """
        ...


class BatchOptions(TypedDict, total=False):
    """
    How a batch runs; the keyword arguments of ``client.batch`` (every provider's).

    Keys:
        concurrency: Jobs checked, prepared and submitted at once (waiting takes no
            slot).
        journal: A SQLite file path, a ``postgresql://`` URL (with the ``postgres``
            extra: the batch is then shared by every worker on that database, see
            ``a1art_async.distributed``), or a store: every step recorded, so that
            running the same batch again resumes it without paying twice.
        batch: With a ``postgresql://`` journal: the batch's name in it.
        workers: With a ``postgresql://`` journal: shards this process works on at
            once besides enqueuing them (0: enqueue only, other processes run
            ``run_worker``).
        shard_size: With a ``postgresql://`` journal: jobs per shard, the unit
            workers take (1000).
        download_to: Save results here as they finish.
        budget: Never submit a job that could take the credits spent over this.
        resubmit_unknown: Submit again jobs whose earlier paid request may have been
            charged.
        on_event: Called with every :class:`Event` of the batch (each with its job's
            key).
    """

    concurrency: int
    journal: str | os.PathLike[str] | JournalStore | SharedJournalStore | None
    batch: str
    workers: int
    shard_size: int
    download_to: str | os.PathLike[str] | None
    budget: int | None
    resubmit_unknown: bool
    on_event: Listener | None


@attrs.frozen
class BatchOutcome:
    """
    How one batch job ended.

    Attributes:
        key: The job's key.
        state: ``DONE``, ``FAILED`` or ``UNKNOWN`` (a paid request may have been
            charged without an answer; it was not resent).
        task_id: The task's id, once submitted.
        task: The finished task's record, when it completed in this run.
        files: Saved result files, or the result URLs when nothing is downloaded
            (bytes that came inline as ``data:`` URLs).
        error: What ended a failed or unknown job.
        cost: The most the job can have been charged (its estimate's ``high``), which
            the budget reserved for it.
        from_journal: The job had ended in an earlier run; nothing was sent for it now.
    """

    key: str
    state: JobState
    task_id: str | None = None
    task: Any = None
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
    the budget reserved for them), ``credits_low`` the least: they differ only for jobs
    whose charge the docs leave open (see :class:`CostEstimate`).
    """

    done: int
    failed: int
    unknown: int
    skipped: int
    credits_spent: int
    wall_time: float
    credits_low: int = 0


class PrerequisiteFailedError(A1ArtError):
    """
    A job was not run because the job it runs after (``after``) did not end done, or
    was never added to the batch; it stays pending in the journal.
    """


class PrerequisitePendingError(PrerequisiteFailedError):
    """
    The job it runs after is not in this batch, and the shared journal says it has not
    ended yet (another process runs it): this job stays pending, and a later run of it
    may go ahead.
    """


class OutcomeUnknownFromJournal(OutcomeUnknown):
    """
    An earlier run sent this job's paid request and stopped before recording the
    answer; it may have been charged, so it is not resent.
    """

    def __init__(self, reason: str) -> None:
        A1ArtError.__init__(self, reason)
        self.request: Any = None
        self.cause: Any = None


class JobHeldElsewhere(A1ArtError):
    """
    Another process sharing the journal holds this job (it claimed it first, or ended
    it): this one sent nothing for it.
    """


class Batch:
    """
    Runs :class:`Job` s: a provider's client makes one with ``client.batch(...)``.

    Args:
        http: The connection pool for downloads (it never carries credentials).
        retry: Retries for downloads.
        listeners: The client's listeners, whose events about this batch's tasks the
            batch relays with the job's key.
        durations: What each client's scheduler learned of task durations, by a name
            for its API: kept as notes in the journal (when its store keeps notes) and
            read back by the next run, so that a resumed batch polls by what the last
            run learned from the start.
        **options: See :class:`BatchOptions`.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        retry: RetryPolicy,
        listeners: Listeners,
        durations: Mapping[str, Durations] | None = None,
        concurrency: int = 8,
        journal: str | os.PathLike[str] | JournalStore | SharedJournalStore | None = None,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        on_event: Listener | None = None,
        batch: str | None = None,
        workers: int | None = None,
        shard_size: int | None = None,
    ) -> None:
        if batch is not None or workers is not None or shard_size is not None:
            name = (
                "batch" if batch is not None else "workers" if workers is not None else "shard_size"
            )
            raise ValidationError(
                name, "applies to a postgresql:// journal only (a batch shared by workers)"
            )
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError("concurrency", f"must be a positive integer, got {concurrency!r}")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or budget < 0
        ):
            raise ValidationError("budget", f"must be a non-negative integer, got {budget!r}")
        self._http = http
        self._retry = retry
        self._client_listeners = listeners
        self._concurrency = concurrency
        self._journal = Journal(open_journal(journal))
        if budget is not None and self._journal.shared:
            raise ValidationError(
                "budget", "a shared journal keeps the batch's budget: set it there"
            )
        self._download_to = None if download_to is None else Path(download_to)
        self._budget = budget
        self._resubmit_unknown = resubmit_unknown
        self._listeners = Listeners()
        if on_event is not None:
            self._listeners.add(on_event)
        # The jobs' tasks, so that the client's events about them carry the job's key.
        self._keys_of: dict[str, str] = {}
        self._stop_listening: Callable[[], None] | None = None
        self._keys: set[str] = set()
        self._unfinished = 0
        # Jobs added and not yet ended; jobs held for another's outcome, by that key;
        # outcomes by key, for the jobs that run after them.
        self._open = 0
        # Jobs held until the job they run after ends, by that job's key.
        self._after_waiters: dict[str, list[anyio.Event]] = {}
        self._ended: dict[str, BatchOutcome] = {}
        # Set once the caller iterates: jobs are no longer only being added.
        self._iterating = False
        # Stopping (see stop()): the scopes it cancels, and the paid requests it lets
        # finish.
        self._stopping = False
        self._stoppables: set[anyio.CancelScope] = set()
        self._flights: set[_Flight] = set()
        self._durations = dict(durations or {})
        # When the learned durations were last noted (on the loop's clock), and whether
        # a note is being written.
        self._noted = 0.0
        self._noting = False
        self._committed = 0
        self._counts = dict.fromkeys(
            ("done", "failed", "unknown", "skipped", "spent", "spent_low"), 0
        )
        self._started = 0.0
        self._group = OwnedGroup()
        self._jobs_send: MemoryObjectSendStream[Job]
        self._jobs_receive: MemoryObjectReceiveStream[Job]
        self._jobs_send, self._jobs_receive = anyio.create_memory_object_stream[Job](math.inf)
        self._out_send: MemoryObjectSendStream[BatchOutcome]
        self._out_receive: MemoryObjectReceiveStream[BatchOutcome]
        self._out_send, self._out_receive = anyio.create_memory_object_stream[BatchOutcome](
            math.inf
        )

    # Lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._journal.open()
            await self._read_notes()
        except BaseException:
            # Cancelled (or the journal unreadable) before the batch began: __aexit__
            # will not run, so nothing may be left open.
            self._close_streams()
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
        self._noted = anyio.current_time()
        self._stop_listening = self._client_listeners.add(self._relay)
        group = await self._group.enter()
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
        self._jobs_send.close()
        if exc is not None:
            # Leaving early: stop here; the journal says where every job stands.
            self._group.group.cancel_scope.cancel()
        try:
            return await self._group.exit(exc_type, exc, tb)
        finally:
            if self._stop_listening is not None:
                self._stop_listening()
            self._close_streams()
            with anyio.CancelScope(shield=True):
                try:
                    await self._write_notes()
                finally:
                    await self._journal.close()

    def _close_streams(self) -> None:
        self._jobs_send.close()
        self._jobs_receive.close()
        self._out_send.close()
        self._out_receive.close()

    # Adding and iterating ------------------------------------------------------------

    @property
    def running(self) -> bool:
        """
        Whether the batch is open (inside its ``async with`` block).
        """
        return self._group.running

    def add_job(self, job: Job) -> str:
        """
        Queue one job; it is checked and submitted when a worker is free.

        Returns:
            The job's key.

        Raises:
            ValidationError: A key used twice in this batch.
            RuntimeError: Outside ``async with``.
        """
        if not self._group.running:
            raise RuntimeError("add jobs inside `async with client.batch(...) as batch:`")
        if self._stopping:
            raise RuntimeError("the batch was stopped: it takes no more jobs")
        key = job.key
        if not isinstance(key, str) or not key:
            raise ValidationError("key", f"must be a non-empty string, got {key!r}")
        if key in self._keys:
            raise ValidationError("key", f"job key {key!r} was added twice")
        self._keys.add(key)
        self._unfinished += 1
        self._open += 1
        after = getattr(job, "after", None)
        if after is None:
            self._jobs_send.send_nowait(job)
        else:
            # Its own sender: the workers run until every held job has been queued.
            self._group.group.start_soon(self._hold, job, after, self._jobs_send.clone())
        return key

    def prime(self, records: Iterable[JobRecord]) -> None:
        """
        Records the caller already read from a shared journal (a page of them), so
        that each job's turn needs no read of its own.
        """
        self._journal.remember(records)

    async def __aiter__(self) -> AsyncIterator[BatchOutcome]:
        self._iterating = True
        while self._unfinished > 0:
            self._release_orphans()
            try:
                outcome = await self._out_receive.receive()
            except anyio.EndOfStream:
                return  # stopped: the journal says where every other job stands
            self._unfinished -= 1
            yield outcome

    # Stopping ------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """
        Paid requests that have left and whose answer is not journaled yet.
        """
        return sum(1 for flight in self._flights if flight.sent)

    @property
    def stopping(self) -> bool:
        """
        Whether :meth:`stop` (or :meth:`abandon`) was called.
        """
        return self._stopping

    def stop(self) -> None:
        """
        Stop the batch without losing what was paid for.

        No job starts any more, and a job whose paid request has not left is not sent
        (it stays pending).  Each paid request already on its way is given its answer,
        which is journaled (its task submitted, or a synchronous result answered).
        Waits for tasks end (the tasks stay submitted).  Iterating the batch ends once
        every request in flight has been answered; outcomes that came before are still
        yielded.  Running the batch again with the same journal picks every job up,
        and pays for none twice.

        A synchronous generation can take minutes: :meth:`abandon` gives up waiting.
        """
        if self._stopping:
            return
        self._stopping = True
        for flight in self._flights:
            if flight.sent:
                flight.scope.shield = True  # the cancellations below pass it by
        for scope in self._stoppables:
            scope.cancel()
        self._close_if_stopped()

    def abandon(self) -> None:
        """
        Stop at once (as :meth:`stop`), also giving up the answers of paid requests on
        their way: those jobs stay ``submitting`` in the journal, and the next run
        reports them as outcome unknown (they may have been charged, so they are never
        sent again unless asked).
        """
        self.stop()
        for flight in self._flights:
            flight.scope.cancel()

    @contextlib.contextmanager
    def _stoppable(self) -> Iterator[None]:
        """
        A part of the batch's work that :meth:`stop` ends (cancelled at once when the
        batch is stopping already).
        """
        scope = anyio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._stoppables.add(scope)
        try:
            with scope:
                yield
        finally:
            self._stoppables.discard(scope)
            self._close_if_stopped()

    # Notes: what was learned, for the next run -----------------------------------------

    async def _read_notes(self) -> None:
        """
        Start each client's learning from what the journal's last run noted, for the
        families it has not learned itself.  A note that cannot be read is ignored: it
        only makes the first polls better.
        """
        for name, durations in self._durations.items():
            text = await self._journal.note(f"durations:{name}")
            if text is None:
                continue
            try:
                state = json.loads(text)
                families = {
                    family: entry
                    for family, entry in state["families"].items()
                    if family not in durations
                }
                durations.load({"v": state["v"], "families": families})
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                logger.warning("the journal's note of learned durations is ignored: %s", error)

    async def _write_notes(self) -> None:
        """
        Note what each client has learned of task durations in the journal, added to
        what was noted before (for families this run did not see).
        """
        self._noting = True
        try:
            for name, durations in self._durations.items():
                learned = durations.export()
                if not learned["families"]:
                    continue
                key = f"durations:{name}"
                # The families noted before, if the note reads as a whole (a note that
                # does not is replaced).
                before = Durations(learn_after=durations.learn_after, window=durations.window)
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    before.load(json.loads(await self._journal.note(key) or '{"v": 1}'))
                families = before.export()["families"] | learned["families"]
                await self._journal.write_note(key, json.dumps({"v": 1, "families": families}))
        finally:
            self._noted = anyio.current_time()
            self._noting = False

    def _note_now_and_then(self) -> None:
        """
        While a long batch runs, note what was learned once a minute (a run killed
        before its end keeps what it learned until then).
        """
        if self._noting or not self._durations or anyio.current_time() - self._noted < NOTE_EVERY:
            return
        self._noting = True
        self._group.group.start_soon(self._write_notes)

    def _close_if_stopped(self) -> None:
        # Once stopping and nothing runs any more, iterating ends after the outcomes
        # already out.
        if self._stopping and not self._stoppables:
            self._out_send.close()

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

    # Events --------------------------------------------------------------------------

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

    def _submitted(self, key: str, task_id: str, cost: int, *, from_journal: bool) -> None:
        self._keys_of[task_id] = key
        if self._listeners:
            event = Event(
                EventKind.SUBMITTED, task_id, key=key, cost=cost, from_journal=from_journal
            )
            self._listeners.emit(event)

    def _emit(self, outcome: BatchOutcome) -> None:
        self._open -= 1
        self._ended[outcome.key] = outcome
        for event in self._after_waiters.pop(outcome.key, ()):
            event.set()
        if outcome.from_journal and outcome.state is not JobState.UNKNOWN:
            self._counts["skipped"] += 1
        else:
            self._counts[outcome.state.value if outcome.state.is_final else "failed"] += 1
        if outcome.task_id is not None:
            self._keys_of.pop(outcome.task_id, None)
        self._journal.forget(outcome.key)
        self._note_now_and_then()
        if self._listeners:
            kind = _FINAL_EVENT.get(outcome.state, EventKind.FAILED)
            self._listeners.emit(
                Event(
                    kind,
                    outcome.task_id,
                    task=outcome.task,
                    error=outcome.error,
                    key=outcome.key,
                    cost=outcome.cost,
                    from_journal=outcome.from_journal,
                )
            )
        with contextlib.suppress(anyio.ClosedResourceError):
            # Stopped, and the iteration is over: the journal holds the outcome.
            self._out_send.send_nowait(outcome)

    # One job -------------------------------------------------------------------------

    # Jobs that run after another --------------------------------------------------------

    async def _hold(self, job: Job, after: str, sender: MemoryObjectSendStream[Job]) -> None:
        """
        Queue *job* once the job it runs after has ended done (at once when its own
        journal record shows it went further than pending in an earlier run).  A job it
        runs after that is not in this batch is judged by its journal record: done in an
        earlier run (or by another process sharing the journal), it is followed as if it
        had ended here.
        """
        with self._stoppable(), sender:
            record = self._journal.get(job.key)
            if record is None or record.state is JobState.PENDING:
                outcome, recorded = await self._prerequisite(after)
                if outcome is None:
                    event = anyio.Event()
                    self._after_waiters.setdefault(after, []).append(event)
                    if self._iterating:
                        # The caller may already wait for the next outcome, with every
                        # other job held too: nothing else would ever wake it.
                        self._release_orphans()
                    await event.wait()
                    outcome, recorded = await self._prerequisite(after)
                if outcome is None or not outcome.ok:
                    # Not this batch's job, and on its way in a shared journal.
                    elsewhere = outcome is None and recorded and self._journal.shared
                    if outcome is not None:
                        why = f"ended {outcome.state}"
                    elif after in self._keys:
                        why = "never ended (the jobs wait for each other)"
                    elif elsewhere:
                        why = "has not ended yet (another worker runs it)"
                    elif recorded:
                        why = "is not in this batch and has not ended"
                    else:
                        why = "was never added"
                    kind = PrerequisitePendingError if elsewhere else PrerequisiteFailedError
                    error = kind(f"job {job.key} runs after {after}, which {why}")
                    moved = await self._move(
                        job.key, JobState.PENDING, _UNSENT, error=_describe(error)
                    )
                    if moved is None:
                        self._held(job.key)
                    else:
                        self._emit(BatchOutcome(job.key, JobState.FAILED, error=error))
                    return
                job.follow(outcome)  # type: ignore[attr-defined]  # a DependentJob
            sender.send_nowait(job)

    async def _prerequisite(self, key: str) -> tuple[BatchOutcome | None, bool]:
        """
        How the job *key* ended, if it has: in this batch, or (when it is not one of
        this batch's jobs) as the journal records it; and whether the journal has a
        record of it at all.
        """
        outcome = self._ended.get(key)
        if outcome is not None or key in self._keys:
            return outcome, False
        record = await self._journal.lookup(key)
        self._journal.forget(key)  # not this batch's job: no need to keep it
        if record is None or not record.state.is_final:
            return None, record is not None
        ended = BatchOutcome(
            key,
            record.state,
            task_id=record.task_id,
            files=record.files,
            error=A1ArtError(record.error) if record.error else None,
            cost=record.cost,
            from_journal=True,
        )
        return ended, True

    def _release_orphans(self) -> None:
        """
        When every unfinished job is held (for a key no job of the batch has, or in a
        cycle), none can ever run: end them (the caller iterates; nothing else is coming).
        """
        waiting = sum(len(events) for events in self._after_waiters.values())
        if not waiting or waiting != self._open:
            return
        held, self._after_waiters = self._after_waiters, {}
        for events in held.values():
            for event in events:
                event.set()

    async def _move(
        self, key: str, state: JobState, expect: Collection[JobState | None], **fields: Any
    ) -> JobRecord | None:
        """
        Record a step the job may take only from the *expect* states; ``None`` when a
        shared journal says another process moved it first (a local journal always
        records it).
        """
        record = JobRecord(key=key, state=state, **fields)
        return record if await self._journal.write(record, expect) else None

    def _held(self, key: str) -> None:
        self._emit(
            BatchOutcome(
                key,
                JobState.FAILED,
                error=JobHeldElsewhere(f"job {key} is held by another worker"),
                from_journal=True,
            )
        )

    async def _worker(self) -> None:
        with self._stoppable():
            async for job in self._jobs_receive:
                try:
                    await self._run(job)
                except Exception as error:  # a bug must not lose the job: report it
                    logger.exception("batch job %s failed unexpectedly", job.key)
                    self._emit(BatchOutcome(job.key, JobState.FAILED, error=error))

    async def _run(self, job: Job) -> None:
        record = await self._journal.lookup(job.key)
        state = None if record is None else record.state
        if record is not None and state in (JobState.DONE, JobState.FAILED):
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
        if record is not None and state is JobState.SUBMITTED and record.task_id:
            handle = job.resume(record)
            self._submitted(job.key, handle.task_id, record.cost, from_journal=True)
            self._group.group.start_soon(self._finish, job, handle, record.cost)
            return
        if record is not None and state is JobState.ANSWERED:
            files = [ResultFile.from_url(url) for url in record.files]
            await self._save_and_end(job, record.task_id, None, files, record.cost)
            return
        unanswered = (JobState.SUBMITTING, JobState.UNKNOWN)
        if record is not None and state in unanswered and not self._resubmit_unknown:
            if state is JobState.SUBMITTING:
                moved = await self._move(
                    job.key,
                    JobState.UNKNOWN,
                    (JobState.SUBMITTING,),
                    cost=record.cost,
                    error="the process stopped after sending the paid request",
                )
                if moved is None:
                    self._held(job.key)
                    return
                record = moved
            self._emit(
                BatchOutcome(
                    job.key,
                    JobState.UNKNOWN,
                    error=OutcomeUnknownFromJournal(record.error or ""),
                    cost=record.cost,
                    from_journal=True,
                )
            )
            return
        await self._submit(job)

    async def _submit(self, job: Job) -> None:
        try:
            estimate = await job.check()
        except A1ArtError as error:  # nothing was sent that could spend credits
            await self._unpaid_failure(job, error)
            return
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
        flight = _Flight()
        self._flights.add(flight)
        sent: _Sent | None = None
        try:
            with flight.scope:
                sent = await self._send(job, flight, estimate.low, cost)
        finally:
            self._flights.discard(flight)
        if sent is None:
            # Ended already, or abandoned on its way (the journal says submitting).
            return
        handle, answer = sent
        if answer is None:
            self._group.group.start_soon(self._finish, job, handle, cost)
        else:
            result, files = answer
            await self._save_and_end(job, handle.task_id, result, files, cost)

    async def _send(self, job: Job, flight: _Flight, low: int, cost: int) -> _Sent | None:
        """
        Prepare and submit *job*, and journal what its paid request brought: a task, or
        the result itself.  Once that request has left, :meth:`stop` lets this finish
        (see ``_Flight``).

        Returns:
            The handle, with the result and its files when the answer was the result;
            ``None`` when the job has ended here.
        """
        try:
            await job.prepare()
            handle = await job.submit(_JournalGuard(self, job.key, cost, flight))
        except OutcomeUnknown as error:
            self._counts["spent"] += cost
            self._counts["spent_low"] += low
            await self._move(job.key, JobState.UNKNOWN, _SENT, cost=cost, error=_describe(error))
            self._emit(BatchOutcome(job.key, JobState.UNKNOWN, error=error, cost=cost))
            return None
        except JobHeldElsewhere:
            # Another process claimed it between our read and our claim: it pays.
            self._committed -= cost
            self._held(job.key)
            return None
        except BudgetExceededError as error:
            # The shared budget refused the claim: the job stays pending, nothing sent.
            self._committed -= cost
            self._emit(BatchOutcome(job.key, JobState.FAILED, error=error))
            return None
        except A1ArtError as error:
            # A failed upload, a definitive rejection, a redirect, or a request that never
            # left: nothing was charged (a charge that may have happened is the
            # OutcomeUnknown above).
            self._committed -= cost
            await self._unpaid_failure(job, error)
            return None
        self._counts["spent"] += cost
        self._counts["spent_low"] += low
        if handle.done and handle.latest is not None:
            # The answer was the result itself: record its files before saving them.
            try:
                result = await handle.wait()
            except TaskFailedError as error:
                await self._end_failed(job, handle.task_id, error, cost)
                return None
            files = list(job.files(result))
            # Inline bytes go in as data: URLs: a run that dies before saving them has
            # paid for them, and the next one saves them from here.
            urls = tuple(file.as_url() for file in files)
            await self._move(
                job.key, JobState.ANSWERED, _SENT, task_id=handle.task_id, files=urls, cost=cost
            )
            return handle, (result, files)
        # From `unknown` too: another process may have given up on our claim while the
        # answer was on its way; the task id is the better truth.
        await self._move(
            job.key,
            JobState.SUBMITTED,
            _SENT,
            task_id=handle.task_id,
            cost=cost,
            route=handle.route,
            hint=handle.hint,
            submitted_at=handle.submitted_wall,
        )
        self._submitted(job.key, handle.task_id, cost, from_journal=False)
        return handle, None

    async def _unpaid_failure(self, job: Job, error: A1ArtError) -> None:
        """
        End a job that failed before anything could be charged: in this run it failed,
        but the journal keeps it pending (with the error), so that running the batch
        again tries it again: after the API is back, or after the row was fixed (a
        refused argument, an unknown app) under the same key.  Nothing was paid for it,
        so nothing is lost or paid twice by trying again.
        """
        if await self._move(job.key, JobState.PENDING, _UNSENT, error=_describe(error)) is None:
            self._held(job.key)
            return
        self._emit(BatchOutcome(job.key, JobState.FAILED, error=error))

    async def _end_failed(
        self, job: Job, task_id: str | None, error: A1ArtError, cost: int, result: Any = None
    ) -> None:
        failed = await self._move(
            job.key, JobState.FAILED, _ENDING, task_id=task_id, cost=cost, error=_describe(error)
        )
        if failed is None:
            self._held(job.key)
            return
        self._emit(BatchOutcome(job.key, JobState.FAILED, task_id, result, error=error, cost=cost))

    async def _finish(self, job: Job, handle: JobHandle[Any], cost: int) -> None:
        with self._stoppable():
            # Started as the batch is being stopped (its worker was finishing a journal
            # write): the scheduler may be stopping too; the journal has the task.
            await anyio.lowlevel.checkpoint_if_cancelled()
            try:
                result = await handle.wait()
            except TaskFailedError as error:
                await self._end_failed(job, handle.task_id, error, cost)
                return
            except A1ArtError as error:
                # Timed out, or a poll ended with an error: still submitted, a later run
                # polls it again.
                self._emit(
                    BatchOutcome(job.key, JobState.FAILED, handle.task_id, error=error, cost=cost)
                )
                return
            files = list(job.files(result))
            await self._save_and_end(job, handle.task_id, result, files, cost)

    async def _save_and_end(
        self,
        job: Job,
        task_id: str | None,
        result: Any,
        files: Sequence[ResultFile],
        cost: int,
    ) -> None:
        saved: tuple[str, ...] = tuple(file.as_url() for file in files)
        if self._download_to is not None:
            try:
                saved = await self._save(job.key, files)
            except ResultExpiredError as error:
                await self._end_failed(job, task_id, error, cost, result)
                return
            except DownloadError as error:
                # The files may still be there: a later run tries again.
                self._emit(
                    BatchOutcome(job.key, JobState.FAILED, task_id, result, error=error, cost=cost)
                )
                return
        done = await self._move(
            job.key, JobState.DONE, _ENDING, task_id=task_id, files=saved, cost=cost
        )
        if done is None:
            self._held(job.key)
            return
        self._emit(BatchOutcome(job.key, JobState.DONE, task_id, result, saved, cost=cost))

    async def _save(self, key: str, files: Sequence[ResultFile]) -> tuple[str, ...]:
        assert self._download_to is not None
        saved: list[str] = []
        for index, file in enumerate(files):
            stem = f"{safe_stem(key)}-{index}"
            if file.data is not None:
                path = await save_bytes(file.data, self._download_to, stem, file.content_type)
            else:
                assert file.url is not None
                path = await download(
                    self._http, file.url, self._download_to, stem, retry=self._retry
                )
            saved.append(str(path))
        return tuple(saved)


#: What a paid request brought: its handle, and the result with its files when the
#: answer was the result itself.
_Sent = tuple[JobHandle[Any], tuple[Any, list[ResultFile]] | None]


class _Flight:
    """
    One job's paid request, from its submission until what it brought is journaled.

    Its scope is cancelled only by :meth:`Batch.abandon`.  Once the request has left
    (``sent``), :meth:`Batch.stop` shields the scope, so the stop's cancellation of the
    batch's work passes it by until the answer is journaled; an attempt that provably
    was not charged (a rate refusal before a retry) takes the shield off again.
    """

    __slots__ = ("scope", "sent")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.sent = False


class _JournalGuard:
    """
    Journals a job as ``submitting`` right before its paid request leaves, and back to
    ``pending`` when an attempt provably was not charged; tells the job's flight which.
    """

    __slots__ = ("batch", "cost", "flight", "key")

    def __init__(self, batch: Batch, key: str, cost: int, flight: _Flight) -> None:
        self.batch = batch
        self.key = key
        self.cost = cost
        self.flight = flight

    async def sending(self) -> None:
        """
        Raises:
            JobHeldElsewhere: Another process sharing the journal claimed the job.
            BudgetExceededError: A shared journal's budget refused the credits.
        """
        batch = self.batch
        expect = _CLAIMABLE_AGAIN if batch._resubmit_unknown else _CLAIMABLE
        # The claim is shielded: a cancellation while it is on its way (a shared
        # journal's round trip) cannot leave it unknown whether the claim was stored.
        with anyio.CancelScope(shield=True):
            claimed = await batch._move(self.key, JobState.SUBMITTING, expect, cost=self.cost)
        if claimed is None:
            raise JobHeldElsewhere(f"job {self.key} is held by another worker")
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            # Cancelled before the paid request left: nothing was sent, so the job is
            # pending again rather than taken for one whose outcome is unknown.
            with anyio.CancelScope(shield=True):
                await self.unpaid()
            raise
        self.flight.sent = True

    async def unpaid(self) -> None:
        self.flight.sent = False
        self.flight.scope.shield = False  # a stop may cancel the wait to send it again
        await self.batch._move(self.key, JobState.PENDING, (JobState.SUBMITTING,))


#: The states a job may be claimed from (``None``: no record yet), and with
#: ``resubmit_unknown``.
_CLAIMABLE: Final = (None, JobState.PENDING)
_CLAIMABLE_AGAIN: Final = (None, JobState.PENDING, JobState.UNKNOWN, JobState.SUBMITTING)
#: The states the answer to our paid request is recorded from (a shared store also
#: checks that the claim is ours).
_SENT: Final = (JobState.SUBMITTING, JobState.UNKNOWN)
#: The states a job that failed before anything was sent leaves.
_UNSENT: Final = (None, JobState.PENDING, JobState.UNKNOWN)
#: The states a job ends from.
_ENDING: Final = (JobState.SUBMITTING, JobState.SUBMITTED, JobState.ANSWERED, JobState.UNKNOWN)

#: The event that announces a job's outcome.
_FINAL_EVENT: Final = {
    JobState.DONE: EventKind.DONE,
    JobState.FAILED: EventKind.FAILED,
    JobState.UNKNOWN: EventKind.UNKNOWN,
}


def open_journal(
    journal: str | os.PathLike[str] | JournalStore | SharedJournalStore | None,
) -> JournalStore | SharedJournalStore:
    """
    The store a ``journal=`` argument names: in memory, a SQLite file, or as given.

    Raises:
        ValidationError: A ``postgresql://`` URL: the provider's ``client.batch`` opens
            those (``a1art_async.distributed``), the engine does not.
    """
    if journal is None:
        return MemoryJournal()
    if isinstance(journal, str) and journal.startswith(POSTGRES_SCHEMES):
        raise ValidationError(
            "journal", "a postgresql:// journal is opened by client.batch (the postgres extra)"
        )
    if isinstance(journal, str | os.PathLike):
        return SQLiteJournal(journal)
    return journal


#: URL prefixes that name a PostgreSQL journal.
POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
